import { isTerminal, type JobStatus } from "@kex/core";
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

/** Which part of the system moved a job to its final state (the job event's `source`). */
export type FinishSource = "webhook" | "reconciler" | "worker" | "api";

export type JobsFinishedCounter = Counter<"status" | "source">;

/**
 * `kex_jobs_finished_total{status, source}`: the same definition in every process that finishes jobs
 * (the api's webhook receiver, the worker's submit processor and reconciler); sum over processes.
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
 * Counts a transition if it was one to a final state. Takes the result of `applyJobEvent` and friends
 * as is and returns it, so a call site reads `countFinished(counter, await applyJobEvent(...), "worker")`.
 * A transition is reported exactly once, by whoever won the guarded update, so nothing is counted twice.
 */
export function countFinished<R extends { outcome: string; to?: JobStatus }>(
  counter: JobsFinishedCounter,
  result: R,
  source: FinishSource,
): R {
  if (result.outcome === "changed" && result.to && isTerminal(result.to)) counter.inc({ status: result.to, source });
  return result;
}

/**
 * Runs a collector's query with a deadline, so a scrape never hangs on a dead Redis or Postgres (the
 * worker's Redis client waits through reconnects by design). The query itself is not canceled.
 */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Longest a gauge's `collect()` waits for Postgres or Redis before reporting "unknown". */
export const COLLECT_TIMEOUT_MS = 2000;

/**
 * `apply` (`applyJobEvent`, `adoptUpstreamTask`, …) with every transition to a final state counted:
 * a module that moves jobs uses the wrapped function and cannot forget a call site.
 */
export function countingFinished<A extends unknown[], R extends { outcome: string; to?: JobStatus }>(
  apply: (...args: A) => Promise<R>,
  counter: JobsFinishedCounter,
  source: FinishSource,
): (...args: A) => Promise<R> {
  return async (...args: A) => countFinished(counter, await apply(...args), source);
}
