import { rows, type Queryable } from "../queryable";

/**
 * A batch's callback URL (null: none). It never changes once the batch exists, so it is cached: a
 * job finishing in a batch without one needs no outbox work at all, and then no transaction.
 */
const batchCallbacks = new Map<string, string | null>();
export async function getBatchCallbackUrl(q: Queryable, batchId: string): Promise<string | null> {
  if (batchCallbacks.has(batchId)) return batchCallbacks.get(batchId)!;
  const [row] = await rows<{ callback_url: string | null }>(q, `SELECT callback_url FROM batches WHERE id = $1::uuid`, [batchId]);
  if (!row) return null;
  if (batchCallbacks.size >= 10_000) batchCallbacks.delete(batchCallbacks.keys().next().value!);
  batchCallbacks.set(batchId, row.callback_url);
  return row.callback_url;
}
