import { randomUUID } from "node:crypto";
import { DEFAULT_ACCOUNT } from "@kex/core";
import type { EncodedBatchItems } from "../batch-items";
import type { Db } from "../client";
import { BATCH_SELECT } from "../columns";
import type { Batch } from "../generated/client";
import { prepared, rows } from "../queryable";
import { DEFAULT_TENANT_ID } from "../tenants";

const INSERT_BATCH = `INSERT INTO batches (id, tenant_id, total, callback_url, name, metadata) VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING ${BATCH_SELECT}`;

/**
 * One chunk of items: their JSON array ($4, sent as its UTF-8 bytes: pg passes a buffer in binary
 * format, which for `json` is the text itself) paired by position with their job ids ($1). An item
 * without a callback_url takes the batch's ($5). Each job's `batch_index` is its item's position in
 * the request: the chunk's first index ($6) plus its place in the chunk. Each job runs on the account
 * at its place in $7 (routed by the caller).
 */
const INSERT_JOBS = `WITH j AS (
    INSERT INTO jobs (id, tenant_id, batch_id, video_id, prompt, negative_prompt, cfg_scale, callback_url, metadata, batch_index, account)
    SELECT ids.id, $3, $2, item.video_id, item.prompt, item.negative_prompt, item.cfg_scale, coalesce(item.callback_url, $5), item.metadata,
      $6::int + ids.n::int - 1, ids.account
    FROM ROWS FROM (unnest($1::uuid[], $7::text[])) WITH ORDINALITY AS ids(id, account, n)
    JOIN ROWS FROM (json_to_recordset($4::json) AS (video_id text, prompt text, negative_prompt text, cfg_scale float8, callback_url text, metadata jsonb))
      WITH ORDINALITY AS item(video_id, prompt, negative_prompt, cfg_scale, callback_url, metadata, n) USING (n)
    RETURNING id
  )
  INSERT INTO job_events (job_id, source, type, to_status) SELECT id, 'api', 'created', 'queued' FROM j`;

/**
 * Inserts a batch, all its jobs and their `created` events in one transaction (all or nothing), the
 * jobs a chunk of `BATCH_INSERT_CHUNK_ITEMS` per statement from their JSON (`encodeBatchItems`).
 * For 10,000 items of 5.9 KB this costs the api about a tenth of a second of CPU (ten `unnest` arrays
 * built from the items cost it over two, half of it in garbage collection) and Postgres about half
 * what one statement for them all costs. `jobIds` lets the caller know (and enqueue) the ids before
 * the insert commits.
 */
export async function createBatch(
  db: Db,
  args: {
    items: EncodedBatchItems;
    callbackUrl?: string;
    tenantId?: string;
    jobIds?: string[];
    /** The batch's own label and JSON object (`name`, `metadata` of the request). */
    name?: string;
    metadata?: Record<string, unknown>;
    /** The account of each item, in order (routed by the caller); unset = the default account for all. */
    accounts?: readonly string[];
  },
): Promise<{ batch: Batch; jobIds: string[] }> {
  const { items } = args;
  const jobIds = args.jobIds ?? Array.from({ length: items.count }, () => randomUUID());
  if (jobIds.length !== items.count) throw new Error("createBatch: one job id per item");
  if (args.accounts && args.accounts.length !== items.count) throw new Error("createBatch: one account per item");
  const batchId = randomUUID();
  const tenantId = args.tenantId ?? DEFAULT_TENANT_ID;
  const callbackUrl = args.callbackUrl ?? null;
  const batch = await db.transaction(async (tx) => {
    const [batch] = await rows<Batch>(tx, INSERT_BATCH, [
      batchId,
      tenantId,
      items.count,
      callbackUrl,
      args.name ?? null,
      args.metadata === undefined ? null : JSON.stringify(args.metadata),
    ]);
    let first = 0;
    for (const chunk of items.chunks) {
      const ids = jobIds.slice(first, first + chunk.count);
      const accounts = args.accounts ? args.accounts.slice(first, first + chunk.count) : ids.map(() => DEFAULT_ACCOUNT);
      first += chunk.count;
      const { rowCount } = await tx.query(prepared(INSERT_JOBS, [ids, batchId, tenantId, chunk.json, callbackUrl, first - chunk.count, accounts]));
      if (rowCount !== chunk.count) throw new Error(`createBatch: a chunk of ${chunk.count} items inserted ${rowCount} jobs`);
    }
    if (first !== items.count) throw new Error(`createBatch: the chunks hold ${first} items, not ${items.count}`);
    return batch!;
  });
  return { batch, jobIds };
}
