// the ceiling: raw BullMQ on the same store as the apps.
import { runBaseline } from "../lib/baseline";
import type { BenchRun } from "../lib/bench-run";
import { fmtInt } from "../lib/report";

/** Connections per BullMQ queue or worker on Postgres: what packages/queue gives ours (its default). */
const PG_POOL_MAX = 4;

export async function baselinePhase(run: BenchRun): Promise<void> {
  const { cfg, results, runId, queueBackend, pg, say } = run;
  say(
    `\n[baseline] raw BullMQ on the same ${queueBackend === "redis" ? "Redis" : "Postgres (BullMQ's Postgres backend, a schema of its own)"}: ${fmtInt(cfg.baselineJobs)} jobs, addBulk chunks of ${cfg.baselineChunk}, no-op worker concurrency ${cfg.workerConcurrency}`,
  );
  results.baseline = await runBaseline({
    kind: queueBackend,
    redisUrl: cfg.redisUrl,
    databaseUrl: cfg.queueDatabaseUrl,
    pg,
    prefix: `{kexbench-raw-${runId}}`,
    jobs: cfg.baselineJobs,
    chunk: cfg.baselineChunk,
    concurrency: cfg.workerConcurrency,
    pgPoolMax: PG_POOL_MAX,
    log: say,
  });
}
