import { collectDefaultMetrics, Counter, Registry } from "prom-client";

export { Counter, Gauge, Histogram, Registry } from "prom-client";

/**
 * A registry of this process's own, with Node's default process metrics (CPU, memory, event loop lag,
 * GC). Never prom-client's global registry: tests run several apis and workers in one process.
 */
export function createMetricsRegistry(options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}

/** Which part of the system moved a job to its final state: the job event's `source`. */
export type FinishSource = "webhook" | "reconciler" | "worker" | "api" | "sweeper";

export type JobsFinishedCounter = Counter<"status" | "source">;

/**
 * `kex_jobs_finished_total{status, source}`: the same definition in every process that finishes jobs
 * (the api's webhook receiver and cancel routes, the worker's submit processor and reconciler); sum
 * over processes. Only the lifecycle engine (packages/engine) counts into it.
 */
export function createJobsFinishedCounter(registry: Registry): JobsFinishedCounter {
  return new Counter({
    name: "kex_jobs_finished_total",
    help: "Jobs that reached a final state (succeeded, failed, canceled), by status and by what moved them there",
    labelNames: ["status", "source"],
    registers: [registry],
  });
}

/**
 * Runs a collector's query with a deadline, so a scrape never hangs on a dead queue store or Postgres (the
 * worker's Redis client waits through reconnects by design). The query itself is not canceled.
 */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Longest a gauge's `collect()` waits for Postgres or the queue's store before reporting "unknown". */
export const COLLECT_TIMEOUT_MS = 2000;
