import { BATCH_MAX_ITEMS, HttpUrlSchema } from "@kex/contract";
import type { ApiClient } from "../api-client";
import { ApiRequestError, CliError, ExitCode, UsageError, type ExitCodeValue } from "../errors";
import { assertReadable, detectFormat, formatProblem, readRows, validateRow, type RowProblem } from "../input";
import type { Output } from "../output";
import { reportOutcome, waitForBatches } from "../progress";

export interface SubmitOptions {
  file: string;
  /** `jsonl` or `csv`; default from the file's extension. */
  format?: string;
  /** Items per `POST /v1/batches`, 1..10,000. */
  batchSize: number;
  /** The batch-level default callback for rows that name none. */
  callbackUrl?: string;
  /** Skip rows before this line (to resume after a failed submission). Default 1. */
  fromLine: number;
  wait: boolean;
  intervalMs: number;
  progress: boolean;
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
  /** Input line of each item, to turn the API's `items.3.prompt` back into a line. */
  lines: number[];
}

/**
 * Reads the file twice, streaming: first validates every row with the API's schema (all or nothing: one bad
 * row and nothing is sent, exit 2), then sends the rows in batches of `batchSize`.
 */
export async function submit(client: ApiClient, options: SubmitOptions, output: Output): Promise<ExitCodeValue> {
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1 || options.batchSize > BATCH_MAX_ITEMS) {
    throw new UsageError(`--batch-size must be an integer from 1 to ${BATCH_MAX_ITEMS}`);
  }
  if (options.callbackUrl !== undefined && !HttpUrlSchema.safeParse(options.callbackUrl).success) {
    throw new UsageError("--callback-url must be an absolute http(s) URL");
  }
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
  const created: Array<{ id: string; total: number; firstLine: number; lastLine: number }> = [];
  const head = options.callbackUrl === undefined ? "" : `"callback_url":${JSON.stringify(options.callbackUrl)},`;
  let pending: PendingBatch | undefined;
  const send = async (batch: PendingBatch) => {
    try {
      const body = `{${head}"items":[${batch.parts.join(",")}]}`;
      const answer = await client.createBatch(body);
      created.push({ id: answer.id, total: answer.total, firstLine: batch.firstLine, lastLine: batch.lastLine });
      output.out(`batch ${answer.id}: ${answer.total} jobs (lines ${batch.firstLine}-${batch.lastLine})`);
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
    if (pending && (pending.parts.length >= options.batchSize || pending.bytes + bytes > MAX_REQUEST_BYTES)) {
      await send(pending);
      pending = undefined;
    }
    pending ??= { parts: [], bytes: 64, firstLine: row.line, lastLine: row.line, lines: [] };
    pending.parts.push(json);
    pending.lines.push(row.line);
    pending.bytes += bytes;
    pending.lastLine = row.line;
  }
  if (pending) await send(pending);
  const jobs = created.reduce((n, b) => n + b.total, 0);
  output.err(`submitted ${jobs} jobs in ${created.length} batch${created.length === 1 ? "" : "es"}`);

  if (!options.wait) return ExitCode.ok;
  const ids = created.map((b) => b.id);
  const outcome = await waitForBatches(client, ids, { intervalMs: options.intervalMs, progress: options.progress }, output);
  return reportOutcome(client, outcome, output);
}

/** Says what was created before the failure and how to send the rest. */
function partialFailure(
  err: unknown,
  batch: PendingBatch,
  created: ReadonlyArray<{ id: string; firstLine: number; lastLine: number }>,
): unknown {
  if (!(err instanceof ApiRequestError)) return err;
  const lines = [`batch of lines ${batch.firstLine}-${batch.lastLine} not created: ${err.message}`];
  for (const d of err.details) {
    const m = /^items\.(\d+)(?:\.(.*))?$/.exec(d.field);
    const line = m ? batch.lines[Number(m[1])] : undefined;
    lines.push(line !== undefined ? `  line ${line}: ${m?.[2] || "(row)"}: ${d.message}` : `  ${d.field}: ${d.message}`);
  }
  if (created.length > 0) {
    lines.push(`already created: ${created.map((b) => `${b.id} (lines ${b.firstLine}-${b.lastLine})`).join(", ")}`);
    lines.push(`to send the rest, run the same command again with --from-line ${batch.firstLine}`);
  } else {
    lines.push("nothing was created");
  }
  return new ApiRequestError(lines.join("\n"), err.status, err.code, err.details);
}
