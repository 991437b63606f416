// end to end: first POST → last job succeeded in Postgres.
import { loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type { BenchRun } from "../lib/bench-run";
import { cpuWindow } from "../lib/cpu";
import { batchProgress, diffCounters, finishLeftovers, lastFinishedAt, pgCounters } from "../lib/db";
import { fmt, fmtInt } from "../lib/report";
import { postBatch } from "../lib/requests";
import { cpuMsPer, logSummary, nowUs, perJob } from "../lib/results";

export async function e2ePhase(run: BenchRun): Promise<void> {
  const { cfg, results, stack, pg, submitQueue, apiToken, sources, bodies, notePeaks, say } = run;
  say(`\n[e2e] ${fmtInt(cfg.e2eJobs)} jobs, worker running (WORKER_CONCURRENCY ${cfg.workerConcurrency}, KLING_MAX_IN_FLIGHT ${cfg.maxInFlight}, DATABASE_POOL_MAX ${cfg.dbPoolMax})`);
  const payloads = bodies(cfg.e2eJobs);
  await stack.startWorker({ concurrency: cfg.workerConcurrency, maxInFlight: cfg.maxInFlight, isReady: async () => (await submitQueue.getWorkersCount()) > 0 });
  await sleep(1100);
  const pg0 = await pgCounters(pg);
  const cpu = await cpuWindow(sources());
  const t0 = Date.now();
  const e2eStartUs = nowUs();
  const batchIds: string[] = [];
  const timeline: Array<{ s: number; finished: number; byStatus: Record<string, number> }> = [];
  let posting = true;
  // Poll progress while posting and after, bounded by the timeout.
  const poller = (async () => {
    while (Date.now() - t0 < cfg.e2eTimeoutMs) {
      await sleep(1000);
      if (batchIds.length === 0) continue;
      const p = await batchProgress(pg, batchIds);
      timeline.push({ s: (Date.now() - t0) / 1000, finished: p.finished, byStatus: p.byStatus });
      if (!posting && p.finished >= cfg.e2eJobs) return p;
      if (timeline.length % 10 === 0) say(`    ${fmt((Date.now() - t0) / 1000, 0)} s: ${fmtInt(p.finished)}/${fmtInt(cfg.e2eJobs)} finished ${JSON.stringify(p.byStatus)} (load ${fmt(loadavg()[0] ?? 0, 1)})`);
    }
    return batchProgress(pg, batchIds);
  })();
  for (const body of payloads) batchIds.push((await postBatch(stack.apiUrl, apiToken, body)).id);
  posting = false;
  const postMs = Date.now() - t0;
  const progress = await poller;
  results.phaseWindows.push({ name: "e2e-posting", startUs: e2eStartUs, endUs: e2eStartUs + postMs * 1000 });
  results.phaseWindows.push({ name: "e2e", startUs: e2eStartUs, endUs: nowUs() });
  const cpuUsed = await cpu.end();
  await sleep(1100);
  const pgUsed = diffCounters(await pgCounters(pg), pg0);
  const last = await lastFinishedAt(pg, batchIds);
  const completed = progress.finished >= cfg.e2eJobs;
  const ms = completed && last ? last.getTime() - t0 : Date.now() - t0;
  const jobsPerS = (completed ? cfg.e2eJobs : progress.finished) / (ms / 1000);
  const sandbox = await fetch(`${stack.sandboxUrl}/__sandbox/stats`)
    .then((r) => r.json() as Promise<Record<string, unknown>>)
    .catch(() => null);
  results.e2e = {
    jobs: cfg.e2eJobs,
    completed,
    finished: progress.finished,
    byStatus: progress.byStatus,
    postMs,
    ms,
    jobsPerS,
    ratioToNoop: results.baseline ? jobsPerS / results.baseline.processJobsPerS : null,
    workerConcurrency: cfg.workerConcurrency,
    maxInFlight: cfg.maxInFlight,
    timeline,
    sandbox: sandbox && {
      tasksCreated: sandbox.tasksCreated,
      jobsWithMultipleTasks: sandbox.jobsWithMultipleTasks,
      callbacksSent: sandbox.callbacksSent,
      callbacksFailed: sandbox.callbacksFailed,
      callbackAttempts: sandbox.callbackAttempts,
      peakInFlight: sandbox.peakInFlight,
    },
    apiErrorsLogged: logSummary(stack.api?.service.logFile),
    pgPerJob: perJob(pgUsed, progress.finished),
    cpu: cpuUsed,
    cpuMsPerJob: cpuMsPer(cpuUsed, progress.finished),
  };
  say(`    ${completed ? "all" : "NOT all"} ${fmtInt(progress.finished)} finished ${JSON.stringify(progress.byStatus)} in ${fmt(ms / 1000, 1)} s (posting took ${fmt(postMs / 1000, 1)} s): ${fmtInt(jobsPerS)} jobs/s`);
  say(`    CPU ms per job ${JSON.stringify(results.e2e.cpuMsPerJob)}; machine busy ${fmt(cpuUsed.machineBusyShare * 100, 0)} %`);
  say(`    sandbox ${JSON.stringify(results.e2e.sandbox)}; api warnings/errors ${JSON.stringify(results.e2e.apiErrorsLogged)}`);
  if (!completed) results.errors.push(`e2e: only ${progress.finished} of ${cfg.e2eJobs} finished within ${cfg.e2eTimeoutMs / 1000} s`);
  if (sandbox && Number(sandbox.jobsWithMultipleTasks) > 0) results.errors.push(`e2e: ${String(sandbox.jobsWithMultipleTasks)} jobs got more than one upstream task`);
  notePeaks("e2e");
  results.peakRss.worker = await stack.stopWorker();
  await submitQueue.obliterate({ force: true });
  const left = await finishLeftovers(pg);
  if (left) say(`    (finished ${fmtInt(left)} unfinished e2e jobs directly in SQL)`);
}
