import type { BatchResource } from "@kex/contract";

/**
 * Which input line each job of a batch came from. `kex submit` stores the lines of a batch's items in the
 * batch's `metadata` under this key, as ranges (`2-31,33,35-40`); item i of the batch (its job's
 * `batch_index`) came from the i-th line listed. Exports and failure reports read it back.
 */
export const SOURCE_LINES_KEY = "source_lines";
/** The longest ranges text stored; a batch is cut before its lines would need more (only files with many gaps). */
export const SOURCE_LINES_MAX_CHARS = 4000;

/** `[2,3,4,7]` → `2-4,7` (lines in increasing order). */
export function encodeLines(lines: readonly number[]): string {
  const parts: string[] = [];
  let start: number | undefined;
  let prev: number | undefined;
  const close = () => {
    if (start !== undefined) parts.push(start === prev ? String(start) : `${start}-${prev}`);
  };
  for (const line of lines) {
    if (prev !== undefined && line === prev + 1) {
      prev = line;
      continue;
    }
    close();
    start = prev = line;
  }
  close();
  return parts.join(",");
}

/** `2-4,7` → `[2,3,4,7]`; undefined when the text is not such a list. */
export function decodeLines(text: unknown): number[] | undefined {
  if (typeof text !== "string" || !/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(text)) return undefined;
  const lines: number[] = [];
  for (const part of text.split(",")) {
    const [a, b] = part.split("-").map(Number) as [number, number | undefined];
    const end = b ?? a;
    if (end < a || end - a > 1_000_000) return undefined;
    for (let n = a; n <= end; n++) lines.push(n);
  }
  return lines;
}

/** The input line of the job at `batchIndex` of `batch`, when the batch was submitted by `kex submit`. */
export function lineOf(batch: BatchResource, batchIndex: number | null): number | null {
  if (batchIndex === null) return null;
  const lines = batchLines(batch);
  return lines?.[batchIndex] ?? null;
}

const cache = new WeakMap<BatchResource, number[] | null>();
function batchLines(batch: BatchResource): number[] | null {
  let lines = cache.get(batch);
  if (lines === undefined) {
    const meta = batch.metadata as Record<string, unknown> | null;
    const decoded = meta && typeof meta === "object" ? decodeLines(meta[SOURCE_LINES_KEY]) : undefined;
    lines = decoded && decoded.length === batch.total ? decoded : null;
    cache.set(batch, lines);
  }
  return lines;
}
