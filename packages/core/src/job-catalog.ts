import { z } from "zod";

/**
 * The one job catalog shared by api and worker: queue name → payload schema and BullMQ options.
 * Payloads carry ids only; processors re-read the row from Postgres, the source of truth.
 */
export const SubmitPayloadSchema = z.strictObject({ jobId: z.uuid() });
export type SubmitPayload = z.infer<typeof SubmitPayloadSchema>;

export const JOB_CATALOG = {
  submit: {
    queue: "submit",
    name: "submit",
    payload: SubmitPayloadSchema,
    // Retryable upstream answers (5xx, timeouts) retry with exponential backoff and jitter:
    // ~1 s, 2 s, 4 s … capped by `attempts`. Rate limits and "at capacity" do not use attempts.
    options: {
      attempts: 8,
      backoff: { type: "exponential", delay: 1000, jitter: 0.5 },
      removeOnComplete: true,
      removeOnFail: { age: 24 * 3600 },
    },
  },
  /** Periodic safety nets, one run per interval across all workers (BullMQ job schedulers). */
  maintenance: {
    queue: "maintenance",
    jobs: { sweep: "sweep", reconcile: "reconcile" },
    options: { removeOnComplete: true, removeOnFail: { count: 100 }, attempts: 1 },
  },
} as const;

export const MaintenancePayloadSchema = z.strictObject({});

/** BullMQ job id for a job's submit: the job id itself, so enqueueing twice is a no-op. */
export function submitJobId(jobId: string): string {
  return jobId;
}
