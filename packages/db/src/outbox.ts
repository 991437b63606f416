import { randomUUID } from "node:crypto";
import type { JobStatus } from "@kex/core";
import { Prisma, type DbOrTx } from "./client";
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
  if (batchId) await recordBatchCompletedIfDone(tx, batchId, now);
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

/**
 * Queues `batch.completed` once every job of the batch is final. The batch row is locked first, so of
 * two last jobs finishing at the same time exactly one sees the batch done.
 */
export async function recordBatchCompletedIfDone(tx: DbOrTx, batchId: string, now: Date): Promise<void> {
  const [batch] = await tx.$queryRaw<Array<{ id: string; callback_url: string | null }>>`
    SELECT id, callback_url FROM batches WHERE id = ${batchId}::uuid FOR UPDATE`;
  if (!batch?.callback_url) return;
  const groups = await tx.job.groupBy({ by: ["status"], where: { batchId }, _count: { _all: true } });
  const counts = emptyCounts();
  for (const g of groups) counts[g.status] = g._count._all;
  if (counts.queued + counts.submitting + counts.submitted + counts.processing > 0) return;
  const row = await tx.batch.findUniqueOrThrow({ where: { id: batchId } });
  await tx.webhookDelivery.createMany({
    data: [
      {
        id: randomUUID(),
        tenantId: row.tenantId,
        batchId,
        eventType: "batch.completed",
        dedupeKey: `batch:${batchId}:completed`,
        url: batch.callback_url,
        payload: { type: "batch.completed", timestamp: now.toISOString(), data: toBatchResource(row, counts) } as unknown as Prisma.InputJsonValue,
        nextAttemptAt: now,
      },
    ],
    skipDuplicates: true,
  });
}
