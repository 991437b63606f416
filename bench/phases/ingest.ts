// bulk ingest, worker stopped: ingest rate, first growth points, queue storage per waiting job.
import { setTimeout as sleep } from "node:timers/promises";
import { JOB_CATALOG } from "@kex/core";
import type { BenchRun } from "../lib/bench-run";
import { cpuWindow } from "../lib/cpu";
import { diffCounters, type PgCounters, pgCounters } from "../lib/db";
import { keyMemoryPerJob } from "../lib/redis";
import { fmtBytes, fmtInt, fmtMs } from "../lib/report";
import { cpuMsPer, type IngestPoint, perJob } from "../lib/results";

export async function ingestPhase(run: BenchRun): Promise<void> {
  const { cfg, results, store, pg, submitQueue, queuePrefix, sources, bodies, timed, notePeaks, measureGet, ingestOne, say } = run;
  const n = cfg.ingestBatches * cfg.batchSize;
  say(`\n[ingest] ${fmtInt(n)} jobs: ${cfg.ingestBatches} × POST /v1/batches of ${fmtInt(cfg.batchSize)} (worker stopped)`);
  const payloads = bodies(n);
  const memBefore = await store.storageBytes();
  const perBatch: IngestPoint[] = [];
  // CPU and Postgres counters over the batches after the first (the status GETs at one batch run in between).
  const windowFrom = payloads.length > 1 ? 1 : 0;
  let window: { cpu: Awaited<ReturnType<typeof cpuWindow>>; pg: PgCounters } | undefined;
  let windowJobs = 0;
  for (const [b, body] of payloads.entries()) {
    if (b === windowFrom) {
      await sleep(1100); // pg_stat_* are flushed by idle backends within a second
      window = { cpu: await cpuWindow(sources()), pg: await pgCounters(pg) };
    }
    const point = await timed(b === 0 ? "ingest-first" : "ingest", () => ingestOne(body, (b + 1) * cfg.batchSize));
    if (b >= windowFrom) windowJobs += point.batchSize;
    perBatch.push(point);
    say(`    batch ${b + 1}/${payloads.length}: ${fmtInt(point.jobsPerS)} jobs/s (${fmtMs(point.ms)} ms, api CPU ${fmtMs(point.apiCpuMs)} ms)`);
    if (b === 0 && payloads.length > 1) results.growth.get.push(await measureGet());
  }
  const cpuUsed = await window!.cpu.end();
  await sleep(1100);
  const pgUsed = diffCounters(await pgCounters(pg), window!.pg);
  // Not yet processed: `waiting`, or `prioritized` when jobs carry a BullMQ priority.
  const waiting = await submitQueue.getJobCountByTypes("waiting", "prioritized");
  const memAfter = await store.storageBytes();
  const sample = (await pg.query<{ id: string }>("SELECT id FROM jobs ORDER BY random() LIMIT 50")).rows.map((r) => r.id);
  const keyMem = store.redis
    ? await keyMemoryPerJob(store.redis, { prefix: queuePrefix, queue: JOB_CATALOG.submit.queue, sampleIds: sample, waiting })
    : undefined;
  const postMs = perBatch.reduce((a, p) => a + p.ms, 0);
  const jobsPerS = n / (postMs / 1000);
  results.ingest = {
    jobs: n,
    batches: payloads.length,
    ms: postMs,
    jobsPerS,
    ratioToAddBulk: results.baseline ? jobsPerS / results.baseline.addBulkJobsPerS : null,
    perBatch,
    storageDelta: memAfter - memBefore,
    waitingJobs: waiting,
    storageBytesPerWaitingJob: waiting > 0 ? (memAfter - memBefore) / waiting : NaN,
    redisKeyBytesPerJob: keyMem?.perJobBytes,
    redisJobHashBytes: keyMem?.jobHashBytes,
    windowJobs,
    pgPerJob: perJob(pgUsed, windowJobs),
    cpu: cpuUsed,
    cpuMsPerJob: cpuMsPer(cpuUsed, windowJobs),
  };
  say(`    ${fmtInt(jobsPerS)} jobs/s overall; CPU ms per job ${JSON.stringify(results.ingest.cpuMsPerJob)}`);
  say(
    store.kind === "redis"
      ? `    Redis ${fmtBytes(results.ingest.storageBytesPerWaitingJob)} per waiting job (${fmtInt(waiting)} waiting; MEMORY USAGE cross-check ${fmtBytes(keyMem?.perJobBytes ?? NaN)})`
      : `    Postgres ${fmtBytes(results.ingest.storageBytesPerWaitingJob)} per waiting job (queue schema's tables and indexes, ${fmtInt(waiting)} waiting)`,
  );
  results.growth.ingest.push(perBatch[0]!);
  if (perBatch.length > 1) results.growth.ingest.push(perBatch[perBatch.length - 1]!);
  results.growth.get.push(await measureGet());
  notePeaks("ingest");
}
