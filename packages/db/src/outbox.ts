import { randomUUID } from "node:crypto";
import type { JobStatus } from "@kex/core";
import { Prisma, type Db, type DbOrTx } from "./client";
import type { Batch, Job } from "./generated/client";
import { queryRows, sqlOfTx, type Sql } from "./sql";
import { advanceChain } from "./chains";
import { emptyCounts } from "./jobs";
import { toBatchResource, toJobResource } from "./resources";

export const WEBHOOK_EVENT_TYPES = ["extension.succeeded", "extension.failed", "extension.canceled", "batch.completed"] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

const JOB_EVENT: Partial<Record<JobStatus, WebhookEventType>> = {
  succeeded: "extension.succeeded",
  failed: "extension.failed",
  canceled: "extension.canceled",
};

/**
 * Called inside the transaction that moved a job to a final status: queues the outbound webhooks that
 * follow from it (the job's event, and `batch.completed` when it was its batch's last unfinished job).
 * Writing them in the same transaction is what makes delivery lossless (transactional outbox).
 */
export async function recordJobFinished(tx: DbOrTx, jobId: string, to: JobStatus, now: Date): Promise<string[]> {
  const batchId = await recordJobsFinished(tx, [jobId], to, now);
  if (batchId) await recordBatchCompletedIfDone(sqlOfTx(tx), batchId, now);
  // A chain step: start the next one (or stop the chain). The new job is enqueued after commit.
  const job = await tx.job.findUnique({ where: { id: jobId } });
  const next = job?.chainId ? await advanceChain(tx, job, now) : null;
  return next ? [next] : [];
}

/** The job events for several jobs that just reached `to` (one query, one insert); returns a batch id seen. */
export async function recordJobsFinished(tx: DbOrTx, jobIds: readonly string[], to: JobStatus, now: Date): Promise<string | null> {
  const type = JOB_EVENT[to];
  if (!type || jobIds.length === 0) return null;
  const jobs = await tx.job.findMany({ where: { id: { in: [...jobIds] } } });
  const data = jobs
    .filter((job) => job.callbackUrl)
    .map((job) => ({
      id: randomUUID(),
      tenantId: job.tenantId,
      jobId: job.id,
      batchId: job.batchId,
      eventType: type,
      dedupeKey: `job:${job.id}:${type}`,
      url: job.callbackUrl!,
      payload: { type, timestamp: now.toISOString(), data: toJobResource(job) } as unknown as Prisma.InputJsonValue,
      nextAttemptAt: now,
    }));
  if (data.length > 0) await tx.webhookDelivery.createMany({ data, skipDuplicates: true });
  return jobs.find((j) => j.batchId)?.batchId ?? null;
}

const DELIVERY_INSERT = `INSERT INTO webhook_deliveries (id, tenant_id, job_id, batch_id, event_type, dedupe_key, url, payload, next_attempt_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9) ON CONFLICT (dedupe_key) DO NOTHING`;

/**
 * The plain-SQL twin of `recordJobFinished` for a job that is not a chain step, given the row as just
 * written, inside the caller's transaction: its own webhook and, if it was the last, `batch.completed`.
 */
export async function recordFinishedJobSql(sql: Sql, job: Job, to: JobStatus, now: Date): Promise<void> {
  const type = JOB_EVENT[to];
  if (type && job.callbackUrl) {
    const payload = { type, timestamp: now.toISOString(), data: toJobResource(job) };
    await sql(DELIVERY_INSERT, [randomUUID(), job.tenantId, job.id, job.batchId, type, `job:${job.id}:${type}`, job.callbackUrl, JSON.stringify(payload), now]);
  }
  if (job.batchId) await recordBatchCompletedIfDone(sql, job.batchId, now);
}

/**
 * A batch's callback URL (null: none). It never changes once the batch exists, so it is cached: a
 * job finishing in a batch without one needs no outbox work at all, and then no transaction.
 */
const batchCallbacks = new Map<string, string | null>();
export async function batchCallbackUrl(db: Db, batchId: string): Promise<string | null> {
  if (batchCallbacks.has(batchId)) return batchCallbacks.get(batchId)!;
  const [row] = await queryRows<{ callback_url: string | null }>(db, `SELECT callback_url FROM batches WHERE id = $1::uuid`, [batchId]);
  if (!row) return null;
  if (batchCallbacks.size >= 10_000) batchCallbacks.delete(batchCallbacks.keys().next().value!);
  batchCallbacks.set(batchId, row.callback_url);
  return row.callback_url;
}

const UNFINISHED = `('queued', 'submitting', 'submitted', 'processing')`;

/**
 * Queues `batch.completed` once every job of the batch is final. Only a batch with a callback URL is
 * locked (the URL never changes, so the lock's own WHERE can test it): of two last jobs finishing at
 * the same time exactly one sees the batch done. The full counts are only taken once nothing is left running.
 */
export async function recordBatchCompletedIfDone(sql: Sql, batchId: string, now: Date): Promise<void> {
  const [batch] = await sql<Batch>(
    `SELECT id, tenant_id AS "tenantId", total, callback_url AS "callbackUrl", created_at AS "createdAt"
     FROM batches WHERE id = $1::uuid AND callback_url IS NOT NULL FOR UPDATE`,
    [batchId],
  );
  if (!batch?.callbackUrl) return;
  const [left] = await sql<{ running: boolean }>(`SELECT EXISTS (SELECT 1 FROM jobs WHERE batch_id = $1::uuid AND status IN ${UNFINISHED}) AS running`, [batchId]);
  if (left?.running) return;
  const groups = await sql<{ status: JobStatus; n: number }>(`SELECT status::text AS status, count(*)::int AS n FROM jobs WHERE batch_id = $1::uuid GROUP BY status`, [batchId]);
  const counts = emptyCounts();
  for (const g of groups) counts[g.status] = g.n;
  const payload = { type: "batch.completed", timestamp: now.toISOString(), data: toBatchResource(batch, counts) };
  await sql(DELIVERY_INSERT, [randomUUID(), batch.tenantId, null, batchId, "batch.completed", `batch:${batchId}:completed`, batch.callbackUrl, JSON.stringify(payload), now]);
}
