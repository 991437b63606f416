import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { LIST_MAX_LIMIT, type JobResource } from "@kex/contract";
import { stringify } from "csv-stringify";
import { withRetry, type ApiClient } from "../api-client";
import { ExitCode, UsageError, type ExitCodeValue } from "../errors";
import type { Output } from "../output";

export const EXPORT_FORMATS = ["csv", "jsonl"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const EXPORT_COLUMNS = [
  "id",
  "status",
  "video_id",
  "prompt",
  "result_video_id",
  "result_url",
  "result_duration",
  "error_code",
  "error_message",
  "created_at",
  "finished_at",
] as const;
export type ExportRow = Record<(typeof EXPORT_COLUMNS)[number], string | number | null>;

export function toExportRow(job: JobResource): ExportRow {
  return {
    id: job.id,
    status: job.status,
    video_id: job.video_id,
    prompt: job.prompt,
    result_video_id: job.result?.video_id ?? null,
    result_url: job.result?.url ?? null,
    result_duration: job.result?.duration ?? null,
    error_code: job.error?.code ?? null,
    error_message: job.error?.message ?? null,
    created_at: job.created_at,
    finished_at: job.finished_at,
  };
}

/** Every job of the batch, newest first, one page of 200 at a time. */
async function* batchJobs(client: ApiClient, batchId: string): AsyncGenerator<JobResource> {
  let cursor: string | undefined;
  do {
    const page = await withRetry(() => client.listJobs({ batchId, limit: LIST_MAX_LIMIT, cursor }));
    yield* page.data;
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
}

export interface ExportOptions {
  format?: string;
  /** A file, written under a temporary name and renamed when complete; default stdout. */
  out?: string;
}

/** `--format`, or the extension of `--out`. */
export function exportFormat(options: ExportOptions): ExportFormat {
  const format =
    options.format ??
    (options.out?.toLowerCase().endsWith(".csv") ? "csv" : options.out?.toLowerCase().endsWith(".jsonl") ? "jsonl" : undefined);
  if (format === undefined) throw new UsageError("pass --format csv|jsonl");
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format must be one of ${EXPORT_FORMATS.join(", ")}`);
  return format as ExportFormat;
}

export async function exportBatch(client: ApiClient, batchId: string, options: ExportOptions, output: Output): Promise<ExitCodeValue> {
  const format = exportFormat(options);
  const batch = await client.getBatch(batchId); // a clear 404 for an unknown batch, not an empty file
  let count = 0;
  const rows = Readable.from(
    (async function* () {
      for await (const job of batchJobs(client, batch.id)) {
        count++;
        yield toExportRow(job);
      }
    })(),
  );
  const encode =
    format === "csv"
      ? stringify({ header: true, columns: [...EXPORT_COLUMNS], quoted_match: /^\s|\s$/ })
      : async function* (source: AsyncIterable<ExportRow>) {
          for await (const row of source) yield `${JSON.stringify(row)}\n`;
        };

  if (!options.out) {
    await pipeline(rows, encode, output.stdout as Writable, { end: false });
  } else {
    const partial = `${options.out}.partial`;
    try {
      await pipeline(rows, encode, createWriteStream(partial));
      await rename(partial, options.out);
    } catch (err) {
      await rm(partial, { force: true });
      throw err;
    }
  }
  const where = options.out ? ` to ${options.out}` : "";
  output.err(`exported ${count} jobs of batch ${batch.id}${where}`);
  if (count !== batch.total) output.err(`warning: the batch has ${batch.total} jobs but ${count} were listed`);
  return ExitCode.ok;
}
