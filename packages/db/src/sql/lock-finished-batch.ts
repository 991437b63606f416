import type { JobStatus } from "@kex/core";
import { BATCH_SELECT } from "../columns";
import type { Batch } from "../generated/client";
import { rows, type Queryable } from "../queryable";
import type { StatusCounts } from "@kex/contract";
import { UNFINISHED_SQL_LIST } from "../slot-rule";
import { emptyCounts } from "../status-counts";

/**
 * Inside the caller's transaction: the batch and its final counts if it has a callback URL and
 * every one of its jobs is final, else null. The batch row stays locked until the transaction ends,
 * so of two last jobs finishing at the same time exactly one sees it finished with the other's
 * change. Only a batch with a callback URL is locked (the URL never changes, so the lock's own WHERE
 * can test it); the full counts are only taken once nothing is left running.
 */
export async function lockFinishedBatch(tx: Queryable, batchId: string): Promise<{ batch: Batch; counts: StatusCounts } | null> {
  const [batch] = await rows<Batch>(tx, `SELECT ${BATCH_SELECT} FROM batches WHERE id = $1::uuid AND callback_url IS NOT NULL FOR UPDATE`, [batchId]);
  if (!batch) return null;
  const [left] = await rows<{ running: boolean }>(tx, `SELECT EXISTS (SELECT 1 FROM jobs WHERE batch_id = $1::uuid AND status IN ${UNFINISHED_SQL_LIST}) AS running`, [batchId]);
  if (left?.running) return null;
  const groups = await rows<{ status: JobStatus; n: number }>(tx, `SELECT status::text AS status, count(*)::int AS n FROM jobs WHERE batch_id = $1::uuid GROUP BY status`, [batchId]);
  const counts = emptyCounts();
  for (const g of groups) counts[g.status] = g.n;
  return { batch, counts };
}
