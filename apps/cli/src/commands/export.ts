import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { LIST_MAX_LIMIT, type BatchResource, type JobResource } from "@kex/contract";
import { stringify } from "csv-stringify";
import { withRetry, type ApiClient } from "../api-client";
import { ExitCode, UsageError, type ExitCodeValue } from "../errors";
import type { Output } from "../output";
import { lineOf } from "../source-lines";

export const EXPORT_FORMATS = ["csv", "jsonl"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/**
 * One exported row: the input as it was submitted (its line, then the input file's own columns), then
 * what became of it. `metadata` is the object in JSONL and one `metadata.<key>` column per key in CSV,
 * as `kex submit` reads them.
 */
export const INPUT_COLUMNS = ["line", "video_id", "prompt", "negative_prompt", "cfg_scale", "callback_url"] as const;
export const RESULT_COLUMNS = [
  "batch_id",
  "id",
  "status",
  "result_video_id",
  "result_url",
  "result_duration",
  "error_code",
  "error_message",
  "created_at",
  "finished_at",
] as const;
export type ExportRow = Record<(typeof INPUT_COLUMNS)[number] | (typeof RESULT_COLUMNS)[number], string | number | null> & {
  metadata: unknown;
};

export function toExportRow(batch: BatchResource, job: JobResource): ExportRow {
  return {
    line: lineOf(batch, job.batch_index),
    video_id: job.video_id,
    prompt: job.prompt,
    negative_prompt: job.negative_prompt,
    cfg_scale: job.cfg_scale,
    callback_url: job.callback_url,
    metadata: job.metadata ?? null,
    batch_id: batch.id,
    id: job.id,
    status: job.status,
    result_video_id: job.result?.video_id ?? null,
    result_url: job.result?.url ?? null,
    result_duration: job.result?.duration ?? null,
    error_code: job.error?.code ?? null,
    error_message: job.error?.message ?? null,
    created_at: job.created_at,
    finished_at: job.finished_at,
  };
}

/** Every job of the batch in the order it was submitted (its `batch_index`), read 200 at a time. */
async function batchJobsInInputOrder(client: ApiClient, batchId: string): Promise<JobResource[]> {
  const jobs: JobResource[] = [];
  let cursor: string | undefined;
  do {
    const page = await withRetry(() => client.listJobs({ batchId, limit: LIST_MAX_LIMIT, cursor }));
    jobs.push(...page.data);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  // Jobs stored before positions were recorded have none: they keep the API's order, after the others.
  const order = new Map(jobs.map((job, i) => [job.id, i]));
  return jobs.sort((a, b) => (a.batch_index ?? Infinity) - (b.batch_index ?? Infinity) || order.get(a.id)! - order.get(b.id)!);
}

export interface ExportOptions {
  /** Default: from the extension of `out`, else JSONL. */
  format?: string;
  /** A file, written under a temporary name and renamed when complete; default stdout. */
  out?: string;
}

/** `--format`, or the extension of `--out`, or JSONL. */
export function exportFormat(options: ExportOptions): ExportFormat {
  const out = options.out?.toLowerCase();
  const format = options.format ?? (out?.endsWith(".csv") ? "csv" : "jsonl");
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format must be one of ${EXPORT_FORMATS.join(", ")}`);
  return format as ExportFormat;
}

/** A metadata value in a CSV cell: strings as they are (as `kex submit` reads them), anything else as JSON. */
const cell = (value: unknown): string | null =>
  value === undefined || value === null ? null : typeof value === "string" ? value : JSON.stringify(value);

/** The rows of a CSV export: metadata spread over `metadata.<key>` columns, every key seen, in order of appearance. */
function csvRecords(rows: ExportRow[]): { columns: string[]; records: Array<Record<string, string | number | null>> } {
  const keys = new Set<string>();
  for (const row of rows) {
    if (row.metadata && typeof row.metadata === "object" && !Array.isArray(row.metadata))
      for (const k of Object.keys(row.metadata)) keys.add(k);
  }
  const metaColumns = [...keys].map((k) => `metadata.${k}`);
  const records = rows.map(({ metadata, ...rest }) => {
    const record: Record<string, string | number | null> = { ...rest };
    const meta = (metadata ?? {}) as Record<string, unknown>;
    for (const k of keys) record[`metadata.${k}`] = cell(meta[k]);
    return record;
  });
  return { columns: [...INPUT_COLUMNS, ...metaColumns, ...RESULT_COLUMNS], records };
}

/**
 * Writes every job of the batches, in the order they were submitted, as JSONL or CSV: the input columns
 * (with the input line when `kex submit` sent the batch) and the result columns, so the file joins back
 * to the input row for row. The jobs are held in memory to be put in order (10,000 a batch at most).
 */
export async function exportBatches(client: ApiClient, batchIds: string[], options: ExportOptions, output: Output): Promise<ExitCodeValue> {
  const format = exportFormat(options);
  const rows: ExportRow[] = [];
  const summary: string[] = [];
  for (const id of batchIds) {
    const batch = await withRetry(() => client.getBatch(id)); // a clear 404 for an unknown batch, not an empty file
    const jobs = await batchJobsInInputOrder(client, batch.id);
    for (const job of jobs) rows.push(toExportRow(batch, job));
    summary.push(`${jobs.length} jobs of batch ${batch.id}`);
    if (jobs.length !== batch.total) output.err(`warning: batch ${batch.id} has ${batch.total} jobs but ${jobs.length} were listed`);
  }
  // Several batches of one file: in file order.
  if (rows.every((r) => r.line !== null)) rows.sort((a, b) => (a.line as number) - (b.line as number));

  let source: Readable;
  let encode: NodeJS.ReadWriteStream | ((source: AsyncIterable<ExportRow>) => AsyncGenerator<string>);
  if (format === "csv") {
    const { columns, records } = csvRecords(rows);
    source = Readable.from(records);
    encode = stringify({ header: true, columns, quoted_match: /^\s|\s$/ });
  } else {
    source = Readable.from(rows);
    encode = async function* (input: AsyncIterable<ExportRow>) {
      for await (const row of input) yield `${JSON.stringify(row)}\n`;
    };
  }

  if (!options.out) {
    await pipeline(source, encode, output.stdout as Writable, { end: false });
  } else {
    const partial = `${options.out}.partial`;
    try {
      await pipeline(source, encode, createWriteStream(partial));
      await rename(partial, options.out);
    } catch (err) {
      await rm(partial, { force: true });
      throw err;
    }
  }
  output.err(`exported ${summary.join(", ")}${options.out ? ` to ${options.out}` : ""}`);
  return ExitCode.ok;
}
