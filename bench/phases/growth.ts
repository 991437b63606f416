// growth to the largest size: one more batch and status GETs at that size.
import type { BenchRun } from "../lib/bench-run";
import { growJobs } from "../lib/db";
import { fmtInt, fmtMs } from "../lib/report";

export async function growthPhase(run: BenchRun): Promise<void> {
  const { cfg, results, pg, submitQueue, bodies, timed, notePeaks, measureGet, ingestOne, say } = run;
  say(`\n[growth] INSERT … SELECT generate_series up to ${fmtInt(cfg.growthTotal)} jobs (${cfg.growthEventsPerJob} events each), then one ${fmtInt(cfg.batchSize)}-job batch and status GETs`);
  const g = await growJobs(pg, { total: cfg.growthTotal - cfg.batchSize, eventsPerJob: cfg.growthEventsPerJob, log: say });
  results.growth.generate = { rows: g.inserted, ms: g.ms };
  const point = await timed("ingest-grown", () => ingestOne(bodies(cfg.batchSize)[0]!));
  say(`    batch at ${fmtInt(point.rowsAfter)} rows: ${fmtInt(point.jobsPerS)} jobs/s (${fmtMs(point.ms)} ms, api CPU ${fmtMs(point.apiCpuMs)} ms)`);
  results.growth.ingest.push(point);
  results.growth.get.push(await measureGet());
  notePeaks("growth");
  await submitQueue.obliterate({ force: true });
}
