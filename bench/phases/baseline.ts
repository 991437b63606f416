// the ceiling: raw BullMQ.
import { runBaseline } from "../lib/baseline";
import type { BenchRun } from "../lib/bench-run";
import { fmtInt } from "../lib/report";

export async function baselinePhase(run: BenchRun): Promise<void> {
  const { cfg, results, runId, say } = run;
  say(`\n[baseline] raw BullMQ on the same Redis: ${fmtInt(cfg.baselineJobs)} jobs, addBulk chunks of ${cfg.baselineChunk}, no-op worker concurrency ${cfg.workerConcurrency}`);
  results.baseline = await runBaseline({
    redisUrl: cfg.redisUrl,
    prefix: `{kexbench-raw-${runId}}`,
    jobs: cfg.baselineJobs,
    chunk: cfg.baselineChunk,
    concurrency: cfg.workerConcurrency,
    log: say,
  });
}
