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
    // Every option stored with a job costs Redis memory per waiting job (they are in its hash), so
    // the job carries only the attempts and the backoff's name; the rest is set on the Worker.
    options: {
      attempts: 8,
      backoff: { type: "kex" },
    },
    worker: {
      removeOnComplete: { count: 0 },
      removeOnFail: { age: 24 * 3600 },
    },
    /**
     * The "kex" backoff: exponential from `delayMs`, at most `maxDelayMs`, with this share of each
     * delay random (jitter). The cap keeps a job retrying upstream at least every 30 s: all 8 attempts
     * take 45 to 90 s, never minutes of silence for one job.
     */
    backoff: { delayMs: 1000, maxDelayMs: 30_000, jitter: 0.5 },
  },
  /** Periodic safety nets, one run per interval across all workers (BullMQ job schedulers). */
  maintenance: {
    queue: "maintenance",
    jobs: { sweep: "sweep", reconcile: "reconcile" },
    options: { removeOnComplete: true, removeOnFail: { count: 100 }, attempts: 1 },
  },
} as const;

/** Delay before retry number `attemptsMade` (1 = the first retry) of a submit. */
export function submitBackoffMs(attemptsMade: number, random: () => number = Math.random): number {
  const { delayMs, maxDelayMs, jitter } = JOB_CATALOG.submit.backoff;
  const max = Math.min(maxDelayMs, Math.round(2 ** Math.max(0, attemptsMade - 1) * delayMs));
  return Math.floor(max * (1 - jitter) + random() * max * jitter);
}

/** BullMQ job id for a job's submit: the job id itself, so enqueueing twice is a no-op. */
export function submitJobId(jobId: string): string {
  return jobId;
}
