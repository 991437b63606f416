// `npm run test:faults`: the fault suite. For each scenario it starts sandbox, api and worker(s) as real
// processes on loopback, with a fresh database and queue prefix, submits a few thousand jobs, injects the
// scenario's fault (kill -9, several workers on one cap, Redis flush/restart, Postgres restart, a hostile
// upstream, a paused account), waits until every job is final, then checks from the outside (Postgres
// rows and the sandbox's own stats) that nothing was lost, nothing was sent upstream twice and the
// in-flight cap held. Prints one table per scenario and a summary; exits non-zero if any check failed.
//
// Knobs (environment):
//   FAULTS_JOBS (per scenario, default below), FAULTS_CAP (50), FAULTS_TIMEOUT_MS (120000),
//   FAULTS_STALL_MS (40000: nothing finished and no create call for this long = stuck), FAULTS_SEED (random; printed),
//   FAULTS_ONLY ("1,5" or scenario keys), FAULTS_ALLOW_FLUSHALL=1 or CI=true (adds a real FLUSHALL),
//   FAULTS_PAUSE_MS (8000: how long scenario 6 blocks the account),
//   FAULTS_WORKER_ENV / FAULTS_SANDBOX_ENV (JSON objects merged into every scenario's environment, to
//   isolate a problem), FAULTS_KEEP_DB=1 (keep each scenario's database and Redis keys to inspect),
//   DATABASE_URL / REDIS_URL (the local servers). Process logs: .faults/logs/<scenario>/.
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { mulberry32, type SandboxStats } from "@kex/sandbox";
import { Queue } from "bullmq";
import { Client } from "pg";
import { ensureServices, prepareDatabase } from "./lib/infra";
import {
  createDatabaseFromTemplate,
  deleteRedisPrefix,
  dropDatabase,
  ensurePostgresUp,
  ensureRedisUp,
  flushAllRedis,
  restartPostgres,
  restartRedis,
} from "./lib/machine";
import { freePort, ROOT, startService, waitHealthy, type Service } from "./lib/services";
import { startSlowProxy, type SlowProxy } from "./lib/slow-proxy";
import { renderPairs, renderTable, type Cell } from "./lib/table";

// ---------------------------------------------------------------------------------------------------
// Settings

const BASE_DATABASE_URL = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/kling_orchestrator";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const TEMPLATE_DATABASE_URL = (() => {
  const url = new URL(BASE_DATABASE_URL);
  url.pathname = "/kling_faults_template";
  return url.toString();
})();
// 1200 rather than 2000: the suite is bound by the cap (a slot is held until the final callback is
// processed, 1.5-2 s per job here), and eight scenarios of 1500 already took ~10 min on this 2-core machine.
const JOBS = intEnv("FAULTS_JOBS", 1200);
const CAP = intEnv("FAULTS_CAP", 50);
const TIMEOUT_MS = intEnv("FAULTS_TIMEOUT_MS", 120_000);
/** No job finished for this long while some are not final: the run is stuck, stop waiting. */
const STALL_MS = intEnv("FAULTS_STALL_MS", 40_000);
const SEED = intEnv("FAULTS_SEED", randomBytes(3).readUIntBE(0, 3));
const ONLY = (process.env.FAULTS_ONLY ?? "")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);
const ALLOW_FLUSHALL = process.env.FAULTS_ALLOW_FLUSHALL === "1" || process.env.CI === "true";
const KEEP_DATABASES = process.env.FAULTS_KEEP_DB === "1";
/** Diagnostics: JSON objects merged into every scenario's worker / sandbox environment. */
const EXTRA_WORKER_ENV = jsonEnv("FAULTS_WORKER_ENV");
const EXTRA_SANDBOX_ENV = jsonEnv("FAULTS_SANDBOX_ENV");
const RUN_ID = randomBytes(3).toString("hex");
const API_TOKEN = `faults_${randomBytes(18).toString("base64url")}`;
const CALLBACK_SECRET = randomBytes(32).toString("base64url");
const SANDBOX_KEY = "sandbox-key";
const CHUNK = 250; // jobs per POST /v1/batches
const FINAL = new Set(["succeeded", "failed", "canceled"]);
const IN_FLIGHT = new Set(["submitting", "submitted", "processing"]);

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${raw}`);
  return n;
}

function jsonEnv(name: string): Record<string, string> {
  const raw = process.env[name];
  if (!raw) return {};
  const parsed = JSON.parse(raw) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v)]));
}

const say = (line = "") => process.stdout.write(`${line}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;


// ---------------------------------------------------------------------------------------------------
// Types


interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

interface Progress {
  rows: number;
  final: number;
  /** When `final` last grew. */
  lastFinishedAt: number;
  byStatus: Record<string, number>;
  dbPeakInFlight: number;
  observedAt: number;
}

interface Ctx {
  scenario: Scenario;
  logDir: string;
  apiUrl: string;
  sandboxUrl: string;
  databaseUrl: string;
  prefix: string;
  started: number;
  deadline: number;
  rand: () => number;
  progress: Progress;
  accepted: Set<string>;
  submissionDone: boolean;
  /** Scenario-specific measurements, shown in its table and used by its checks. */
  facts: Record<string, Cell>;
  notes: string[];
  readyz: Array<{ at: number; paused: boolean; status: number }>;
  workers: Service[];
  proxy?: SlowProxy;
  sandboxStats(): Promise<SandboxStats>;
  sandboxOptions(patch: Record<string, unknown>): Promise<void>;
  /** Waits until this fraction of JOBS is final (or the deadline). */
  waitFinished(fraction: number): Promise<void>;
  killWorker(slot: number): Promise<void>;
  startWorker(slot: number): Service;
  mark(what: string): void;
}

interface Scenario {
  key: string;
  title: string;
  workers: number;
  /** A reason when the scenario is skipped. */
  skip?: string;
  sandboxEnv?: Record<string, string>;
  workerEnv?: Record<string, string>;
  /** Put a proxy between worker and sandbox that holds every create answer back this long. */
  upstreamAnswerDelayMs?: number;
  /** Error codes a `failed` job may carry here (anything else is a bug). */
  allowedFailureCodes: string[];
  fault?(ctx: Ctx): Promise<void>;
  checks?(ctx: Ctx, r: Analysis): Check[];
}

interface Analysis {
  submitted: number;
  rows: number;
  byStatus: Record<string, number>;
  finished: number;
  lost: number;
  missing: number;
  failureCodes: Record<string, number>;
  stats: SandboxStats;
  dbPeakInFlight: number;
  convergeMs: number | null;
  /** Stopped waiting because nothing finished for STALL_MS. */
  stalled: boolean;
  mismatches: string[];
  /** Jobs whose create reached upstream but whose worker never recorded the answer (killed in between). */
  answerLost: number;
  adopted: number;
  sweeperRequeues: number;
  reconcilerFixes: number;
  apiErrors: number;
}

interface Result {
  scenario: Scenario;
  analysis?: Analysis;
  checks: Check[];
  error?: string;
  facts: Record<string, Cell>;
  notes: string[];
  /** Why jobs were not final, when some were not. */
  diagnosis?: string[];
  durationMs: number;
  skipped?: string;
}

// ---------------------------------------------------------------------------------------------------
// Process bookkeeping: everything started here is stopped here, even on Ctrl-C.

const live = new Set<Service>();

function track(service: Service): Service {
  live.add(service);
  void service.exited.then(() => live.delete(service));
  return service;
}

async function stopAll(services: Service[], signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  await Promise.all(services.map((s) => s.stop(signal, 5000).catch(() => undefined)));
}

process.once("SIGINT", () => {
  say("\ninterrupted: stopping processes, restoring Redis and Postgres…");
  for (const s of live) s.proc.kill("SIGKILL");
  void Promise.allSettled([ensureRedisUp(REDIS_URL), ensurePostgresUp(BASE_DATABASE_URL)]).then(() => process.exit(130));
});
process.on("exit", () => {
  for (const s of live) s.proc.kill("SIGKILL");
});

// ---------------------------------------------------------------------------------------------------
// Helpers talking to the stack

async function pgQuery<T extends Record<string, unknown>>(databaseUrl: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: 3000, statement_timeout: 10_000 });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function getJson<T>(url: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${url}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

function item(scenarioIndex: number, i: number) {
  // 18 digits, unique per scenario and job: a fresh source video for the sandbox.
  const videoId = `7${String(scenarioIndex).padStart(2, "0")}${String(i).padStart(15, "0")}`;
  return { video_id: videoId, prompt: `fault suite job ${i}: the camera keeps moving forward`, metadata: { i } };
}

/**
 * Posts JOBS items in batches of CHUNK. A batch POST is not idempotent, so it is retried only when the
 * api certainly wrote nothing: 503 (Postgres unavailable) or a refused connection. Any other failure
 * may have stored the batch: it is reported and that chunk is not sent again.
 */
async function submitAll(ctx: Ctx, scenarioIndex: number, counters: { apiErrors: number; rateLimited?: number }): Promise<void> {
  const report = (line: string) => {
    counters.apiErrors++;
    if (counters.apiErrors <= 5) ctx.notes.push(line);
    if (counters.apiErrors > 40) throw new Error(`the api failed ${counters.apiErrors} times; stopped submitting`);
  };
  for (let start = 0; start < JOBS; start += CHUNK) {
    const items = Array.from({ length: Math.min(CHUNK, JOBS - start) }, (_, k) => item(scenarioIndex, start + k));
    for (;;) {
      let retry = false;
      let rateLimitedMs = 0;
      try {
        const res = await fetch(`${ctx.apiUrl}/v1/batches`, {
          method: "POST",
          headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({ items }),
          signal: AbortSignal.timeout(30_000),
        });
        const text = await res.text();
        if (res.status === 202) {
          const body = JSON.parse(text) as { jobs?: unknown };
          if (!Array.isArray(body.jobs)) {
            report(`POST /v1/batches answered 202 without a jobs array: ${text.slice(0, 160)}`);
          } else for (const id of body.jobs) ctx.accepted.add(String(id));
        } else if (res.status === 429) {
          // Rate limited (per tenant): nothing stored; wait as told.
          retry = true;
          rateLimitedMs = Math.min(10_000, 1000 * Number(res.headers.get("retry-after") ?? 1) || 1000);
          counters.rateLimited = (counters.rateLimited ?? 0) + 1;
        } else {
          retry = res.status === 503;
          report(
            `POST /v1/batches (jobs ${start}..${start + items.length - 1}) answered ${res.status}: ${text.slice(0, 200)}${retry ? " (retried)" : " (not retried: it may have been stored)"}`,
          );
        }
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause?.code;
        retry = cause === "ECONNREFUSED";
        report(`POST /v1/batches failed: ${(err as Error).message}${cause ? ` (${cause})` : ""}${retry ? " (retried)" : " (not retried)"}`);
      }
      if (!retry) break;
      if (Date.now() > ctx.deadline) throw new Error("could not submit every batch before the deadline");
      await sleep(rateLimitedMs || 500);
    }
    await sleep(150);
  }
}

/** Polls Postgres for the status counts; tolerates Postgres being down (keeps the last answer). */
async function monitor(ctx: Ctx, stop: { done: boolean }): Promise<void> {
  while (!stop.done) {
    try {
      const rows = await pgQuery<{ status: string; n: string }>(
        ctx.databaseUrl,
        "SELECT status::text AS status, count(*) AS n FROM jobs GROUP BY 1",
      );
      const byStatus: Record<string, number> = {};
      for (const r of rows) byStatus[r.status] = Number(r.n);
      const total = Object.values(byStatus).reduce((a, b) => a + b, 0);
      const final = Object.entries(byStatus).reduce((a, [s, n]) => a + (FINAL.has(s) ? n : 0), 0);
      const inFlight = Object.entries(byStatus).reduce((a, [s, n]) => a + (IN_FLIGHT.has(s) ? n : 0), 0);
      const now = Date.now();
      ctx.progress = {
        rows: total,
        final,
        lastFinishedAt: final > ctx.progress.final ? now : ctx.progress.lastFinishedAt,
        byStatus,
        dbPeakInFlight: Math.max(ctx.progress.dbPeakInFlight, inFlight),
        observedAt: now,
      };
    } catch {
      // Postgres restarting: try again.
    }
    if (process.stdout.isTTY) {
      const p = ctx.progress;
      process.stdout.write(
        `\r  ${secs(Date.now() - ctx.started).padStart(7)}  final ${p.final}/${ctx.accepted.size}  ${Object.entries(p.byStatus)
          .filter(([st]) => !FINAL.has(st))
          .map(([st, n]) => `${st} ${n}`)
          .join(", ")}\x1b[K`,
      );
    }
    await sleep(400);
  }
}

/** Polls the api's /readyz; records whether it reported the upstream account paused. */
async function watchReadyz(ctx: Ctx, stop: { done: boolean }): Promise<void> {
  while (!stop.done) {
    try {
      const res = await fetch(`${ctx.apiUrl}/readyz`, { signal: AbortSignal.timeout(2000) });
      const body = (await res.json()) as { checks?: { upstream_account?: unknown } };
      const account = body.checks?.upstream_account;
      const paused = typeof account === "object" && account !== null && (account as { status?: string }).status === "paused";
      ctx.readyz.push({ at: Date.now(), paused, status: res.status });
    } catch {
      ctx.readyz.push({ at: Date.now(), paused: false, status: 0 });
    }
    await sleep(250);
  }
}

interface SandboxTask {
  task_id: string;
  task_status: string;
  task_info?: { external_task_id?: string };
  task_result?: { videos?: Array<{ id: string }> };
}

async function listSandboxTasks(sandboxUrl: string): Promise<SandboxTask[]> {
  const all: SandboxTask[] = [];
  for (let page = 1; page <= 1000; page++) {
    const body = await getJson<{ data: SandboxTask[] }>(`${sandboxUrl}/kling/v1/videos/video-extend?pageNum=${page}&pageSize=500`, {
      headers: { authorization: `Bearer ${SANDBOX_KEY}` },
    });
    all.push(...body.data);
    if (body.data.length < 500) break;
  }
  return all;
}

/** The BullMQ queue the worker takes submits from (JOB_CATALOG.submit.queue). */
const SUBMIT_QUEUE = "submit";

function submitQueue(prefix: string): Queue {
  const url = new URL(REDIS_URL);
  const queue = new Queue(SUBMIT_QUEUE, {
    connection: { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: 1 },
    prefix,
  });
  queue.on("error", () => undefined);
  return queue;
}

/**
 * While the workers still run: what the submit queue holds, and what the submits BullMQ has active
 * are doing in Postgres (a submit waiting for an account slot is `queued`; one calling upstream is
 * `submitting`), and how many account slots Postgres counts as taken, by status.
 */
async function liveQueueSnapshot(ctx: Ctx): Promise<string[]> {
  const lines: string[] = [];
  const queue = submitQueue(ctx.prefix);
  try {
    lines.push(
      `while running: BullMQ ${JSON.stringify(await queue.getJobCounts("waiting", "active", "delayed", "prioritized", "failed", "completed"))}`,
    );
    const active = await queue.getActive(0, 999);
    const rows = await pgQuery<{ status: string; n: string }>(
      ctx.databaseUrl,
      "SELECT status::text AS status, count(*) AS n FROM jobs WHERE id::text = ANY($1) GROUP BY 1",
      [active.map((j) => j.id)],
    );
    lines.push(`while running: ${active.length} active submits, their rows: ${rows.map((r) => `${r.status} ${r.n}`).join(", ") || "-"}`);
    const slots = await pgQuery<{ status: string; n: string; delayed: string }>(
      ctx.databaseUrl,
      "SELECT status::text AS status, count(*) AS n FROM jobs WHERE status IN ('submitting', 'submitted', 'processing') GROUP BY 1",
    );
    const delayed = new Set((await queue.getDelayed(0, 9999)).map((j) => j.id));
    const submittingIds = await pgQuery<{ id: string }>(ctx.databaseUrl, "SELECT id::text AS id FROM jobs WHERE status = 'submitting'");
    const inBackoff = submittingIds.filter((r) => delayed.has(r.id)).length;
    lines.push(
      `while running: account slots held in Postgres: ${slots.map((r) => `${r.status} ${r.n}`).join(", ") || "none"} (of the submitting ones, ${inBackoff} are waiting in BullMQ's delayed set)`,
    );
  } catch (err) {
    lines.push(`snapshot failed: ${(err as Error).message}`);
  } finally {
    await queue.close().catch(() => undefined);
  }
  return lines;
}

/**
 * Why are jobs not final? For a few of them: the row, the last events, and where their submit is in
 * BullMQ; plus what the submits BullMQ considers active are doing in Postgres.
 */
async function diagnoseStuck(ctx: Ctx): Promise<string[]> {
  const lines: string[] = [];
  const stuck = await pgQuery<{ id: string; status: string; attempts: number; updated_at: Date; upstream_task_id: string | null }>(
    ctx.databaseUrl,
    `SELECT id::text AS id, status::text AS status, attempts, updated_at, upstream_task_id FROM jobs
     WHERE status NOT IN ('succeeded', 'failed', 'canceled')
     ORDER BY (status = 'queued'), updated_at LIMIT 5`,
  );
  const queue = submitQueue(ctx.prefix);
  try {
    lines.push(
      `after stopping the workers: BullMQ ${JSON.stringify(await queue.getJobCounts("waiting", "active", "delayed", "prioritized", "failed", "completed"))}`,
    );
    for (const row of stuck) {
      const state = await queue.getJobState(row.id).catch((err: unknown) => `? (${(err as Error).message})`);
      const job = await queue.getJob(row.id).catch(() => undefined);
      const bull = job
        ? `attemptsMade ${job.attemptsMade}, stalled ${String((job as unknown as { stalledCounter?: number }).stalledCounter ?? "-")}${job.failedReason ? `, failedReason "${job.failedReason}"` : ""}`
        : "no BullMQ job";
      lines.push(
        `job ${row.id}: ${row.status}, attempts ${row.attempts}, task ${row.upstream_task_id ?? "none"}, unchanged since ${secs(Date.now() - new Date(row.updated_at).getTime())} ago; BullMQ ${state} (${bull})`,
      );
      const events = await pgQuery<{
        at: Date;
        source: string;
        type: string;
        from_status: string | null;
        to_status: string | null;
        detail: string | null;
      }>(
        ctx.databaseUrl,
        "SELECT at, source::text AS source, type, from_status::text AS from_status, to_status::text AS to_status, detail FROM job_events WHERE job_id = $1::uuid ORDER BY id DESC LIMIT 6",
        [row.id],
      );
      for (const e of events.reverse()) {
        lines.push(
          `    ${new Date(e.at).toISOString().slice(11, 23)} ${e.source} ${e.type}${e.to_status ? ` ${e.from_status}→${e.to_status}` : ""}${e.detail ? `: ${e.detail.slice(0, 120)}` : ""}`,
        );
      }
    }
  } catch (err) {
    lines.push(`diagnosis failed: ${(err as Error).message}`);
  } finally {
    await queue.close().catch(() => undefined);
  }
  return lines;
}

/** Everything the checks need, read from the outside: Postgres rows, the event log, the sandbox. */
async function analyse(ctx: Ctx, convergeMs: number | null, stalled: boolean, apiErrors: number): Promise<Analysis> {
  const jobs = await pgQuery<{
    id: string;
    status: string;
    error_code: string | null;
    upstream_task_id: string | null;
    result_video_id: string | null;
  }>(ctx.databaseUrl, "SELECT id::text AS id, status::text AS status, error_code, upstream_task_id, result_video_id FROM jobs");
  const events = await pgQuery<{ answer_lost: string; adopted: string; requeued: string; reconciled: string }>(
    ctx.databaseUrl,
    `SELECT
       (SELECT count(*) FROM jobs j WHERE j.upstream_task_id IS NOT NULL AND (
          NOT EXISTS (SELECT 1 FROM job_events e WHERE e.job_id = j.id AND e.type = 'upstream_accepted')
          OR EXISTS (SELECT 1 FROM job_events e WHERE e.job_id = j.id AND e.type = 'upstream_accepted' AND e.detail LIKE '%adopted existing task%'))) AS answer_lost,
       (SELECT count(DISTINCT job_id) FROM job_events WHERE type = 'upstream_accepted' AND detail LIKE '%adopted existing task%') AS adopted,
       (SELECT count(*) FROM job_events WHERE source = 'sweeper' AND type = 'requeued') AS requeued,
       (SELECT count(*) FROM job_events WHERE source = 'reconciler' AND to_status IS NOT NULL) AS reconciled`,
  );
  const stats = await ctx.sandboxStats();
  const tasks = await listSandboxTasks(ctx.sandboxUrl);

  const byStatus: Record<string, number> = {};
  const failureCodes: Record<string, number> = {};
  const byId = new Map(jobs.map((j) => [j.id, j]));
  for (const j of jobs) {
    byStatus[j.status] = (byStatus[j.status] ?? 0) + 1;
    if (j.status === "failed") failureCodes[j.error_code ?? "(none)"] = (failureCodes[j.error_code ?? "(none)"] ?? 0) + 1;
  }
  const finished = jobs.filter((j) => FINAL.has(j.status)).length;
  const missing = [...ctx.accepted].filter((id) => !byId.has(id)).length;

  // Does upstream agree with Postgres? Every upstream task must be the one its job records, with the same outcome.
  const mismatches: string[] = [];
  const taskIds = new Set<string>();
  for (const t of tasks) {
    taskIds.add(t.task_id);
    const ext = t.task_info?.external_task_id;
    if (!ext) {
      mismatches.push(`task ${t.task_id} has no external_task_id`);
      continue;
    }
    const jobId = ext.slice(0, ext.lastIndexOf("-"));
    const job = byId.get(jobId);
    if (!job) {
      mismatches.push(`task ${t.task_id} (${ext}): no such job in Postgres`);
      continue;
    }
    if (job.upstream_task_id !== t.task_id) {
      mismatches.push(
        `task ${t.task_id} (${ext}, upstream ${t.task_status}): job ${job.id} is ${job.status} and records task ${job.upstream_task_id ?? "none"}`,
      );
      continue;
    }
    const expected = t.task_status === "succeed" ? "succeeded" : t.task_status === "failed" ? "failed" : null;
    if (expected === null) {
      if (FINAL.has(job.status)) mismatches.push(`task ${t.task_id}: still ${t.task_status} upstream but job ${job.id} is ${job.status}`);
    } else if (job.status !== expected && job.status !== "canceled") {
      mismatches.push(`task ${t.task_id}: upstream ${t.task_status}, job ${job.id} is ${job.status} (${job.error_code ?? "-"})`);
    } else if (expected === "succeeded" && job.result_video_id !== (t.task_result?.videos?.[0]?.id ?? null)) {
      mismatches.push(`task ${t.task_id}: result video ${t.task_result?.videos?.[0]?.id} upstream, ${job.result_video_id} in Postgres`);
    }
  }
  for (const j of jobs) {
    if (j.upstream_task_id && !taskIds.has(j.upstream_task_id))
      mismatches.push(`job ${j.id} records task ${j.upstream_task_id}, unknown upstream`);
    if (j.status === "succeeded" && !j.upstream_task_id) mismatches.push(`job ${j.id} succeeded without an upstream task`);
  }

  const e = events[0]!;
  return {
    submitted: ctx.accepted.size,
    rows: jobs.length,
    byStatus,
    finished,
    lost: jobs.length - finished + missing,
    missing,
    failureCodes,
    stats,
    dbPeakInFlight: ctx.progress.dbPeakInFlight,
    convergeMs,
    stalled,
    mismatches,
    answerLost: Number(e.answer_lost),
    adopted: Number(e.adopted),
    sweeperRequeues: Number(e.requeued),
    reconcilerFixes: Number(e.reconciled),
    apiErrors,
  };
}

// ---------------------------------------------------------------------------------------------------
// One scenario

async function runScenario(scenario: Scenario, index: number): Promise<Result> {
  const began = Date.now();
  const logDir = path.join(ROOT, ".faults/logs", scenario.key);
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });
  const dbUrl = new URL(BASE_DATABASE_URL);
  dbUrl.pathname = `/kling_faults_${index}`;
  const databaseUrl = dbUrl.toString();
  const prefix = `{kex-faults-${index}-${RUN_ID}}`;
  const services: Service[] = [];
  let stoppingServices = false;
  let proxy: SlowProxy | undefined;
  const facts: Record<string, Cell> = {};
  const notes: string[] = [];
  const diagnosis: string[] = [];
  const stop = { done: false };
  const background: Promise<void>[] = [];
  let analysis: Analysis | undefined;
  const checks: Check[] = [];
  let error: string | undefined;

  try {
    // A copy of the suite's template, migrated once with prepareDatabase (see main).
    await dropDatabase(databaseUrl).catch(() => undefined);
    await createDatabaseFromTemplate(databaseUrl, TEMPLATE_DATABASE_URL);
    const [apiPort, sandboxPort] = [await freePort(), await freePort()];
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
    const common = { DATABASE_URL: databaseUrl, REDIS_URL: REDIS_URL, QUEUE_PREFIX: prefix, LOG_LEVEL: "warn" };

    const sandbox = track(
      startService({
        name: "sandbox",
        app: "sandbox",
        logDir,
        direct: true,
        env: {
          SANDBOX_PORT: String(sandboxPort),
          SANDBOX_HOST: "127.0.0.1",
          SANDBOX_API_KEY: SANDBOX_KEY,
          SANDBOX_MAX_CONCURRENCY: "0",
          SANDBOX_PROCESSING_DELAY_MS: "20",
          SANDBOX_COMPLETE_DELAY_MIN_MS: "50",
          SANDBOX_COMPLETE_DELAY_MAX_MS: "300",
          SANDBOX_FAILURE_RATE: "0.02",
          SANDBOX_SEED: String((SEED + index) % 2 ** 31),
          ...scenario.sandboxEnv,
          ...EXTRA_SANDBOX_ENV,
        },
      }),
    );
    services.push(sandbox);
    const api = track(
      startService({
        name: "api",
        app: "api",
        logDir,
        direct: true,
        env: { ...common, PORT: String(apiPort), HOST: "127.0.0.1", API_TOKEN, CALLBACK_SECRET },
      }),
    );
    services.push(api);

    if (scenario.upstreamAnswerDelayMs !== undefined) {
      proxy = await startSlowProxy({ target: sandboxUrl, answerDelayMs: scenario.upstreamAnswerDelayMs });
    }
    const workerEnv: Record<string, string> = {
      ...common,
      KLING_BASE_URL: proxy?.url ?? sandboxUrl,
      KLING_PATH_PREFIX: "/kling",
      KLING_API_KEY: SANDBOX_KEY,
      PUBLIC_BASE_URL: apiUrl,
      CALLBACK_SECRET,
      KLING_MAX_IN_FLIGHT: String(CAP),
      KLING_HTTP_TIMEOUT_MS: "5000",
      LOCK_DURATION_MS: "10000",
      SLOT_POLL_MS: "50",
      SWEEP_INTERVAL_MS: "2000",
      SWEEP_MIN_AGE_MS: "2000",
      RECONCILE_INTERVAL_MS: "2000",
      RECONCILE_AFTER_MS: "3000",
      RECONCILE_RPS: "50",
      RECONCILE_BATCH: "200",
      // Several workers share this host: any free port for their /metrics.
      METRICS_PORT: "0",
      ...scenario.workerEnv,
      ...EXTRA_WORKER_ENV,
    };
    const incarnations: number[] = [];
    // A process that exits on its own (not killed by a scenario, not stopped at the end) has crashed.
    const killedOnPurpose = new Set<Service>();
    const crashes: string[] = [];
    const watchCrash = (service: Service) => {
      void service.exited.then((code) => {
        if (killedOnPurpose.has(service) || stoppingServices) return;
        const tail = readFileSync(service.logFile, "utf8").trim().split("\n").slice(-6).join(" | ").slice(0, 600);
        crashes.push(
          `${service.name} exited by itself (code ${code}, signal ${service.proc.signalCode ?? "-"}) at ${secs(Date.now() - (ctx.started || began))}: ${tail}`,
        );
      });
    };
    watchCrash(sandbox);
    watchCrash(api);
    const startWorker = (slot: number): Service => {
      incarnations[slot] = (incarnations[slot] ?? 0) + 1;
      const n = incarnations[slot]!;
      const w = track(
        startService({ name: `worker-${slot + 1}${n > 1 ? `.run${n}` : ""}`, app: "worker", logDir, direct: true, env: workerEnv }),
      );
      services.push(w);
      watchCrash(w);
      ctx.workers[slot] = w;
      return w;
    };

    const rand = mulberry32((SEED * 31 + index) >>> 0); // seeded, so a failing run repeats with FAULTS_SEED
    const ctx: Ctx = {
      scenario,
      logDir,
      apiUrl,
      sandboxUrl,
      databaseUrl,
      prefix,
      started: 0,
      deadline: 0,
      rand,
      progress: { rows: 0, final: 0, lastFinishedAt: 0, byStatus: {}, dbPeakInFlight: 0, observedAt: 0 },
      accepted: new Set(),
      submissionDone: false,
      facts,
      notes,
      readyz: [],
      workers: [],
      proxy,
      sandboxStats: () => getJson<SandboxStats>(`${sandboxUrl}/__sandbox/stats`),
      async sandboxOptions(patch) {
        await getJson(`${sandboxUrl}/__sandbox/options`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(patch),
        });
      },
      async waitFinished(fraction) {
        while (ctx.progress.final < fraction * JOBS && Date.now() < ctx.deadline) await sleep(100);
      },
      async killWorker(slot) {
        const w = ctx.workers[slot];
        if (!w) return;
        killedOnPurpose.add(w);
        w.proc.kill("SIGKILL");
        await w.exited;
      },
      startWorker,
      mark(what) {
        ctx.notes.push(`${secs(Date.now() - ctx.started).padStart(7)}  ${what}`);
      },
    };

    await Promise.all([waitHealthy(sandbox, `${sandboxUrl}/__sandbox/stats`), waitHealthy(api, `${apiUrl}/readyz`)]);
    for (let slot = 0; slot < scenario.workers; slot++) startWorker(slot);
    facts["setup"] = secs(Date.now() - began);

    ctx.started = Date.now();
    ctx.deadline = ctx.started + TIMEOUT_MS;
    background.push(monitor(ctx, stop), watchReadyz(ctx, stop));
    const counters: { apiErrors: number; rateLimited?: number } = { apiErrors: 0 };
    const submission = submitAll(ctx, index, counters).then(
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
    // Let late callbacks and polls land, then freeze Postgres and Redis (workers and api stopped) so
    // the rows, the queue and the sandbox's tasks are compared at one moment. The sandbox stays up.
    if (convergeMs === null) diagnosis.push(...(await liveQueueSnapshot(ctx)));
    await sleep(convergeMs === null ? 0 : 1500);
    stop.done = true;
    await Promise.all(background);
    stoppingServices = true;
    await stopAll(services.filter((s) => s.name.startsWith("worker")));
    await stopAll(services.filter((s) => s.name === "api"));

    analysis = await analyse(ctx, convergeMs, stalled, counters.apiErrors);
    const a = analysis;
    if (a.lost > 0) diagnosis.push(...(await diagnoseStuck(ctx)));
    const allowed = new Set(scenario.allowedFailureCodes);
    const badFailures = Object.entries(a.failureCodes).filter(([code]) => !allowed.has(code));
    checks.push(
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
          a.convergeMs === null
            ? "not checked (did not converge)"
            : a.mismatches.length
              ? `${a.mismatches.length} mismatches, see below`
              : "ok",
      },
    );
    checks.push({ name: "no process crashed", ok: crashes.length === 0, detail: crashes.length ? `${crashes.length}, see notes` : "ok" });
    notes.push(...crashes);
    checks.push(...(scenario.checks?.(ctx, a) ?? []));
  } catch (err) {
    error = (err as Error).stack ?? String(err);
  } finally {
    stop.done = true;
    stoppingServices = true;
    await Promise.allSettled(background);
    await stopAll(services.filter((s) => s.name.startsWith("worker")));
    await stopAll(services);
    await proxy?.close().catch(() => undefined);
    // Restore the machine before anything else needs it.
    await ensureRedisUp(REDIS_URL).catch((err: unknown) => notes.push(`could not restore Redis: ${(err as Error).message}`));
    await ensurePostgresUp(BASE_DATABASE_URL).catch((err: unknown) => notes.push(`could not restore Postgres: ${(err as Error).message}`));
    if (KEEP_DATABASES) notes.push(`database and Redis keys kept: ${databaseUrl}, ${prefix}*`);
    else await dropDatabase(databaseUrl).catch((err: unknown) => notes.push(`could not drop ${databaseUrl}: ${(err as Error).message}`));
    if (!KEEP_DATABASES)
      await deleteRedisPrefix(REDIS_URL, prefix).catch((err: unknown) =>
        notes.push(`could not clean Redis prefix ${prefix}: ${(err as Error).message}`),
      );
  }
  return { scenario, analysis, checks, error, facts, notes, diagnosis, durationMs: Date.now() - began };
}

// ---------------------------------------------------------------------------------------------------
// Scenarios

const KILLS = 10;
/** How long scenario 6 keeps the account blocked (1102). */
const PAUSE_FOR_MS = intEnv("FAULTS_PAUSE_MS", 8000);

/** Redis-side faults share one shape: run until ~30% finished, then break Redis once. */
function redisFault(action: (ctx: Ctx) => Promise<string>) {
  return async (ctx: Ctx) => {
    await ctx.waitFinished(0.3);
    ctx.mark(`${await action(ctx)}`);
  };
}

const SCENARIOS: Scenario[] = [
  {
    key: "1-worker-sigkill",
    title: `worker killed with SIGKILL ${KILLS} times at random moments, restarted after each; create answers held 250 ms, 20% of callbacks dropped`,
    workers: 1,
    // The sandbox's responseDelayMs delays *before* reading the request, so a kill during it aborts the
    // create and no task is made. A proxy that forwards at once and holds the answer makes the kill land
    // where it hurts: upstream has the task, the row still says `submitting`. Dropped callbacks make some
    // of those jobs depend on the re-submit finding the task by external_task_id.
    upstreamAnswerDelayMs: 250,
    sandboxEnv: { SANDBOX_CALLBACK_DROP_RATE: "0.2" },
    workerEnv: { WORKER_CONCURRENCY: "32" },
    allowedFailureCodes: ["task_failed"],
    async fault(ctx) {
      const proxy = ctx.proxy!;
      let kills = 0;
      let killedWhileHeld = 0;
      let heldAtKills = 0;
      for (let k = 1; k <= KILLS; k++) {
        // Wait until this incarnation is up and submitting (it sends a create call of its own)…
        const until = Date.now() + 8000;
        const seen = proxy.forwardedCreates();
        while (Date.now() < until && ctx.progress.final < JOBS && proxy.forwardedCreates() === seen) await sleep(20);
        // …then kill at a random moment; every other kill waits for a create answer being held.
        if (k % 2 === 1) await sleep(ctx.rand() * 1500);
        else {
          while (Date.now() < until && ctx.progress.final < JOBS && proxy.pending().heldCreates === 0) await sleep(5);
          await sleep(ctx.rand() * 100);
        }
        const held = proxy.pending().heldCreates;
        await ctx.killWorker(0);
        kills++;
        heldAtKills += held;
        if (held > 0) killedWhileHeld++;
        ctx.mark(`SIGKILL #${k}: ${held} create calls accepted upstream, answer not yet received`);
        // Restart; the dead incarnation's held answers drain meanwhile (they go nowhere).
        await sleep(300 + ctx.rand() * 500);
        ctx.startWorker(0);
      }
      ctx.facts["kills"] = kills;
      ctx.facts["kills between upstream accept and row update"] = `${killedWhileHeld} (${heldAtKills} create answers lost)`;
    },
    checks: (ctx, a) => [
      { name: `worker killed ${KILLS} times`, ok: ctx.facts["kills"] === KILLS, detail: String(ctx.facts["kills"] ?? 0) },
      {
        name: "kills landed between upstream accept and row update",
        ok: a.answerLost > 0,
        detail: `${a.answerLost} jobs whose create answer died with a worker (${a.adopted} found again by the re-submit)`,
      },
    ],
  },
  {
    key: "2a-two-workers",
    title: "two worker processes sharing one cap",
    workers: 2,
    allowedFailureCodes: ["task_failed"],
    checks: (_ctx, a) => [capReached(a)],
  },
  {
    key: "2b-four-workers",
    title: "four worker processes sharing one cap",
    workers: 4,
    allowedFailureCodes: ["task_failed"],
    checks: (_ctx, a) => [capReached(a)],
  },
  {
    key: "3a-redis-prefix-flush",
    title: "Redis wiped mid-run (every key of the orchestrator's QUEUE_PREFIX, SCAN+DEL)",
    workers: 1,
    allowedFailureCodes: ["task_failed"],
    fault: redisFault(async (ctx) => `deleted ${await deleteRedisPrefix(REDIS_URL, ctx.prefix)} keys under ${ctx.prefix}`),
    checks: (_ctx, a) => [
      { name: "the sweeper re-enqueued jobs after the wipe", ok: a.sweeperRequeues > 0, detail: String(a.sweeperRequeues) },
    ],
  },
  {
    key: "3b-redis-flushall",
    title: "Redis FLUSHALL mid-run",
    workers: 1,
    skip: ALLOW_FLUSHALL ? undefined : "set FAULTS_ALLOW_FLUSHALL=1 (or CI=true) to flush the whole Redis",
    allowedFailureCodes: ["task_failed"],
    fault: redisFault(async () => {
      await flushAllRedis(REDIS_URL);
      return "FLUSHALL";
    }),
    checks: (_ctx, a) => [
      { name: "the sweeper re-enqueued jobs after the flush", ok: a.sweeperRequeues > 0, detail: String(a.sweeperRequeues) },
    ],
  },
  {
    key: "3c-redis-restart",
    title: "Redis restarted mid-run (shutdown nosave, start again: all data gone)",
    workers: 1,
    allowedFailureCodes: ["task_failed"],
    fault: redisFault(async (ctx) => {
      const { downMs } = await restartRedis(REDIS_URL);
      ctx.facts["redis down"] = secs(downMs);
      return `Redis restarted (down ${secs(downMs)})`;
    }),
    checks: (_ctx, a) => [
      { name: "the sweeper re-enqueued jobs after the restart", ok: a.sweeperRequeues > 0, detail: String(a.sweeperRequeues) },
    ],
  },
  {
    key: "4-postgres-restart",
    title: "Postgres restarted mid-run",
    workers: 1,
    allowedFailureCodes: ["task_failed"],
    async fault(ctx) {
      await ctx.waitFinished(0.3);
      ctx.mark("restarting Postgres");
      const { downMs } = await restartPostgres(BASE_DATABASE_URL);
      ctx.facts["postgres down"] = secs(downMs);
      ctx.mark(`Postgres answers again (${secs(downMs)})`);
    },
  },
  {
    key: "5-hostile-upstream",
    title: `upstream: 20% 5xx, 1303 (account limit ${Math.max(1, Math.round(CAP * 0.16))} < cap), callbacks 15% dropped / 20% duplicated / 10% reordered`,
    workers: 1,
    sandboxEnv: {
      SANDBOX_ERROR_5XX_RATE: "0.2",
      // Fewer upstream slots than our cap (the account is shared with someone else), so 1303 really happens:
      // our own in-flight count in Postgres runs well above upstream's (a slot is freed when the final
      // callback is processed), so a limit near the cap would never be reached.
      SANDBOX_MAX_CONCURRENCY: String(Math.max(1, Math.round(CAP * 0.16))),
      SANDBOX_CALLBACK_DROP_RATE: "0.15",
      SANDBOX_CALLBACK_DUPLICATE_RATE: "0.2",
      SANDBOX_CALLBACK_REORDER_RATE: "0.1",
    },
    workerEnv: { WORKER_CONCURRENCY: "32" },
    // 8 attempts at 20% 5xx: exhausting them is possible in theory (2.6e-6 per job), so it is legitimate.
    allowedFailureCodes: ["task_failed", "upstream_unavailable"],
    checks: (_ctx, a) => {
      const r = a.stats.rejectedByCode;
      const n1303 = r["1303"] ?? 0;
      const n5xx = (r["5000"] ?? 0) + (r["5001"] ?? 0) + (r["5002"] ?? 0);
      return [
        { name: "upstream answered 1303", ok: n1303 > 0, detail: `${n1303} (${pct(n1303, a.stats.createRequests)} of creates)` },
        { name: "upstream answered 5xx", ok: n5xx > 0, detail: `${n5xx} (${pct(n5xx, a.stats.createRequests)} of creates)` },
        {
          name: "callbacks were dropped, duplicated and reordered",
          ok: (a.stats.callbacksDropped ?? 0) > 0 && (a.stats.callbacksDuplicated ?? 0) > 0 && (a.stats.callbacksReordered ?? 0) > 0,
          detail: `dropped ${a.stats.callbacksDropped}, duplicated ${a.stats.callbacksDuplicated}, reordered ${a.stats.callbacksReordered}`,
        },
        { name: "the reconciler recovered missed callbacks", ok: a.reconcilerFixes > 0, detail: String(a.reconcilerFixes) },
      ];
    },
  },
  {
    key: "6-account-paused",
    title: `account paused by 1102 for ${secs(PAUSE_FOR_MS)}, then recovering (ACCOUNT_PAUSE_MS=3000)`,
    workers: 1,
    workerEnv: { ACCOUNT_PAUSE_MS: "3000" },
    allowedFailureCodes: ["task_failed"],
    async fault(ctx) {
      await ctx.waitFinished(0.2);
      const before = await ctx.sandboxStats();
      await ctx.sandboxOptions({ accountError: 1102 });
      const from = Date.now();
      ctx.mark("upstream answers 1102 to every create");
      await sleep(PAUSE_FOR_MS);
      await ctx.sandboxOptions({ accountError: null });
      const to = Date.now();
      const after = await ctx.sandboxStats();
      ctx.mark("upstream accepts again");
      ctx.facts["pauseFrom"] = from;
      ctx.facts["pauseTo"] = to;
      ctx.facts["create calls while blocked"] = after.createRequests - before.createRequests;
    },
    checks: (ctx, a) => {
      const from = Number(ctx.facts["pauseFrom"]);
      const to = Number(ctx.facts["pauseTo"]) + 3000 + 1000;
      const during = ctx.readyz.filter((r) => r.at >= from && r.at <= to);
      const paused = during.filter((r) => r.paused);
      const pausedOutside = ctx.readyz.filter((r) => r.paused && (r.at < from || r.at > to + 2000));
      delete ctx.facts["pauseFrom"];
      delete ctx.facts["pauseTo"];
      const n1102 = a.stats.rejectedByCode["1102"] ?? 0;
      return [
        { name: "upstream refused creates with 1102", ok: n1102 > 0, detail: String(n1102) },
        {
          name: "/readyz reported the pause while it lasted",
          ok: paused.length > 0 && paused.every((r) => r.status === 503),
          detail: `${paused.length} of ${during.length} samples paused (HTTP ${[...new Set(paused.map((r) => r.status))].join("/") || "-"})`,
        },
        {
          name: "/readyz ready again after recovery",
          ok: pausedOutside.length === 0 && ctx.readyz.at(-1)?.paused === false,
          detail: `${pausedOutside.length} paused samples outside the window`,
        },
      ];
    },
  },
];

function capReached(a: Analysis): Check {
  return {
    name: "the cap was the limit (Postgres in-flight reached it)",
    ok: a.dbPeakInFlight >= CAP,
    detail: `peak ${a.dbPeakInFlight} in Postgres`,
  };
}

function pct(n: number, of: number): string {
  return of > 0 ? `${((100 * n) / of).toFixed(1)}%` : "-";
}

// ---------------------------------------------------------------------------------------------------
// Output

function printScenario(r: Result): void {
  if (process.stdout.isTTY) process.stdout.write("\r\x1b[K");
  const failed = r.error || r.checks.some((c) => !c.ok);
  say(`\n== ${r.scenario.key}: ${r.scenario.title}`);
  if (r.skipped) {
    say(`  skipped: ${r.skipped}`);
    return;
  }
  const a = r.analysis;
  if (a) {
    const s = a.stats;
    const pairs: Array<[string, Cell]> = [
      ["submitted (accepted by the api)", a.submitted],
      [
        "finished",
        `${a.finished}  (succeeded ${a.byStatus["succeeded"] ?? 0}, failed ${a.byStatus["failed"] ?? 0}, canceled ${a.byStatus["canceled"] ?? 0})`,
      ],
      ["lost", a.lost],
      ["jobs with more than one upstream task", s.jobsWithMultipleTasks],
      ["peak in flight upstream / cap", `${s.peakInFlight} / ${CAP}  (Postgres peak ${a.dbPeakInFlight})`],
      [
        "time to converge",
        a.convergeMs !== null
          ? secs(a.convergeMs)
          : a.stalled
            ? `never: stuck (nothing finished for ${secs(STALL_MS)})`
            : `not within ${secs(TIMEOUT_MS)}`,
      ],
      [
        "failed by code",
        Object.entries(a.failureCodes)
          .map(([c, n]) => `${c} ${n}`)
          .join(", ") || "-",
      ],
      ["upstream", `${s.tasksCreated} tasks, ${s.createRequests} create calls, rejected ${JSON.stringify(s.rejectedByCode)}`],
      [
        "callbacks",
        `${s.callbacksSent ?? "?"} delivered, ${s.callbacksFailed ?? "?"} failed after retries, ${s.callbacksDropped ?? "?"} dropped, ${s.callbacksDuplicated ?? "?"} duplicated, ${s.callbacksReordered ?? "?"} reordered`,
      ],
      [
        "recovery",
        `${a.answerLost} create answers lost to a crash (${a.adopted} adopted), ${a.sweeperRequeues} sweeper re-enqueues, ${a.reconcilerFixes} reconciler fixes`,
      ],
    ];
    if (a.apiErrors) pairs.push(["api errors while submitting (retried)", a.apiErrors]);
    for (const [k, v] of Object.entries(r.facts)) pairs.push([k, v]);
    say(renderPairs(pairs));
  }
  if (r.checks.length) {
    say("");
    say(
      renderTable(
        ["check", "result", "value"],
        r.checks.map((c) => [c.name, c.ok ? "PASS" : "FAIL", c.detail]),
      ),
    );
  }
  if (r.notes.length) {
    say("\n  timeline / notes:");
    for (const n of r.notes) say(`    ${n}`);
  }
  if (r.diagnosis?.length) {
    say("\n  not final, diagnosis:");
    for (const d of r.diagnosis) say(`    ${d}`);
  }
  if (a && a.convergeMs !== null && a.mismatches.length > 0) {
    say("\n  upstream/Postgres mismatches (first 10):");
    for (const m of a.mismatches.slice(0, 10)) say(`    ${m}`);
  }
  if (r.error) say(`\n  ERROR: ${r.error}`);
  say(
    `\n  logs: ${path.relative(ROOT, path.join(ROOT, ".faults/logs", r.scenario.key))}/   scenario ${failed ? "FAILED" : "passed"} in ${secs(r.durationMs)}`,
  );
}

function printSummary(results: Result[], totalMs: number): void {
  say("\n== summary");
  const rows = results.map((r): Cell[] => {
    const a = r.analysis;
    if (r.skipped) return [r.scenario.key, "", "", "", "", "", "", "", "SKIP"];
    const result = r.error || r.checks.some((c) => !c.ok) ? "FAIL" : "PASS";
    if (!a) return [r.scenario.key, "", "", "", "", "", "", "", result];
    return [
      r.scenario.key,
      a.submitted,
      a.finished,
      a.byStatus["failed"] ?? 0,
      a.lost,
      a.stats.jobsWithMultipleTasks,
      `${a.stats.peakInFlight}/${CAP}`,
      a.convergeMs !== null ? secs(a.convergeMs) : a.stalled ? "stuck" : "timeout",
      result,
    ];
  });
  say(renderTable(["scenario", "submitted", "finished", "failed", "lost", "multi-task", "peak/cap", "converge", "result"], rows));
  say(`\n  total ${secs(totalMs)}, seed ${SEED} (FAULTS_SEED=${SEED} repeats the random choices), ${JOBS} jobs per scenario, cap ${CAP}`);
}

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  say(`fault suite: ${JOBS} jobs per scenario, cap ${CAP}, timeout ${secs(TIMEOUT_MS)}, seed ${SEED}`);
  await ensureServices({ databaseUrl: BASE_DATABASE_URL, redisUrl: REDIS_URL, log: say });
  await dropDatabase(TEMPLATE_DATABASE_URL);
  await prepareDatabase(TEMPLATE_DATABASE_URL);
  const selected = SCENARIOS.map((s, i) => ({ s, i: i + 1 })).filter(
    ({ s }) => ONLY.length === 0 || ONLY.some((o) => s.key === o || s.key.split("-")[0] === o || s.key.startsWith(`${o}`)),
  );
  const results: Result[] = [];
  for (const { s, i } of selected) {
    if (s.skip) {
      const r: Result = { scenario: s, checks: [], facts: {}, notes: [], durationMs: 0, skipped: s.skip };
      results.push(r);
      printScenario(r);
      continue;
    }
    say(`\n… ${s.key}: running`);
    const r = await runScenario(s, i);
    results.push(r);
    printScenario(r);
  }
  await dropDatabase(TEMPLATE_DATABASE_URL).catch(() => undefined);
  printSummary(results, Date.now() - started);
  const ran = results.filter((r) => !r.skipped);
  const failed = ran.filter((r) => r.error || r.checks.some((c) => !c.ok)).length;
  say(`\n${ran.length - failed} passed, ${failed} failed`);
  process.exitCode = failed > 0 ? 1 : 0;
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`\nfault suite failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await Promise.allSettled([ensureRedisUp(REDIS_URL), ensurePostgresUp(BASE_DATABASE_URL)]);
    // Open handles (pg, ioredis) must not keep the process alive.
    process.exit(process.exitCode ?? 0);
  });
