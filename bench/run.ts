// `npm run bench`: throughput and latency of the whole orchestrator on this machine, against the
// sandbox with instant completion. Not part of the test suite. See bench/README.md.
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { callbackToken, JOB_CATALOG } from "@kex/core";
import { deleteKeysUnder } from "@kex/testing";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import type { Client } from "pg";
import { ensureServices } from "../scripts/lib/infra";
import { runBaseline, type BaselineResult } from "./lib/baseline";
import { loadBenchConfig, type BenchConfig } from "./lib/config";
import { cpuWindow, findProcessByName, type CpuWindow, type PidSource } from "./lib/cpu";
import {
  batchProgress,
  connect,
  countJobs,
  diffCounters,
  finishLeftovers,
  freshDatabase,
  growJobs,
  lastFinishedAt,
  pgCounters,
  prepareProcessingJobs,
  sampleJobIds,
  type PgCounters,
} from "./lib/db";
import { runLoad, type LoadResult } from "./lib/load";
import { keyMemoryPerJob, usedMemory } from "./lib/redis";
import { fmt, fmtBytes, fmtInt, fmtMs, renderTable, type Row } from "./lib/report";
import { Stack } from "./lib/stack";
import { SAMPLE_PROMPTS } from "../scripts/lib/samples";

const BENCH_DIR = __dirname;
const say = (line: string) => process.stdout.write(`${line}\n`);

// ---------- targets (issue "See it and scale it", part 4) ----------
const TARGET = {
  ingestJobsPerS: 10_000,
  ingestRatio: 0.3,
  e2eJobsPerS: 2_000,
  webhookP99Ms: 20,
  getP99Ms: 5,
  redisBytesPerJob: 1024,
  /** "Flat": cost per job at the largest size at most this many times the cost at the smallest. */
  flatFactor: 1.5,
};

// ---------- request bodies ----------
const PROMPTS = SAMPLE_PROMPTS;

/** One batch body, like a real client's: 18-digit video ids the sandbox accepts, some optional fields. */
function batchBody(first: number, size: number): string {
  const items = Array.from({ length: size }, (_, i) => {
    const n = first + i;
    return {
      video_id: `8${String(n).padStart(17, "0")}`,
      prompt: `${PROMPTS[n % PROMPTS.length]!} (take ${n})`,
      ...(n % 3 === 0 ? { negative_prompt: "blurry, low quality" } : {}),
      ...(n % 4 === 0 ? { cfg_scale: 0.6 } : {}),
      metadata: { bench: true, index: n },
    };
  });
  return JSON.stringify({ items });
}

interface PostedBatch {
  id: string;
  total: number;
  jobs: string[];
  ms: number;
}

async function postBatch(apiUrl: string, token: string, body: string): Promise<PostedBatch> {
  const t0 = performance.now();
  const res = await fetch(`${apiUrl}/v1/batches`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body,
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  const ms = performance.now() - t0;
  if (res.status !== 202) throw new Error(`POST /v1/batches answered ${res.status}: ${text.slice(0, 300)}`);
  const parsed = JSON.parse(text) as { id: string; total: number; jobs: string[] };
  return { ...parsed, ms };
}

// ---------- results ----------
interface IngestPoint {
  /** Rows in `jobs` after this batch. */
  rowsAfter: number;
  batchSize: number;
  ms: number;
  jobsPerS: number;
  usPerJob: number;
  /** api CPU for this one request. */
  apiCpuMs: number;
}

/**
 * `floor` / `expressFloor`: the same load on bench/lib/get-floor-server.ts, the same query and JSON
 * served by plain node:http / by one bare Express route (no auth, logging or other middleware).
 */
type GetPoint = LoadResult & { rows: number; apiCpuUsPerRequest: number; floor?: LoadResult; expressFloor?: LoadResult };

interface Results {
  startedAt: string;
  finishedAt?: string;
  scale: string;
  settings: Record<string, unknown>;
  machine: { cores: number; load1AtStart: number };
  baseline?: BaselineResult;
  ingest?: {
    jobs: number;
    batches: number;
    ms: number;
    jobsPerS: number;
    ratioToAddBulk: number | null;
    perBatch: IngestPoint[];
    redisUsedMemoryDelta: number;
    waitingJobs: number;
    redisBytesPerWaitingJob: number;
    redisKeyBytesPerJob: number;
    redisJobHashBytes: number;
    /** CPU and Postgres counters cover the batches after the first (status GETs run after the first). */
    windowJobs: number;
    pgPerJob: Record<string, number>;
    cpu: CpuWindow;
    cpuMsPerJob: Record<string, number>;
  };
  webhook?: LoadResult & { preparedJobs: number; pgPerCallback: Record<string, number>; cpu: CpuWindow; cpuMsPerCallback: Record<string, number> };
  e2e?: {
    jobs: number;
    completed: boolean;
    finished: number;
    byStatus: Record<string, number>;
    postMs: number;
    ms: number;
    jobsPerS: number;
    ratioToNoop: number | null;
    workerConcurrency: number;
    maxInFlight: number;
    timeline: Array<{ s: number; finished: number; byStatus: Record<string, number> }>;
    sandbox: Record<string, unknown> | null;
    apiErrorsLogged: Record<string, number>;
    pgPerJob: Record<string, number>;
    cpu: CpuWindow;
    cpuMsPerJob: Record<string, number>;
  };
  growth: {
    ingest: IngestPoint[];
    get: GetPoint[];
    generate?: { rows: number; ms: number };
  };
  peakRss: Record<string, number>;
  /** VmHWM of each app after each phase (VmHWM only grows: the phase where it jumps is the one that needed it). */
  peakRssAfter: Record<string, Record<string, number>>;
  /** CLOCK_MONOTONIC windows (µs) of each measurement, to slice the apps' CPU profiles by phase. */
  phaseWindows: Array<{ name: string; startUs: number; endUs: number }>;
  errors: string[];
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

function perJob(c: PgCounters, n: number): Record<string, number> {
  const r = (v: number) => Math.round((v / Math.max(1, n)) * 100) / 100;
  return {
    /** Commits + rollbacks: every statement outside an explicit transaction counts as one. */
    transactions: r(c.xactCommit + c.xactRollback),
    rollbacks: r(c.xactRollback),
    rowsInserted: r(c.tupInserted),
    rowsUpdated: r(c.tupUpdated),
    rowsFetched: r(c.tupFetched),
    rowsReturned: r(c.tupReturned),
    jobsSeqScans: r(c.jobsSeqScan),
    jobsSeqRowsRead: r(c.jobsSeqTupRead),
    jobsIndexScans: r(c.jobsIdxScan),
    eventsInserted: r(c.eventsInserted),
  };
}

/** CPU milliseconds per unit of work, per process group, plus their sum ("ours"). */
function cpuMsPer(cpu: CpuWindow, n: number): Record<string, number> {
  const out: Record<string, number> = {};
  let ours = 0;
  for (const [k, v] of Object.entries(cpu.byProcess)) {
    out[k] = Math.round(((v * 1000) / Math.max(1, n)) * 1000) / 1000;
    ours += v;
  }
  out.ours = Math.round(((ours * 1000) / Math.max(1, n)) * 1000) / 1000;
  out.machine = Math.round(((cpu.machineBusyS * 1000) / Math.max(1, n)) * 1000) / 1000;
  return out;
}

/** Error lines in an app log, by message (LOG_LEVEL=warn: warnings and errors only). */
function logSummary(file: string | undefined): Record<string, number> {
  const counts: Record<string, number> = {};
  if (!file) return counts;
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return counts;
  }
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const j = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } | string };
      if ((j.level ?? 0) < 40) continue;
      const err = typeof j.err === "string" ? j.err : (j.err?.message ?? "");
      const key = `${j.msg ?? "?"}${err ? `: ${err.slice(0, 90)}` : ""}`;
      counts[key] = (counts[key] ?? 0) + 1;
    } catch {
      // not a log line
    }
  }
  return counts;
}

async function main(): Promise<void> {
  const cfg = loadBenchConfig();
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const resultsDir = path.join(BENCH_DIR, "results");
  const logDir = path.join(resultsDir, "logs", stamp);
  const profileDir = path.join(resultsDir, "profiles", stamp);
  mkdirSync(logDir, { recursive: true });
  const runId = randomBytes(4).toString("hex");
  const queuePrefix = `{kexbench-${runId}}`;
  const apiToken = `bench_${randomBytes(18).toString("base64url")}`;
  const callbackSecret = randomBytes(32).toString("base64url");
  const results: Results = {
    startedAt: new Date().toISOString(),
    scale: cfg.scale,
    settings: {
      batchSize: cfg.batchSize,
      ingestBatches: cfg.ingestBatches,
      e2eJobs: cfg.e2eJobs,
      growthTotal: cfg.growthTotal,
      growthEventsPerJob: cfg.growthEventsPerJob,
      baselineJobs: cfg.baselineJobs,
      baselineChunk: cfg.baselineChunk,
      WORKER_CONCURRENCY: cfg.workerConcurrency,
      KLING_MAX_IN_FLIGHT: cfg.maxInFlight,
      DATABASE_POOL_MAX: cfg.dbPoolMax,
      API_RATE_LIMIT_PER_SEC: 0,
      LOG_LEVEL: "warn",
      connections: cfg.connections,
      loadSeconds: cfg.loadSeconds,
      webhookJobs: cfg.webhookJobs,
      phases: [...cfg.phases],
      profile: [...cfg.profile],
      sandbox: { maxConcurrency: 0, processingDelayMs: 0, completeDelayMs: 0, callbackOnSubmitted: true },
      queuePrefix,
      database: new URL(cfg.databaseUrl).pathname.slice(1),
    },
    machine: { cores: cpus().length, load1AtStart: loadavg()[0] ?? 0 },
    growth: { ingest: [], get: [] },
    peakRss: {},
    peakRssAfter: {},
    phaseWindows: [],
    errors: [],
  };
  const notePeaks = (phase: string) => {
    const out: Record<string, number> = {};
    for (const [name, t] of Object.entries({ api: stack.api, worker: stack.worker, sandbox: stack.sandbox })) {
      if (!t) continue;
      t.sample();
      out[name] = t.peakBytes;
    }
    results.peakRssAfter[phase] = out;
  };
  /** Runs `fn` and records its window under `name` (appending to a window of the same name). */
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const startUs = nowUs();
    try {
      return await fn();
    } finally {
      const endUs = nowUs();
      const existing = results.phaseWindows.find((w) => w.name === name);
      if (existing) existing.endUs = endUs;
      else results.phaseWindows.push({ name, startUs, endUs });
    }
  };

  say(`kling-orchestrator bench (${cfg.scale}): database ${results.settings.database}, queue prefix ${queuePrefix}, load average ${fmt(results.machine.load1AtStart, 2)} on ${results.machine.cores} cores`);
  say(`  logs: ${path.relative(process.cwd(), logDir)}${cfg.profile.size ? `, cpu profiles: ${path.relative(process.cwd(), profileDir)}` : ""}`);
  await ensureServices({ databaseUrl: cfg.databaseUrl, redisUrl: cfg.redisUrl, log: say });
  await freshDatabase(cfg.databaseUrl);
  say("✔ fresh database migrated");

  const redis = new Redis(cfg.redisUrl, { maxRetriesPerRequest: null });
  const pg: Client = await connect(cfg.databaseUrl);
  const submitQueue = new Queue(JOB_CATALOG.submit.queue, { connection: redis, prefix: queuePrefix });
  const stack = new Stack({
    databaseUrl: cfg.databaseUrl,
    redisUrl: cfg.redisUrl,
    queuePrefix,
    apiToken,
    callbackSecret,
    logDir,
    profileDir,
    profile: cfg.profile,
    dbPoolMax: cfg.dbPoolMax,
  });
  const authHeaders = { authorization: `Bearer ${apiToken}` };
  const redisPid = new URL(cfg.redisUrl).hostname === "127.0.0.1" || new URL(cfg.redisUrl).hostname === "localhost" ? findProcessByName("redis-server") : undefined;
  const postgresBackends = async () => {
    const { rows } = await pg.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
    return rows.map((r) => r.pid);
  };
  /** The processes whose CPU we attribute: our apps, their Postgres backends, the local Redis (shared with other users!). */
  const sources = (): Record<string, PidSource> => ({
    api: stack.api?.pid,
    ...(stack.worker && stack.worker.service.proc.exitCode === null ? { worker: stack.worker.pid } : {}),
    sandbox: stack.sandbox?.pid,
    postgres: postgresBackends,
    redis: redisPid,
  });
  let nextItem = 0;
  const bodies = (n: number) => {
    const out: string[] = [];
    for (let left = n; left > 0; left -= cfg.batchSize) {
      const size = Math.min(cfg.batchSize, left);
      out.push(batchBody(nextItem, size));
      nextItem += size;
    }
    return out;
  };

  let floorUrls: { node: string; express: string } | undefined;
  /** Status GETs rotating over ids sampled from the whole table, after a 1 s warm-up. */
  const measureGet = async (): Promise<GetPoint> => {
    const rows = await countJobs(pg);
    const ids = await sampleJobIds(pg, 20_000);
    let i = 0;
    const next = () => ({ path: `/v1/extensions/${ids[i++ % ids.length]!}` });
    await runLoad({ url: stack.apiUrl, method: "GET", headers: authHeaders, next, connections: cfg.connections, seconds: 1 });
    const cpu = await cpuWindow({ api: stack.api?.pid });
    const r = await timed(`get@${rows}`, () => runLoad({ url: stack.apiUrl, method: "GET", headers: authHeaders, next, connections: cfg.connections, seconds: cfg.loadSeconds }));
    const used = await cpu.end();
    const apiCpuUsPerRequest = (used.byProcess.api! * 1e6) / Math.max(1, r.requests);
    say(
      `    GET /v1/extensions/:id at ${fmtInt(rows)} rows: ${fmtInt(r.rps)} req/s, p50 ${fmtMs(r.p50Ms)} ms, p99 ${fmtMs(r.p99Ms)} ms, api CPU ${fmt(apiCpuUsPerRequest, 0)} µs/request${r.non2xx ? `, ${r.non2xx} non-2xx` : ""} (load ${fmt(used.load1[1], 1)})`,
    );
    if (r.non2xx || r.errors) results.errors.push(`status GET at ${rows} rows: ${r.non2xx} non-2xx, ${r.errors} errors`);
    // The same ids and load on the floors: what this machine does with the same work and less around it.
    floorUrls ??= await stack.startGetFloor();
    const onFloor = async (url: string, what: string) => {
      await runLoad({ url, method: "GET", headers: {}, next, connections: cfg.connections, seconds: 1 });
      const f = await runLoad({ url, method: "GET", headers: {}, next, connections: cfg.connections, seconds: cfg.loadSeconds });
      say(`      floor, ${what}: ${fmtInt(f.rps)} req/s, p50 ${fmtMs(f.p50Ms)} ms, p99 ${fmtMs(f.p99Ms)} ms`);
      if (f.non2xx || f.errors) results.errors.push(`GET floor (${what}) at ${rows} rows: ${f.non2xx} non-2xx, ${f.errors} errors`);
      return f;
    };
    const floor = await onFloor(floorUrls.node, "node:http");
    const expressFloor = await onFloor(floorUrls.express, "one bare Express route");
    return { ...r, rows, apiCpuUsPerRequest, floor, expressFloor };
  };

  const ingestOne = async (body: string, rowsAfter?: number): Promise<IngestPoint> => {
    const cpu = await cpuWindow({ api: stack.api?.pid });
    const posted = await postBatch(stack.apiUrl, apiToken, body);
    const used = await cpu.end();
    return {
      rowsAfter: rowsAfter ?? (await countJobs(pg)),
      batchSize: posted.total,
      ms: posted.ms,
      jobsPerS: posted.total / (posted.ms / 1000),
      usPerJob: (posted.ms * 1000) / posted.total,
      apiCpuMs: used.byProcess.api! * 1000,
    };
  };

  try {
    // ---------- 1. the ceiling: raw BullMQ ----------
    if (cfg.phases.has("baseline")) {
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

    say("\n[stack] starting sandbox (instant, unlimited) and api");
    await stack.startUpstreamAndApi();
    say(`    api ${stack.apiUrl}, sandbox ${stack.sandboxUrl}`);

    // ---------- 2. bulk ingest, worker stopped: ingest rate, first growth points, Redis per waiting job ----------
    if (cfg.phases.has("ingest")) {
      const n = cfg.ingestBatches * cfg.batchSize;
      say(`\n[ingest] ${fmtInt(n)} jobs: ${cfg.ingestBatches} × POST /v1/batches of ${fmtInt(cfg.batchSize)} (worker stopped)`);
      const payloads = bodies(n);
      const memBefore = await usedMemory(redis);
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
      const memAfter = await usedMemory(redis);
      const sample = (await pg.query<{ id: string }>("SELECT id FROM jobs ORDER BY random() LIMIT 50")).rows.map((r) => r.id);
      const keyMem = await keyMemoryPerJob(redis, { prefix: queuePrefix, queue: JOB_CATALOG.submit.queue, sampleIds: sample, waiting });
      const postMs = perBatch.reduce((a, p) => a + p.ms, 0);
      const jobsPerS = n / (postMs / 1000);
      results.ingest = {
        jobs: n,
        batches: payloads.length,
        ms: postMs,
        jobsPerS,
        ratioToAddBulk: results.baseline ? jobsPerS / results.baseline.addBulkJobsPerS : null,
        perBatch,
        redisUsedMemoryDelta: memAfter - memBefore,
        waitingJobs: waiting,
        redisBytesPerWaitingJob: waiting > 0 ? (memAfter - memBefore) / waiting : NaN,
        redisKeyBytesPerJob: keyMem.perJobBytes,
        redisJobHashBytes: keyMem.jobHashBytes,
        windowJobs,
        pgPerJob: perJob(pgUsed, windowJobs),
        cpu: cpuUsed,
        cpuMsPerJob: cpuMsPer(cpuUsed, windowJobs),
      };
      say(`    ${fmtInt(jobsPerS)} jobs/s overall; CPU ms per job ${JSON.stringify(results.ingest.cpuMsPerJob)}`);
      say(`    Redis ${fmtBytes(results.ingest.redisBytesPerWaitingJob)} per waiting job (${fmtInt(waiting)} waiting; MEMORY USAGE cross-check ${fmtBytes(keyMem.perJobBytes)})`);
      results.growth.ingest.push(perBatch[0]!);
      if (perBatch.length > 1) results.growth.ingest.push(perBatch[perBatch.length - 1]!);
      results.growth.get.push(await measureGet());
      notePeaks("ingest");
    }

    // ---------- 3. webhook receiver: duplicate `processing` callbacks for jobs in `processing` ----------
    if (cfg.phases.has("webhook")) {
      if ((await countJobs(pg)) === 0) await postBatch(stack.apiUrl, apiToken, bodies(Math.min(cfg.batchSize, cfg.webhookJobs))[0]!);
      const prepared = await prepareProcessingJobs(pg, cfg.webhookJobs);
      say(`\n[webhook] POST /webhooks/kling/:jobId?token=… (duplicate 'processing' callbacks) over ${prepared.length} jobs in 'processing', ${cfg.connections} connections, ${cfg.loadSeconds} s`);
      const requests = prepared.map((j) => ({
        path: `/webhooks/kling/${j.id}?token=${callbackToken(callbackSecret, j.id)}`,
        body: JSON.stringify({
          task_id: j.taskId,
          task_status: "processing",
          task_status_msg: "",
          task_info: { external_task_id: `${j.id}-1` },
          created_at: Date.now(),
          updated_at: Date.now(),
        }),
      }));
      let i = 0;
      const next = () => requests[i++ % requests.length]!;
      const headers = { "content-type": "application/json" };
      await runLoad({ url: stack.apiUrl, method: "POST", headers, next, connections: cfg.connections, seconds: 1 });
      await sleep(1100);
      const pg0 = await pgCounters(pg);
      const cpu = await cpuWindow(sources());
      const r = await timed("webhook", () => runLoad({ url: stack.apiUrl, method: "POST", headers, next, connections: cfg.connections, seconds: cfg.loadSeconds }));
      const cpuUsed = await cpu.end();
      await sleep(1100);
      const pgUsed = diffCounters(await pgCounters(pg), pg0);
      results.webhook = { ...r, preparedJobs: prepared.length, pgPerCallback: perJob(pgUsed, r.requests), cpu: cpuUsed, cpuMsPerCallback: cpuMsPer(cpuUsed, r.requests) };
      say(`    ${fmtInt(r.rps)} callbacks/s, p50 ${fmtMs(r.p50Ms)} ms, p99 ${fmtMs(r.p99Ms)} ms${r.non2xx ? `, ${r.non2xx} non-2xx` : ""}; CPU ms per callback ${JSON.stringify(results.webhook.cpuMsPerCallback)}`);
      if (r.non2xx || r.errors) results.errors.push(`webhook: ${r.non2xx} non-2xx, ${r.errors} errors`);
      notePeaks("webhook");
    }

    // Leave no backlog for the e2e phase: empty the submit queue and finish the rows left behind.
    await submitQueue.obliterate({ force: true });
    const leftovers = await finishLeftovers(pg);
    if (leftovers) say(`\n    (finished ${fmtInt(leftovers)} leftover jobs directly in SQL and emptied the submit queue)`);

    // ---------- 4. end to end: first POST → last job succeeded in Postgres ----------
    if (cfg.phases.has("e2e")) {
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

    // ---------- 5. growth to the largest size: one more batch and status GETs at that size ----------
    if (cfg.phases.has("growth") && cfg.growthTotal > 0) {
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
  } catch (err) {
    results.errors.push(err instanceof Error ? (err.stack ?? err.message) : String(err));
    say(`\n✗ bench failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    stack.api?.sample();
    stack.sandbox?.sample();
    results.peakRss.api = stack.api?.peakBytes ?? 0;
    results.peakRss.sandbox = stack.sandbox?.peakBytes ?? 0;
    if (stack.worker) results.peakRss.worker = Math.max(results.peakRss.worker ?? 0, stack.worker.peakBytes);
    await stack.stopAll().catch(() => undefined);
    await submitQueue.obliterate({ force: true }).catch(() => undefined);
    await submitQueue.close().catch(() => undefined);
    await deleteKeysUnder(redis, queuePrefix).catch(() => undefined);
    redis.disconnect();
    await pg.end().catch(() => undefined);
  }

  results.finishedAt = new Date().toISOString();
  const file = path.join(resultsDir, `${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  say(`\n${renderTable(tableRows(results, cfg))}`);
  say(
    `\nsettings: sandbox instant (delays 0, maxConcurrency 0), WORKER_CONCURRENCY ${cfg.workerConcurrency}, KLING_MAX_IN_FLIGHT ${cfg.maxInFlight}, DATABASE_POOL_MAX ${cfg.dbPoolMax}, API_RATE_LIMIT_PER_SEC 0, autocannon ${cfg.connections} connections × ${cfg.loadSeconds} s; ${results.machine.cores} cores, load average ${fmt(results.machine.load1AtStart, 2)} at start (other users share this machine: compare CPU per job, not only rates)`,
  );
  say(`results: ${path.relative(process.cwd(), file)}`);
  if (results.errors.length) {
    say(`\nproblems:\n${results.errors.map((e) => `  - ${e.split("\n")[0]}`).join("\n")}`);
    process.exitCode = 1;
  }
}

function tableRows(r: Results, cfg: BenchConfig): Row[] {
  const rows: Row[] = [];
  const cpuRow = (label: string, c: Record<string, number>): Row => ({
    metric: label,
    value: ["api", "worker", "sandbox", "postgres", "redis"]
      .filter((k) => c[k] !== undefined)
      .map((k) => `${k} ${fmt(c[k]!, 2)}`)
      .join(" · "),
  });
  /**
   * What this machine could do if nothing else ran and only this CPU per job were spent: all our
   * processes share the cores, and each single-threaded one (api, worker, sandbox: Node; Redis) can
   * use at most one. A noise-free ceiling to read next to the measured rate on a shared machine.
   */
  const ceilingRow = (c: Record<string, number>, unit: string): Row => {
    const bounds: Array<[string, number]> = [[`${r.machine.cores} cores`, (r.machine.cores * 1000) / Math.max(1e-9, c.ours!)]];
    for (const k of ["api", "worker", "sandbox", "redis"]) if (c[k]) bounds.push([`${k} (one thread)`, 1000 / c[k]!]);
    bounds.sort((x, y) => x[1] - y[1]);
    return { metric: `  → CPU-bound ceiling (bound: ${bounds[0]![0]})`, value: `${fmtInt(bounds[0]![1])} ${unit}/s` };
  };
  const b = r.baseline;
  if (b) {
    rows.push({ section: `baseline: raw BullMQ on the same Redis (${fmtInt(b.jobs)} jobs)`, metric: "", value: "" });
    rows.push({ metric: `raw addBulk, chunks of ${b.chunk}`, value: `${fmtInt(b.addBulkJobsPerS)} jobs/s`, target: "ceiling" });
    rows.push({ metric: `no-op Worker, concurrency ${b.concurrency}`, value: `${fmtInt(b.processJobsPerS)} jobs/s`, target: "ceiling" });
    rows.push({ metric: "packages/queue enqueueSubmits alone (Redis only)", value: `${fmtInt(b.enqueueSubmitsJobsPerS)} jobs/s` });
  }
  const ing = r.ingest;
  if (ing) {
    rows.push({ section: `bulk ingest: ${ing.batches} × POST /v1/batches of ${fmtInt(cfg.batchSize)} (worker stopped)`, metric: "", value: "" });
    rows.push({ metric: `${fmtInt(ing.jobs)} jobs`, value: `${fmtInt(ing.jobsPerS)} jobs/s`, target: `≥ ${fmtInt(TARGET.ingestJobsPerS)} jobs/s`, ok: ing.jobsPerS >= TARGET.ingestJobsPerS });
    if (ing.ratioToAddBulk !== null) rows.push({ metric: "ratio to raw addBulk", value: fmt(ing.ratioToAddBulk, 2), target: `≥ ${TARGET.ingestRatio}`, ok: ing.ratioToAddBulk >= TARGET.ingestRatio });
    rows.push(cpuRow("CPU ms per job", ing.cpuMsPerJob));
    rows.push(ceilingRow(ing.cpuMsPerJob, "jobs"));
  }
  const e = r.e2e;
  if (e) {
    rows.push({ section: `end to end: first POST → last job succeeded (WORKER_CONCURRENCY ${e.workerConcurrency}, KLING_MAX_IN_FLIGHT ${e.maxInFlight})`, metric: "", value: "" });
    rows.push({
      metric: `${fmtInt(e.jobs)} jobs${e.completed ? "" : ` (only ${fmtInt(e.finished)} finished)`}`,
      value: `${fmtInt(e.jobsPerS)} jobs/s`,
      target: `≥ ${fmtInt(TARGET.e2eJobsPerS)} jobs/s`,
      ok: e.completed && e.jobsPerS >= TARGET.e2eJobsPerS,
    });
    if (e.ratioToNoop !== null) rows.push({ metric: "ratio to no-op worker", value: fmt(e.ratioToNoop, 3) });
    rows.push(cpuRow("CPU ms per job", e.cpuMsPerJob));
    rows.push(ceilingRow(e.cpuMsPerJob, "jobs"));
    rows.push({ metric: "Postgres transactions / rows written per job", value: `${fmt(e.pgPerJob.transactions!, 1)} / ${fmt(e.pgPerJob.rowsInserted! + e.pgPerJob.rowsUpdated!, 1)}` });
    if (e.sandbox) rows.push({ metric: "callbacks lost (sandbox gave up after retries)", value: fmtInt(Number(e.sandbox.callbacksFailed ?? 0)) });
  }
  const w = r.webhook;
  if (w) {
    rows.push({ section: `webhook receiver: duplicate 'processing' callbacks, autocannon ${w.connections} connections × ${fmt(w.durationS, 0)} s`, metric: "", value: "" });
    rows.push({ metric: "callbacks/s", value: fmtInt(w.rps) });
    rows.push({ metric: "latency p50 / p99", value: `${fmtMs(w.p50Ms)} / ${fmtMs(w.p99Ms)} ms`, target: `p99 ≤ ${TARGET.webhookP99Ms} ms`, ok: w.p99Ms <= TARGET.webhookP99Ms && !w.non2xx });
    rows.push(cpuRow("CPU ms per callback", w.cpuMsPerCallback));
    rows.push(ceilingRow(w.cpuMsPerCallback, "callbacks"));
  }
  const g = r.growth;
  if (g.ingest.length || g.get.length) {
    rows.push({ section: `growth: one ${fmtInt(cfg.batchSize)}-job batch and GET /v1/extensions/:id (${cfg.connections} connections) at each size`, metric: "", value: "" });
    for (const p of g.ingest) rows.push({ metric: `ingest batch at ${fmtInt(p.rowsAfter)} rows`, value: `${fmtInt(p.jobsPerS)} jobs/s · ${fmt(p.usPerJob, 0)} µs/job · api CPU ${fmt((p.apiCpuMs * 1000) / p.batchSize, 0)} µs/job` });
    const i0 = g.ingest[0];
    const i1 = g.ingest[g.ingest.length - 1];
    if (i0 && i1 && i1 !== i0) {
      const f = i1.usPerJob / i0.usPerJob;
      rows.push({ metric: `  ingest wall time per job, ${fmtInt(i1.rowsAfter)} vs ${fmtInt(i0.rowsAfter)} rows`, value: `${fmt(f, 2)}×`, target: `flat (≤ ${TARGET.flatFactor}×)`, ok: f <= TARGET.flatFactor });
    }
    for (const p of g.get) {
      rows.push({
        metric: `status GET at ${fmtInt(p.rows)} rows: p50 / p99`,
        value: `${fmtMs(p.p50Ms)} / ${fmtMs(p.p99Ms)} ms · ${fmtInt(p.rps)}/s · api ${fmt(p.apiCpuUsPerRequest, 0)} µs`,
        target: `p99 ≤ ${TARGET.getP99Ms} ms`,
        ok: p.p99Ms <= TARGET.getP99Ms && !p.non2xx,
      });
      for (const [what, f] of [["node:http", p.floor], ["one bare Express route", p.expressFloor]] as const) {
        if (!f) continue;
        rows.push({
          metric: `  floor, same query and JSON: ${what}`,
          value: `${fmtMs(f.p50Ms)} / ${fmtMs(f.p99Ms)} ms · ${fmtInt(f.rps)}/s · api at ${fmt(p.rps / f.rps, 2)}× its rate`,
        });
      }
    }
    const g0 = g.get[0];
    const g1 = g.get[g.get.length - 1];
    if (g0 && g1 && g1 !== g0) {
      const f = g1.apiCpuUsPerRequest / g0.apiCpuUsPerRequest;
      rows.push({ metric: `  GET api CPU per request, ${fmtInt(g1.rows)} vs ${fmtInt(g0.rows)} rows`, value: `${fmt(f, 2)}×`, target: `flat (≤ ${TARGET.flatFactor}×)`, ok: f <= TARGET.flatFactor });
    }
  }
  rows.push({ section: "memory", metric: "", value: "" });
  if (ing) {
    rows.push({
      metric: `Redis per waiting job (used_memory Δ / ${fmtInt(ing.waitingJobs)})`,
      value: fmtBytes(ing.redisBytesPerWaitingJob),
      target: "≤ 1 KiB",
      ok: ing.redisBytesPerWaitingJob <= TARGET.redisBytesPerJob,
    });
    rows.push({ metric: "  cross-check: MEMORY USAGE of the keys", value: fmtBytes(ing.redisKeyBytesPerJob) });
  }
  if (b) rows.push({ metric: "  raw addBulk / enqueueSubmits per waiting job", value: `${fmtBytes(b.redisBytesPerWaitingJob)} / ${fmtBytes(b.enqueueSubmitsBytesPerJob)}` });
  const afterIngest = r.peakRssAfter.ingest?.api;
  if (afterIngest) rows.push({ metric: "api peak RSS after the ingest phase", value: fmtBytes(afterIngest) });
  rows.push({
    metric: "peak RSS (VmHWM): api / worker / sandbox",
    value: `${fmtBytes(r.peakRss.api ?? NaN)} / ${fmtBytes(r.peakRss.worker ?? NaN)} / ${fmtBytes(r.peakRss.sandbox ?? NaN)}`,
  });
  return rows;
}

main().catch((err: unknown) => {
  process.stderr.write(`\nbench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
