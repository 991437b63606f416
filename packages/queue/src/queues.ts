import { JOB_CATALOG, submitJobId, type SubmitPayload } from "@kex/core";
import type { AnyQueue, QueueBackend } from "./backend";

/**
 * The default queue prefix. On Redis, "{kex}" is a Redis Cluster hash tag, so every key of a queue
 * lands in one slot and the same code runs on a cluster; on Postgres it names the schema
 * (`queueSchemaName`). Tests use a unique prefix each.
 */
export const DEFAULT_QUEUE_PREFIX = "{kex}";

export type SubmitQueue = AnyQueue<SubmitPayload>;

export function createSubmitQueue(backend: QueueBackend): SubmitQueue {
  return backend.createQueue<SubmitPayload>(JOB_CATALOG.submit.queue, { defaultJobOptions: JOB_CATALOG.submit.options });
}

/** BullMQ's lowest priority; 1 is the highest we use (0 would mean "no priority" and jump every queue). */
export const MAX_PRIORITY = 2_097_152;

/**
 * Enqueues submits for these jobs; the BullMQ job id is the job id, so repeating this is harmless.
 * `priorities[i]` is the job's position in its tenant's backlog (1 = next): BullMQ starts lower
 * numbers first, so one tenant's 10,000-job batch interleaves with another tenant's single job
 * instead of starving it (fair share; see README).
 */
export async function enqueueSubmits(queue: SubmitQueue, jobIds: readonly string[], priorities?: readonly number[]): Promise<void> {
  const chunk = 1000;
  for (let i = 0; i < jobIds.length; i += chunk) {
    await queue.addBulk(
      jobIds.slice(i, i + chunk).map((jobId, j) => ({
        name: JOB_CATALOG.submit.name,
        data: { jobId },
        opts: { jobId: submitJobId(jobId), priority: Math.min(MAX_PRIORITY, Math.max(1, Math.round(priorities?.[i + j] ?? 1))) },
      })),
    );
  }
}
