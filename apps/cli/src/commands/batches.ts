import type { BatchResource } from "@kex/contract";
import type { ApiClient } from "../api-client";
import { ExitCode, type ExitCodeValue } from "../errors";
import { finishedCount, shorten, table } from "../format";
import type { Output } from "../output";
import { SOURCE_LINES_KEY } from "../source-lines";

export interface BatchesOptions {
  limit: number;
  cursor?: string;
  json: boolean;
}

/** The tenant's batches, newest first, one page; the next page's command is printed when there is one. */
export async function listBatches(client: ApiClient, options: BatchesOptions, output: Output): Promise<ExitCodeValue> {
  const page = await client.listBatches({ limit: options.limit, cursor: options.cursor });
  if (options.json) {
    output.out(JSON.stringify(page, null, 2));
    return ExitCode.ok;
  }
  if (page.data.length === 0) {
    output.out("no batches");
    return ExitCode.ok;
  }
  output.out(
    table(
      ["ID", "NAME", "CREATED", "DONE", "SUCCEEDED", "FAILED", "CANCELED", "LINES", "METADATA"],
      page.data.map((b) => [
        b.id,
        shorten(b.name ?? "-", 40),
        b.created_at,
        `${finishedCount(b.counts)}/${b.total}`,
        String(b.counts.succeeded),
        String(b.counts.failed),
        String(b.counts.canceled),
        sourceLines(b),
        otherMetadata(b),
      ]),
    ),
  );
  if (page.next_cursor) output.err(`more: kex batches --limit ${options.limit} --cursor ${page.next_cursor}`);
  return ExitCode.ok;
}

function metadataObject(batch: BatchResource): Record<string, unknown> | undefined {
  const m = batch.metadata;
  return m && typeof m === "object" && !Array.isArray(m) ? (m as Record<string, unknown>) : undefined;
}

/** The input lines `kex submit` recorded, shortened (`2-10001`). */
function sourceLines(batch: BatchResource): string {
  const lines = metadataObject(batch)?.[SOURCE_LINES_KEY];
  return typeof lines === "string" ? shorten(lines, 24) : "-";
}

function otherMetadata(batch: BatchResource): string {
  const meta = metadataObject(batch);
  if (!meta) return batch.metadata == null ? "-" : shorten(JSON.stringify(batch.metadata), 60);
  const { [SOURCE_LINES_KEY]: _lines, ...rest } = meta;
  return Object.keys(rest).length === 0 ? "-" : shorten(JSON.stringify(rest), 60);
}
