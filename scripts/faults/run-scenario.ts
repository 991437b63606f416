// One scenario from start to end: its own database and queue prefix, its processes, the load and the
// fault, the wait until every job is final, then the checks. Whatever happens, everything it started is
// stopped and the machine restored.
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { mulberry32 } from "@kex/core";
import { createDatabaseFromTemplate, dropDatabase, type Cell } from "@kex/testing";
import { ensurePostgresUp, ensureRedisUp } from "../lib/machine";
import { ROOT, type Service } from "../lib/services";
import { analyse } from "./lib/analyse";
import { startScenarioProcesses, stopAll, type ScenarioProcesses } from "./lib/processes";
import { queueWhere, removeScenarioQueue } from "./lib/queue";
import { diagnoseStuck, getJson, liveQueueSnapshot, monitor, submitAll, watchReadyz } from "./lib/stack-io";
import {
  BASE_DATABASE_URL,
  CAP,
  JOBS,
  KEEP_DATABASES,
  QUEUE_BACKEND,
  REDIS_URL,
  RUN_ID,
  SEED,
  STALL_MS,
  TEMPLATE_DATABASE_URL,
  TIMEOUT_MS,
  secs,
} from "./settings";
import type { Analysis, Check, Ctx, Result, SandboxStats, Scenario } from "./types";

/** What a scenario can do while it runs, over its processes. */
function scenarioContext(args: {
  scenario: Scenario;
  index: number;
  logDir: string;
  databaseUrl: string;
  prefix: string;
  processes: ScenarioProcesses;
  facts: Record<string, Cell>;
  notes: string[];
}): Ctx {
  const { processes } = args;
  const { sandboxUrl } = processes;
  const ctx: Ctx = {
    scenario: args.scenario,
    jobs: args.scenario.jobs ?? JOBS,
    logDir: args.logDir,
    apiUrl: processes.apiUrl,
    sandboxUrl,
    databaseUrl: args.databaseUrl,
    prefix: args.prefix,
    started: 0,
    deadline: 0,
    rand: mulberry32((SEED * 31 + args.index) >>> 0), // seeded, so a failing run repeats with FAULTS_SEED
    progress: { rows: 0, final: 0, lastFinishedAt: 0, byStatus: {}, dbPeakInFlight: 0, observedAt: 0 },
    accepted: new Set(),
    submissionDone: false,
    counters: { apiErrors: 0 },
    facts: args.facts,
    notes: args.notes,
    readyz: [],
    workers: processes.workers,
    proxy: processes.proxy,
    sandboxStats: () => getJson<SandboxStats>(`${sandboxUrl}/__sandbox/stats`),
    async sandboxOptions(patch) {
      await getJson(`${sandboxUrl}/__sandbox/options`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(patch),
      });
    },
    async waitFinished(fraction) {
      while (ctx.progress.final < fraction * ctx.jobs && Date.now() < ctx.deadline) await sleep(100);
    },
    submit: (jobs) => submitAll(ctx, args.index, ctx.counters, jobs),
    killWorker: (slot) => processes.killWorker(slot),
    startWorker: (slot) => processes.startWorker(slot),
    mark(what) {
      ctx.notes.push(`${secs(Date.now() - ctx.started).padStart(7)}  ${what}`);
    },
  };
  return ctx;
}

/**
 * Submits every job and runs the fault at the same time, then waits until everything is submitted, the
 * fault is over and every row is final (converged), or nothing moves for STALL_MS (stalled), or the deadline.
 */
async function driveToConvergence(ctx: Ctx): Promise<{ convergeMs: number | null; stalled: boolean; apiErrors: number }> {
  const { scenario, notes, counters } = ctx;
  const submission = ctx.submit({ count: ctx.jobs, offset: 0 }).then(
    () => {
      ctx.submissionDone = true;
    },
    (err: unknown) => {
      ctx.submissionDone = true;
      notes.push(`submission: ${(err as Error).message}`);
    },
  );
  let faultDone = !scenario.fault;
  let faultError: string | undefined;
  const fault = scenario.fault
    ? scenario.fault(ctx).then(
        () => {
          faultDone = true;
        },
        (err: unknown) => {
          faultDone = true;
          faultError = (err as Error).message;
        },
      )
    : Promise.resolve();

  // Converged: everything submitted, the fault over, every row final (checked on a fresh observation).
  let convergeMs: number | null = null;
  let stalled = false;
  // Stuck means nothing finished *and* nothing was tried upstream for STALL_MS: a job retrying
  // through 5xx answers (backoff up to 30 s between tries) is slow, not stuck.
  let creates = -1;
  let lastCreateAt = 0;
  let createsCheckedAt = 0;
  while (Date.now() < ctx.deadline) {
    const p = ctx.progress;
    if (ctx.submissionDone && faultDone && p.observedAt > 0 && p.rows >= ctx.accepted.size && p.rows > 0 && p.final === p.rows) {
      convergeMs = p.observedAt - ctx.started;
      break;
    }
    if (Date.now() - createsCheckedAt >= 1000) {
      createsCheckedAt = Date.now();
      const now = await ctx.sandboxStats().then((st) => st.createRequests, () => creates);
      if (now !== creates) lastCreateAt = Date.now();
      creates = now;
    }
    const quietSince = Math.max(p.lastFinishedAt, ctx.started, lastCreateAt);
    if (ctx.submissionDone && faultDone && p.rows > p.final && Date.now() - quietSince > STALL_MS) {
      notes.push(`stalled: no job finished and no create reached upstream for ${secs(Date.now() - quietSince)}; stopped waiting`);
      stalled = true;
      break;
    }
    await sleep(100);
  }
  await Promise.race([Promise.all([submission, fault]), sleep(5000)]);
  if (counters.rateLimited) notes.push(`the api rate-limited ${counters.rateLimited} batch posts (429, retried after Retry-After)`);
  if (faultError) throw new Error(`fault injection failed: ${faultError}`);
  if (convergeMs === null) {
    notes.push(`did not converge${stalled ? "" : ` within ${secs(TIMEOUT_MS)}`}: ${JSON.stringify(ctx.progress.byStatus)}`);
  }
  return { convergeMs, stalled, apiErrors: counters.apiErrors };
}

/** The checks every scenario must pass, whatever its fault. */
function commonChecks(scenario: Scenario, a: Analysis, crashes: string[]): Check[] {
  const allowed = new Set(scenario.allowedFailureCodes);
  const badFailures = Object.entries(a.failureCodes).filter(([code]) => !allowed.has(code));
  return [
    { name: "lost = 0", ok: a.lost === 0, detail: `${a.lost}${a.missing ? ` (${a.missing} accepted jobs missing from Postgres)` : ""}` },
    {
      name: "jobs with more than one upstream task = 0",
      ok: a.stats.jobsWithMultipleTasks === 0,
      detail: String(a.stats.jobsWithMultipleTasks),
    },
    { name: `peak in flight upstream <= cap (${CAP})`, ok: a.stats.peakInFlight <= CAP, detail: String(a.stats.peakInFlight) },
    {
      name: `failures only for legitimate reasons (${scenario.allowedFailureCodes.join(", ")})`,
      ok: badFailures.length === 0,
      detail: badFailures.length ? badFailures.map(([c, n]) => `${c}: ${n}`).join(", ") : "ok",
    },
    {
      // Only meaningful once everything is final: before that, upstream is legitimately ahead of us.
      name: "upstream and Postgres agree on every task",
      ok: a.convergeMs === null || a.mismatches.length === 0,
      detail:
        a.convergeMs === null ? "not checked (did not converge)" : a.mismatches.length ? `${a.mismatches.length} mismatches, see below` : "ok",
    },
    { name: "no process crashed", ok: crashes.length === 0, detail: crashes.length ? `${crashes.length}, see notes` : "ok" },
  ];
}

export async function runScenario(scenario: Scenario, index: number): Promise<Result> {
  const began = Date.now();
  const logDir = path.join(ROOT, ".faults/logs", scenario.key);
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });
  const dbUrl = new URL(BASE_DATABASE_URL);
  dbUrl.pathname = `/kling_faults_${index}`;
  const databaseUrl = dbUrl.toString();
  const prefix = `{kex-faults-${index}-${RUN_ID}}`;
  const services: Service[] = [];
  let processes: ScenarioProcesses | undefined;
  let started = 0;
  const facts: Record<string, Cell> = {};
  const notes: string[] = [];
  const diagnosis: string[] = [];
  const stop = { done: false };
  const background: Promise<void>[] = [];
  let analysis: Analysis | undefined;
  const checks: Check[] = [];
  let error: string | undefined;
  const isWorker = (s: Service) => s.name.startsWith("worker");

  try {
    // A copy of the suite's template, migrated once with prepareDatabase (see index.ts).
    await dropDatabase(databaseUrl).catch(() => undefined);
    await createDatabaseFromTemplate(databaseUrl, TEMPLATE_DATABASE_URL);
    processes = await startScenarioProcesses({ scenario, index, logDir, databaseUrl, prefix, services, elapsed: () => Date.now() - (started || began) });
    const ctx = scenarioContext({ scenario, index, logDir, databaseUrl, prefix, processes, facts, notes });

    await processes.healthy();
    for (let slot = 0; slot < scenario.workers; slot++) processes.startWorker(slot);
    facts["setup"] = secs(Date.now() - began);

    ctx.started = started = Date.now();
    ctx.deadline = ctx.started + TIMEOUT_MS;
    background.push(monitor(ctx, stop), watchReadyz(ctx, stop));
    const { convergeMs, stalled, apiErrors } = await driveToConvergence(ctx);
    // Let late callbacks and polls land, then freeze Postgres and Redis (workers and api stopped) so
    // the rows, the queue and the sandbox's tasks are compared at one moment. The sandbox stays up.
    if (convergeMs === null) diagnosis.push(...(await liveQueueSnapshot(ctx)));
    await sleep(convergeMs === null ? 0 : 1500);
    stop.done = true;
    await Promise.all(background);
    processes.stopping();
    await stopAll(services.filter(isWorker));
    await stopAll(services.filter((s) => s.name === "api"));

    analysis = await analyse(ctx, convergeMs, stalled, apiErrors);
    if (analysis.lost > 0) diagnosis.push(...(await diagnoseStuck(ctx)));
    checks.push(...commonChecks(scenario, analysis, processes.crashes));
    notes.push(...processes.crashes);
    checks.push(...(scenario.checks?.(ctx, analysis) ?? []));
  } catch (err) {
    error = (err as Error).stack ?? String(err);
  } finally {
    stop.done = true;
    processes?.stopping();
    await Promise.allSettled(background);
    await stopAll(services.filter(isWorker));
    await stopAll(services);
    await processes?.proxy?.close().catch(() => undefined);
    // Restore the machine before anything else needs it.
    if (QUEUE_BACKEND === "redis")
      await ensureRedisUp(REDIS_URL).catch((err: unknown) => notes.push(`could not restore Redis: ${(err as Error).message}`));
    await ensurePostgresUp(BASE_DATABASE_URL).catch((err: unknown) => notes.push(`could not restore Postgres: ${(err as Error).message}`));
    const queue = { prefix, databaseUrl };
    if (KEEP_DATABASES) notes.push(`database and queue kept: ${databaseUrl}, ${queueWhere(queue)}`);
    else {
      // The queue first: on Postgres it lives in the scenario's database.
      await removeScenarioQueue(queue).catch((err: unknown) => notes.push(`could not remove the queue (${queueWhere(queue)}): ${(err as Error).message}`));
      await dropDatabase(databaseUrl).catch((err: unknown) => notes.push(`could not drop ${databaseUrl}: ${(err as Error).message}`));
    }
  }
  return { scenario, analysis, checks, error, facts, notes, diagnosis, durationMs: Date.now() - began };
}
