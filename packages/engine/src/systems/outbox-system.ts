import type { JobStatus } from "@kex/core";
import { toBatchResource, toJobResource } from "@kex/contract";
import { getBatchCallbackUrl, insertDeliveries, lockFinishedBatch, type Job, type NewDelivery, type Queryable } from "@kex/db";
import type { EngineResources } from "./systems";

export const WEBHOOK_EVENT_TYPES = ["extension.succeeded", "extension.failed", "extension.canceled", "batch.completed"] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

const JOB_EVENT: Partial<Record<JobStatus, WebhookEventType>> = {
  succeeded: "extension.succeeded",
  failed: "extension.failed",
  canceled: "extension.canceled",
};

/**
 * The outbound webhooks that follow from jobs finishing: each job's own event (to its callback URL)
 * and `batch.completed` when a batch's last job finished. They are written in the transaction that
 * finished the jobs (transactional outbox); the worker's dispatcher sends them.
 */
export class OutboxSystem {
  constructor(private readonly resources: Pick<EngineResources, "db">) {}

  /** Whether a finishing job queues any webhook (its own, or its batch's). */
  async hasWebhooks(job: Job): Promise<boolean> {
    return Boolean(job.callbackUrl) || (job.batchId !== null && (await getBatchCallbackUrl(this.resources.db, job.batchId)) !== null);
  }

  /** Inside the transaction that moved `jobs` (rows as written) to `to`. */
  async recordFinished(tx: Queryable, jobs: readonly Job[], to: JobStatus, now: Date): Promise<void> {
    const type = JOB_EVENT[to];
    const timestamp = now.toISOString();
    const own: NewDelivery[] = type
      ? jobs
          .filter((job) => job.callbackUrl)
          .map((job) => ({
            tenantId: job.tenantId,
            jobId: job.id,
            batchId: job.batchId,
            eventType: type,
            dedupeKey: `job:${job.id}:${type}`,
            url: job.callbackUrl!,
            payload: { type, timestamp, data: toJobResource(job) },
          }))
      : [];
    await insertDeliveries(tx, own, now);
    for (const batchId of new Set(jobs.flatMap((job) => (job.batchId ? [job.batchId] : [])))) {
      const finished = await lockFinishedBatch(tx, batchId);
      if (!finished) continue;
      const { batch, counts } = finished;
      await insertDeliveries(
        tx,
        [
          {
            tenantId: batch.tenantId,
            jobId: null,
            batchId,
            eventType: "batch.completed",
            dedupeKey: `batch:${batchId}:completed`,
            url: batch.callbackUrl!,
            payload: { type: "batch.completed", timestamp, data: toBatchResource(batch, counts) },
          },
        ],
        now,
      );
    }
  }
}
