import { Counter, createJobsFinishedCounter, Histogram, type JobsFinishedCounter, type Registry } from "@kex/metrics";

/** What the api counts (the worker has its own; see apps/worker/src/metrics.ts). */
export interface ApiMetrics {
  /** `kex_jobs_created_total{kind="single"|"batch"}`: new jobs stored (an idempotent replay is not a new job). */
  jobsCreated: Counter<"kind">;
  /** `kex_jobs_finished_total{status, source="webhook"}`. */
  jobsFinished: JobsFinishedCounter;
  /** `kex_webhook_duration_seconds{outcome}`: time to handle one upstream callback. */
  webhookDuration: Histogram<"outcome">;
  /** `kex_callback_signature_failures_total{reason="missing"|"timestamp"|"mismatch"}`: callbacks refused for their signature. */
  callbackSignatureFailures: Counter<"reason">;
}

/** How a callback was answered: applied, nothing to change, or refused (and why). */
export type WebhookOutcome = "changed" | "unchanged" | "unauthorized" | "bad_signature" | "duplicate" | "invalid" | "not_found" | "error";

export function createApiMetrics(registry: Registry): ApiMetrics {
  return {
    jobsCreated: new Counter({
      name: "kex_jobs_created_total",
      help: "Jobs created through the API, by how they were submitted (single or batch)",
      labelNames: ["kind"],
      registers: [registry],
    }),
    jobsFinished: createJobsFinishedCounter(registry),
    webhookDuration: new Histogram({
      name: "kex_webhook_duration_seconds",
      help: "Time to handle one upstream callback, from arrival to answer, by outcome",
      labelNames: ["outcome"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    callbackSignatureFailures: new Counter({
      name: "kex_callback_signature_failures_total",
      help: "Upstream callbacks refused because a signing secret is set and their Standard Webhooks signature is missing, out of its time window, or matches no secret",
      labelNames: ["reason"],
      registers: [registry],
    }),
  };
}
