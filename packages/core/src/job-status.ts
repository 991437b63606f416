export const JOB_STATUSES = [
  "queued",
  "submitting",
  "submitted",
  "processing",
  "succeeded",
  "failed",
  "canceled",
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const TERMINAL_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "canceled"];

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export const UPSTREAM_TASK_STATUSES = ["submitted", "processing", "succeed", "failed"] as const;
export type UpstreamTaskStatus = (typeof UPSTREAM_TASK_STATUSES)[number];

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
