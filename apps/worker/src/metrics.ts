import type { KlingClient, KlingResult } from "@kex/kling";
import {
  COLLECT_TIMEOUT_MS,
  Counter,
  createJobsFinishedCounter,
  Gauge,
  Histogram,
  withDeadline,
  type JobsFinishedCounter,
  type Registry,
} from "@kex/metrics";

/** What the worker counts (the api has its own; see apps/api/src/metrics.ts). */
export interface WorkerMetrics {
  /** `kex_jobs_finished_total{status, source="worker"|"reconciler"}`. */
  jobsFinished: JobsFinishedCounter;
  /** `kex_upstream_requests_total{account, operation, code}`: `code` is "0" for success, upstream's code, or `http_<status>` / `no_response`. */
  upstreamRequests: Counter<"account" | "operation" | "code">;
  /** `kex_upstream_request_duration_seconds{account, operation}`. */
  upstreamDuration: Histogram<"account" | "operation">;
  /** `kex_reconciler_corrections_total{kind}`: what the reconciler fixed that callbacks did not. */
  reconcilerCorrections: Counter<"kind">;
  /** `kex_sweeper_requeued_total`: jobs put back on the submit queue because no live submit was found. */
  sweeperRequeued: Counter;
  /** `kex_webhook_deliveries_total{result}`: outbound webhook attempts by WebhookAttemptResult. */
  webhookDeliveries: Counter<"result">;
}

/** What one outbound webhook attempt came to: a 2xx, a failure with another attempt scheduled, or the last failure. */
export type WebhookAttemptResult = "delivered" | "retrying" | "failed";

export function createWorkerMetrics(registry: Registry): WorkerMetrics {
  return {
    jobsFinished: createJobsFinishedCounter(registry),
    upstreamRequests: new Counter({
      name: "kex_upstream_requests_total",
      help: 'Calls to the Kling API by account, operation (create, get, list) and result code ("0" = success, else upstream\'s code, http_<status> or no_response)',
      labelNames: ["account", "operation", "code"],
      registers: [registry],
    }),
    upstreamDuration: new Histogram({
      name: "kex_upstream_request_duration_seconds",
      help: "Time of one Kling API call, start to end (including failures and timeouts), by account and operation",
      labelNames: ["account", "operation"],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30],
      registers: [registry],
    }),
    reconcilerCorrections: new Counter({
      name: "kex_reconciler_corrections_total",
      help: "Jobs the reconciler moved on: a missed callback applied (missed_callback), a task upstream no longer knows (task_missing), a task past its deadline (deadline_exceeded)",
      labelNames: ["kind"],
      registers: [registry],
    }),
    sweeperRequeued: new Counter({
      name: "kex_sweeper_requeued_total",
      help: "Jobs the sweeper put back on the submit queue because it held no live submit for them",
      registers: [registry],
    }),
    webhookDeliveries: new Counter({
      name: "kex_webhook_deliveries_total",
      help: "Outbound webhook attempts by result: delivered (2xx), retrying (failed, another attempt scheduled), failed (failed, no attempt left)",
      labelNames: ["result"],
      registers: [registry],
    }),
  };
}

/** The `code` label of an upstream call's result. */
export function upstreamResultCode(result: KlingResult<unknown>): string {
  if (result.ok) return "0";
  if (result.code !== null) return String(result.code);
  return result.httpStatus === 0 ? "no_response" : `http_${result.httpStatus}`;
}

/** The same client, counting and timing every call under its account's name. */
export function instrumentKlingClient(
  client: KlingClient,
  metrics: Pick<WorkerMetrics, "upstreamRequests" | "upstreamDuration">,
  account: string,
): KlingClient {
  async function measured<T>(operation: string, call: () => Promise<KlingResult<T>>): Promise<KlingResult<T>> {
    const stop = metrics.upstreamDuration.startTimer({ account, operation });
    const result = await call();
    stop();
    metrics.upstreamRequests.inc({ account, operation, code: upstreamResultCode(result) });
    return result;
  }
  return {
    createTask: (body) => measured("create", () => client.createTask(body)),
    getTask: (id) => measured("get", () => client.getTask(id)),
    listTasks: (query) => measured("list", () => client.listTasks(query)),
  };
}

export interface WorkerGaugeSources {
  /** Jobs holding a slot, per account, as Postgres counts them (`countInFlightByAccount`). */
  countInFlight: () => Promise<ReadonlyMap<string, number>>;
  /** Each account's configured cap (0 = no cap), by name: the accounts reported. */
  limits: Readonly<Record<string, number>>;
  /** Queues whose depth is reported, by name. */
  queues: ReadonlyArray<{ name: string; getJobCounts(...types: string[]): Promise<Record<string, number>> }>;
}

/** Queue states reported by `kex_queue_jobs`. */
export const QUEUE_STATES = ["waiting", "active", "delayed", "failed"] as const;

/**
 * Gauges read at scrape time. They describe shared state (Postgres, the queue's store), so every worker reports
 * the same values: aggregate with max(), not sum(). A source that does not answer within
 * COLLECT_TIMEOUT_MS reports NaN (in-flight) or no series (queues) instead of failing the scrape.
 */
export function registerWorkerGauges(registry: Registry, sources: WorkerGaugeSources): void {
  const accounts = Object.keys(sources.limits);
  new Gauge({
    name: "kex_inflight_used",
    help: "Jobs holding a slot of an upstream account right now (submitting, submitted, processing), by account, counted in Postgres; NaN when Postgres did not answer",
    labelNames: ["account"],
    registers: [registry],
    async collect() {
      try {
        const used = await withDeadline(sources.countInFlight(), COLLECT_TIMEOUT_MS, "countInFlight");
        for (const account of accounts) this.set({ account }, used.get(account) ?? 0);
      } catch {
        for (const account of accounts) this.set({ account }, Number.NaN);
      }
    },
  });
  new Gauge({
    name: "kex_inflight_limit",
    help: "Each account's parallel-task limit this worker enforces (its max_in_flight, or KLING_MAX_IN_FLIGHT for `default`; 0 = no cap)",
    labelNames: ["account"],
    registers: [registry],
    collect() {
      for (const account of accounts) this.set({ account }, sources.limits[account]!);
    },
  });
  new Gauge({
    name: "kex_queue_jobs",
    help: "BullMQ jobs per queue and state (waiting, active, delayed, failed); absent when the queue's store (Redis or Postgres) did not answer",
    labelNames: ["queue", "state"],
    registers: [registry],
    async collect() {
      const answers = await Promise.all(
        sources.queues.map((queue) =>
          withDeadline(queue.getJobCounts(...QUEUE_STATES), COLLECT_TIMEOUT_MS, `${queue.name} job counts`).then(
            (counts) => ({ name: queue.name, counts }),
            // The queue's store is unreachable: no series rather than stale or invented numbers.
            () => null,
          ),
        ),
      );
      this.reset();
      for (const answer of answers) {
        if (!answer) continue;
        for (const state of QUEUE_STATES) this.set({ queue: answer.name, state }, answer.counts[state] ?? 0);
      }
    },
  });
}
