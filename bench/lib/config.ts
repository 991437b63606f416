// Bench settings: one place that reads the environment. `BENCH_SCALE=small` is a quick run (tens of
// seconds of load); the default `full` is the run whose numbers we report (about 10-15 minutes here).
import { QUEUE_BACKENDS, type QueueBackendKind } from "@kex/queue";

export type Phase = "baseline" | "ingest" | "webhook" | "e2e" | "growth";
export const ALL_PHASES: readonly Phase[] = ["baseline", "ingest", "webhook", "e2e", "growth"];

export interface BenchConfig {
  scale: "small" | "full";
  /** The queue backends to bench, one after the other in one run (BENCH_QUEUE_BACKENDS; default both). */
  backends: QueueBackendKind[];
  /**
   * The Postgres queue's database URL: the bench database, plus `options` for the queue's connections only
   * when BENCH_PG_QUEUE_OPTIONS is set (e.g. `-c synchronous_commit=off`, to measure what commits cost).
   */
  queueDatabaseUrl: string;
  pgQueueOptions?: string;
  databaseUrl: string;
  redisUrl: string;
  /** Items per POST /v1/batches (the API's maximum is 10,000). */
  batchSize: number;
  /** Batches posted in the ingest phase (worker stopped): the 10k and `ingestBatches × batchSize` growth points. */
  ingestBatches: number;
  /** Jobs in the end-to-end phase (worker running), posted in batches of `batchSize`. */
  e2eJobs: number;
  /** Longest the end-to-end phase may take before it is reported as incomplete. */
  e2eTimeoutMs: number;
  /** Rows in `jobs` for the last growth point (0 = skip); filled with INSERT … SELECT generate_series. */
  growthTotal: number;
  /** job_events rows written per generated job (a finished job has 5-6 in real life). */
  growthEventsPerJob: number;
  /** Jobs for the raw BullMQ baseline (addBulk, then a no-op worker). */
  baselineJobs: number;
  /** addBulk chunk size in the baseline (ours, packages/queue enqueueSubmits, uses 1000). */
  baselineChunk: number;
  workerConcurrency: number;
  maxInFlight: number;
  /** DATABASE_POOL_MAX for api and worker (the apps' default is 10). */
  dbPoolMax: number;
  /** autocannon connections and duration for the webhook and status-GET measurements. */
  connections: number;
  loadSeconds: number;
  /** Jobs prepared in `processing` for the webhook load. */
  webhookJobs: number;
  /** Which phases to run (BENCH_PHASES=ingest,e2e …); the default is all. */
  phases: Set<Phase>;
  /** Apps to run under `node --cpu-prof` (BENCH_PROFILE=api,worker). */
  profile: Set<string>;
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw.replace(/_/g, ""));
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}

function list(raw: string | undefined): string[] {
  return (raw ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

export function loadBenchConfig(env: NodeJS.ProcessEnv = process.env): BenchConfig {
  const scaleRaw = env.BENCH_SCALE ?? "full";
  if (scaleRaw !== "small" && scaleRaw !== "full") throw new Error(`BENCH_SCALE must be "small" or "full", got ${JSON.stringify(scaleRaw)}`);
  const small = scaleRaw === "small";
  const phases = list(env.BENCH_PHASES);
  for (const p of phases) if (!ALL_PHASES.includes(p as Phase)) throw new Error(`BENCH_PHASES: unknown phase ${p} (known: ${ALL_PHASES.join(", ")})`);
  const batchSize = int(env, "BENCH_BATCH_SIZE", 10_000);
  if (batchSize < 1 || batchSize > 10_000) throw new Error("BENCH_BATCH_SIZE must be in 1..10000 (the API's batch limit)");
  const ingestBatches = Math.max(1, int(env, "BENCH_INGEST_BATCHES", small ? 2 : 10));
  const backends = list(env.BENCH_QUEUE_BACKENDS ?? QUEUE_BACKENDS.join(","));
  for (const b of backends) if (!(QUEUE_BACKENDS as readonly string[]).includes(b)) throw new Error(`BENCH_QUEUE_BACKENDS: unknown backend ${b} (known: ${QUEUE_BACKENDS.join(", ")})`);
  if (backends.length === 0) throw new Error("BENCH_QUEUE_BACKENDS names no backend");
  const databaseUrl = env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/kling_bench";
  const queueDatabaseUrl = new URL(databaseUrl);
  if (env.BENCH_PG_QUEUE_OPTIONS) queueDatabaseUrl.searchParams.set("options", env.BENCH_PG_QUEUE_OPTIONS);
  return {
    scale: scaleRaw,
    queueDatabaseUrl: queueDatabaseUrl.toString(),
    pgQueueOptions: env.BENCH_PG_QUEUE_OPTIONS || undefined,
    backends: [...new Set(backends)] as QueueBackendKind[],
    databaseUrl,
    redisUrl: env.REDIS_URL ?? "redis://127.0.0.1:6379",
    batchSize,
    ingestBatches,
    e2eJobs: int(env, "BENCH_E2E_JOBS", small ? 10_000 : 20_000),
    e2eTimeoutMs: int(env, "BENCH_E2E_TIMEOUT_S", small ? 150 : 300) * 1000,
    growthTotal: int(env, "BENCH_GROWTH_TOTAL", small ? 0 : 1_000_000),
    growthEventsPerJob: int(env, "BENCH_GROWTH_EVENTS_PER_JOB", 2),
    baselineJobs: int(env, "BENCH_BASELINE_JOBS", batchSize * ingestBatches),
    baselineChunk: Math.max(1, int(env, "BENCH_BASELINE_CHUNK", 1000)),
    workerConcurrency: Math.max(1, int(env, "BENCH_WORKER_CONCURRENCY", 64)),
    maxInFlight: int(env, "BENCH_MAX_IN_FLIGHT", 1000),
    dbPoolMax: Math.max(1, int(env, "BENCH_DB_POOL_MAX", 10)),
    connections: Math.max(1, int(env, "BENCH_CONNECTIONS", 10)),
    loadSeconds: Math.max(1, int(env, "BENCH_LOAD_SECONDS", small ? 5 : 10)),
    webhookJobs: Math.max(1, int(env, "BENCH_WEBHOOK_JOBS", 5000)),
    phases: new Set((phases.length ? phases : ALL_PHASES) as Phase[]),
    profile: new Set(list(env.BENCH_PROFILE)),
  };
}
