import type { ValidationDetail } from "@kex/contract";

/** Exit codes, the CLI's contract with scripts. */
export const ExitCode = {
  ok: 0,
  /** With --wait / watch: at least one job ended failed or canceled. */
  jobsFailed: 1,
  /** Bad flags or arguments, unreadable file, invalid rows: nothing was sent. */
  usage: 2,
  /** The API answered with an error, or could not be reached. */
  api: 3,
  /** A bug in the CLI. */
  internal: 4,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error whose message is meant for the user, with the exit code it ends the process with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
  ) {
    super(message);
  }
}

export class UsageError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.usage);
  }
}

/** The API answered 4xx/5xx (`status` set) or was not reached at all (`status` undefined). */
export class ApiRequestError extends CliError {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly code: string | undefined,
    readonly details: ValidationDetail[] = [],
  ) {
    super(message, ExitCode.api);
  }

  /**
   * Worth asking again (a poll, or a create with an Idempotency-Key): network trouble, 5xx, 429, and a 409
   * while the first request with the same key is still being processed.
   */
  get retryable(): boolean {
    return this.status === undefined || this.status >= 500 || this.status === 429 || this.code === "idempotency_in_progress";
  }

  /** The API was not reached at all (refused, reset, DNS, timeout). */
  get unreachable(): boolean {
    return this.status === undefined;
  }
}
