// What every phase of one bench run shares: settings, results, the apps, the clients, and the
// measurements more than one phase takes (status GETs, one timed batch).
import type { AnyQueue, QueueBackendKind } from "@kex/queue";
import type { Client } from "pg";
import type { BenchConfig } from "./config";
import { cpuWindow, findProcessByName, type PidSource } from "./cpu";
import { connect, countJobs, sampleJobIds } from "./db";
import { runLoad } from "./load";
import { openQueueStore, type QueueStore } from "./queue-store";
import { fmt, fmtInt, fmtMs } from "./report";
import { batchBody, postBatch } from "./requests";
import { nowUs, type GetPoint, type IngestPoint, type Results } from "./results";
import { Stack } from "./stack";

export interface BenchRun {
  /** The queue backend of this run (the apps' QUEUE_BACKEND). */
  queueBackend: QueueBackendKind;
  cfg: BenchConfig;
  results: Results;
  runId: string;
  queuePrefix: string;
  apiToken: string;
  callbackSecret: string;
  stack: Stack;
  pg: Client;
  /** The queue's store (Redis or the Postgres schema) and the api's submit queue in it. */
  store: QueueStore;
  /** The api's submit queue, as the worker sees it (`store.submitQueue`). */
  submitQueue: AnyQueue;
  say(line: string): void;
  /** The processes whose CPU we attribute: our apps, their Postgres backends, the local Redis (shared with other users!). */
  sources(): Record<string, PidSource>;
  /** Batch bodies for `n` more jobs (fresh video ids across the whole run), `cfg.batchSize` a batch. */
  bodies(n: number): string[];
  /** Runs `fn` and records its window under `name` (appending to a window of the same name). */
  timed<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Records each app's VmHWM after `phase`. */
  notePeaks(phase: string): void;
  /** Status GETs rotating over ids sampled from the whole table, after a 1 s warm-up; then the same on the floors. */
  measureGet(): Promise<GetPoint>;
  /** One timed batch POST with the api's CPU for it. */
  ingestOne(body: string, rowsAfter?: number): Promise<IngestPoint>;
}

/** Connects to the queue's store and Postgres and prepares the stack (nothing started yet); `logDir`/`profileDir` are the apps'. */
export async function createBenchRun(
  args: Pick<BenchRun, "queueBackend" | "cfg" | "results" | "runId" | "queuePrefix" | "apiToken" | "callbackSecret" | "say"> & { logDir: string; profileDir: string },
): Promise<BenchRun> {
  const { queueBackend, cfg, results, queuePrefix, apiToken, callbackSecret, say } = args;
  const pg: Client = await connect(cfg.databaseUrl);
  const store = await openQueueStore({ kind: queueBackend, prefix: queuePrefix, redisUrl: cfg.redisUrl, databaseUrl: cfg.queueDatabaseUrl, pg });
  const { submitQueue } = store;
  const stack = new Stack({
    queueBackend,
    databaseUrl: cfg.databaseUrl,
    queueDatabaseUrl: cfg.queueDatabaseUrl,
    redisUrl: cfg.redisUrl,
    queuePrefix,
    apiToken,
    callbackSecret,
    logDir: args.logDir,
    profileDir: args.profileDir,
    profile: cfg.profile,
    dbPoolMax: cfg.dbPoolMax,
  });
  const notePeaks = (phase: string) => {
    const out: Record<string, number> = {};
    for (const [name, t] of Object.entries({ api: stack.api, worker: stack.worker, sandbox: stack.sandbox })) {
      if (!t) continue;
      t.sample();
      out[name] = t.peakBytes;
    }
    results.peakRssAfter[phase] = out;
  };
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
  const authHeaders = { authorization: `Bearer ${apiToken}` };
  const redisPid = queueBackend !== "redis" ? undefined : new URL(cfg.redisUrl).hostname === "127.0.0.1" || new URL(cfg.redisUrl).hostname === "localhost" ? findProcessByName("redis-server") : undefined;
  const postgresBackends = async () => {
    const { rows } = await pg.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
    return rows.map((r) => r.pid);
  };
  const sources = (): Record<string, PidSource> => ({
    api: stack.api?.pid,
    ...(stack.worker && stack.worker.service.proc.exitCode === null ? { worker: stack.worker.pid } : {}),
    sandbox: stack.sandbox?.pid,
    postgres: postgresBackends,
    ...(redisPid ? { redis: redisPid } : {}),
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

  return {
    queueBackend,
    cfg,
    results,
    runId: args.runId,
    queuePrefix,
    apiToken,
    callbackSecret,
    stack,
    pg,
    store,
    submitQueue,
    say,
    sources,
    bodies,
    timed,
    notePeaks,
    measureGet,
    ingestOne,
  };
}
