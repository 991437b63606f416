// Imports nothing at run time: the api's parse worker thread encodes a big batch's items here, and
// loading this package's index (the Prisma client) would cost that thread a second and 24 MB.
import type { ExtensionCreate } from "@kex/contract";

/**
 * Items per insert statement of `createBatch`. Measured with 10,000 items of 5.9 KB (58 MB): 500 a
 * statement cost Postgres about half the CPU of one statement for all (whose JSON spills to temporary
 * files past `work_mem` and is folded into the plan) and a third of ten `unnest` arrays; 100 to 1,000
 * a statement cost about the same.
 */
export const BATCH_INSERT_CHUNK_ITEMS = 500;

/** Up to `BATCH_INSERT_CHUNK_ITEMS` items: `json` is their JSON array, UTF-8. */
export interface EncodedItemChunk {
  count: number;
  json: Uint8Array;
}

/**
 * A batch's items as `createBatch` inserts them: already validated (`ExtensionCreateSchema`), written as
 * JSON in chunks, in order. Plain data, so it can be built in another thread and handed over (the chunks'
 * buffers transferred, not copied).
 */
export interface EncodedBatchItems {
  count: number;
  chunks: EncodedItemChunk[];
}

/** `items` (validated) as `createBatch` takes them. */
export function encodeBatchItems(items: readonly ExtensionCreate[]): EncodedBatchItems {
  const chunks: EncodedItemChunk[] = [];
  for (let start = 0; start < items.length; start += BATCH_INSERT_CHUNK_ITEMS) {
    const slice = items.slice(start, start + BATCH_INSERT_CHUNK_ITEMS);
    chunks.push({ count: slice.length, json: Buffer.from(JSON.stringify(slice)) });
  }
  return { count: items.length, chunks };
}
