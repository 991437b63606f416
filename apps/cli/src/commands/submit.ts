import { createHash, randomUUID } from "node:crypto";
import path from "node:path";
import { BATCH_MAX_ITEMS, BATCH_NAME_MAX_CHARS, HttpUrlSchema } from "@kex/contract";
import { withRetry, type ApiClient } from "../api-client";
import { ApiRequestError, CliError, ExitCode, UsageError, type ExitCodeValue } from "../errors";
import { assertReadable, detectFormat, formatProblem, readRows, validateRow, type RowProblem } from "../input";
import type { Output } from "../output";
import { reportOutcome, waitForBatches } from "../progress";
import { encodeLines, SOURCE_LINES_KEY, SOURCE_LINES_MAX_CHARS } from "../source-lines";

export interface SubmitOptions {
  file: string;
  /** `jsonl` or `csv`; default from the file's extension. */
  format?: string;
  /** Items per `POST /v1/batches`, 1..10,000. */
  batchSize: number;
  /** The batch-level default callback for rows that name none. */
  callbackUrl?: string;
  /** The batches' `name`; default the file's name. */
  name?: string;
  /** Skip rows before this line. Default 1. */
  fromLine: number;
  /** Create new batches even when this file's rows were already submitted (a fresh Idempotency-Key). */
  resubmit: boolean;
  wait: boolean;
  intervalMs: number;
  progress: boolean;
  /** With --wait: how long the API may stay unreachable before giving up. */
  giveUpAfterMs: number;
}

/** Invalid rows printed before the rest is only counted. */
const PROBLEMS_SHOWN = 100;
/**
 * A batch request is cut before its JSON passes this size, whatever --batch-size says, to stay under the
 * API's default BODY_LIMIT (64 MB): 10,000 rows with long prompts and metadata could pass it.
 */
export const MAX_REQUEST_BYTES = 32 * 1024 * 1024;

interface PendingBatch {
  parts: string[];
  bytes: number;
  firstLine: number;
  lastLine: number;
  /** Input line of each item, to turn the API's `items.3.prompt` back into a line, and stored with the batch. */
  lines: number[];
  /** Length of `encodeLines(lines)`, kept as lines are added. */
  linesChars: number;
}

export interface CreatedBatch {
  id: string;
  total: number;
  firstLine: number;
  lastLine: number;
  /** Created by an earlier run of the same file (the API answered from the Idempotency-Key). */
  replayed: boolean;
}

/** How much longer `encodeLines` gets when `line` is appended to `lines`. */
function addedChars(lines: readonly number[], line: number): number {
  const prev = lines[lines.length - 1];
  if (prev === undefined) return String(line).length;
  if (line !== prev + 1) return 1 + String(line).length;
  const beforePrev = lines[lines.length - 2];
  // `…,5` becomes `…,5-6`; `…,4-5` becomes `…,4-6`.
  return beforePrev === prev - 1 ? String(line).length - String(prev).length : 1 + String(line).length;
}

/**
 * The Idempotency-Key of one batch: derived from the rows it sends (as validated) and their lines, so
 * running the same file again finds the batches it created instead of creating them twice, while a file
 * whose rows changed gets new ones. `salt` (--resubmit) makes a fresh key.
 */
export function batchIdempotencyKey(batch: Pick<PendingBatch, "parts" | "firstLine" | "lastLine">, salt = ""): string {
  const hash = createHash("sha256").update(`${batch.firstLine}-${batch.lastLine}\n${salt}\n`);
  for (const part of batch.parts) hash.update(part).update("\n");
  return `kex-submit-${hash.digest("hex")}`;
}

/**
 * Reads the file twice, streaming: first validates every row with the API's schema (all or nothing: one bad
 * row and nothing is sent, exit 2), then sends the rows in batches of `batchSize`, each with an
 * Idempotency-Key derived from its rows, retried until the API answers.
 */
export async function submit(client: ApiClient, options: SubmitOptions, output: Output): Promise<ExitCodeValue> {
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1 || options.batchSize > BATCH_MAX_ITEMS) {
    throw new UsageError(`--batch-size must be an integer from 1 to ${BATCH_MAX_ITEMS}`);
  }
  if (options.callbackUrl !== undefined && !HttpUrlSchema.safeParse(options.callbackUrl).success) {
    throw new UsageError("--callback-url must be an absolute http(s) URL");
  }
  const name = options.name ?? path.basename(options.file);
  if (name.length < 1 || name.length > BATCH_NAME_MAX_CHARS)
    throw new UsageError(`--name must have 1 to ${BATCH_NAME_MAX_CHARS} characters`);
  const format = detectFormat(options.file, options.format);
  await assertReadable(options.file);

  // Pass 1: validate everything, keep nothing but the problems.
  let rows = 0;
  let badRows = 0;
  const problems: RowProblem[] = [];
  for await (const row of readRows(options.file, format)) {
    if (row.line < options.fromLine) continue;
    rows++;
    const result = validateRow(row);
    if (result.problems) {
      badRows++;
      for (const p of result.problems) if (problems.length < PROBLEMS_SHOWN) problems.push(p);
    }
  }
  if (badRows > 0) {
    for (const p of problems) output.err(formatProblem(p));
    if (badRows > problems.length) output.err("…");
    output.err(`${badRows} of ${rows} rows are invalid; nothing was submitted`);
    return ExitCode.usage;
  }
  if (rows === 0) throw new UsageError(`${options.file} has no rows to submit`);

  // Pass 2: send.
  const created: CreatedBatch[] = [];
  const salt = options.resubmit ? randomUUID() : "";
  const head = [
    `"name":${JSON.stringify(name)}`,
    ...(options.callbackUrl === undefined ? [] : [`"callback_url":${JSON.stringify(options.callbackUrl)}`]),
  ].join(",");
  let pending: PendingBatch | undefined;
  const send = async (batch: PendingBatch) => {
    const metadata = JSON.stringify({ [SOURCE_LINES_KEY]: encodeLines(batch.lines) });
    const body = `{${head},"metadata":${metadata},"items":[${batch.parts.join(",")}]}`;
    const key = batchIdempotencyKey(batch, salt);
    let warned = false;
    try {
      const answer = await withRetry(() => client.createBatch(body, key), {
        attempts: 8,
        baseDelayMs: 1000,
        onRetry: (err, attempt, delayMs) => {
          if (!warned || attempt % 3 === 0)
            output.err(
              `${err.unreachable ? "API unreachable" : "API busy"}, retrying in ${Math.round(delayMs / 1000)} s… (${err.message})`,
            );
          warned = true;
        },
      });
      const { id, total } = answer.body;
      created.push({ id, total, firstLine: batch.firstLine, lastLine: batch.lastLine, replayed: answer.replayed });
      output.out(
        `batch ${id}: ${total} jobs (lines ${batch.firstLine}-${batch.lastLine})${answer.replayed ? ", already created by an earlier run: not created again" : ""}`,
      );
    } catch (err) {
      throw partialFailure(err, batch, created);
    }
  };
  for await (const row of readRows(options.file, format)) {
    if (row.line < options.fromLine) continue;
    const result = validateRow(row);
    if (result.problems)
      throw new CliError(`${formatProblem(result.problems[0]!)} (the file changed while it was being submitted?)`, ExitCode.usage);
    const json = JSON.stringify(result.item);
    const bytes = Buffer.byteLength(json) + 1;
    if (
      pending &&
      (pending.parts.length >= options.batchSize ||
        pending.bytes + bytes > MAX_REQUEST_BYTES ||
        pending.linesChars + addedChars(pending.lines, row.line) > SOURCE_LINES_MAX_CHARS)
    ) {
      await send(pending);
      pending = undefined;
    }
    pending ??= { parts: [], bytes: 64 + 2 * SOURCE_LINES_MAX_CHARS, firstLine: row.line, lastLine: row.line, lines: [], linesChars: 0 };
    pending.linesChars += addedChars(pending.lines, row.line);
    pending.parts.push(json);
    pending.lines.push(row.line);
    pending.bytes += bytes;
    pending.lastLine = row.line;
  }
  if (pending) await send(pending);

  const jobs = created.reduce((n, b) => n + b.total, 0);
  const ids = created.map((b) => b.id).join(" ");
  const replayed = created.filter((b) => b.replayed);
  if (replayed.length === created.length) {
    output.err(
      `this file was already submitted: its ${plural(created.length, "batch", "batches")} (${jobs} jobs) exist from an earlier run and none was created again (--resubmit creates new ones)`,
    );
  } else {
    const fresh = created.length - replayed.length;
    output.err(
      `submitted ${created.reduce((n, b) => n + (b.replayed ? 0 : b.total), 0)} jobs in ${plural(fresh, "new batch", "new batches")}` +
        (replayed.length > 0 ? `; ${plural(replayed.length, "batch", "batches")} already existed from an earlier run` : ""),
    );
  }

  if (!options.wait) {
    output.err(`follow them: kex watch ${ids}`);
    output.err(`results: kex export ${ids}`);
    return ExitCode.ok;
  }
  const outcome = await waitForBatches(
    client,
    created.map((b) => b.id),
    { intervalMs: options.intervalMs, progress: options.progress, giveUpAfterMs: options.giveUpAfterMs },
    output,
  );
  return reportOutcome(client, outcome, output);
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** Says what was created before the failure and how to send the rest. */
function partialFailure(err: unknown, batch: PendingBatch, created: readonly CreatedBatch[]): unknown {
  if (!(err instanceof ApiRequestError)) return err;
  const lines = [`batch of lines ${batch.firstLine}-${batch.lastLine} not created: ${err.message}`];
  if (err.code === "idempotency_conflict") {
    lines.push(
      "  these rows were already submitted (within the API's idempotency window) with other options (--name, --callback-url or --batch-size);",
      "  nothing was created for them. Run again with the same options, or pass --resubmit to create new jobs anyway.",
    );
  }
  for (const d of err.details) {
    const m = /^items\.(\d+)(?:\.(.*))?$/.exec(d.field);
    const line = m ? batch.lines[Number(m[1])] : undefined;
    lines.push(line !== undefined ? `  line ${line}: ${m?.[2] || "(row)"}: ${d.message}` : `  ${d.field}: ${d.message}`);
  }
  if (created.length > 0) {
    lines.push(`already created: ${created.map((b) => `${b.id} (lines ${b.firstLine}-${b.lastLine})`).join(", ")}`);
  } else {
    lines.push("nothing was created");
  }
  if (err.retryable) {
    lines.push(
      "run the same command again to send the rest: batches already created are found again (same Idempotency-Key), not created twice",
    );
  }
  return new ApiRequestError(lines.join("\n"), err.status, err.code, err.details);
}
