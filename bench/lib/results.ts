// What a bench run records (bench/results/<run>.json) and the per-job arithmetic over it.
import { readFileSync } from "node:fs";
import type { QueueBackendKind } from "@kex/queue";
import type { BaselineResult } from "./baseline";
import type { CpuWindow } from "./cpu";
import type { PgCounters } from "./db";
import type { LoadResult } from "./load";

export interface IngestPoint {
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
export type GetPoint = LoadResult & { rows: number; apiCpuUsPerRequest: number; floor?: LoadResult; expressFloor?: LoadResult };

export interface Results {
  /** The apps' QUEUE_BACKEND in this run. */
  queueBackend: QueueBackendKind;
  startedAt: string;
  finishedAt?: string;
  scale: string;
  settings: Record<string, unknown>;
  machine: { cores: number; load1AtStart: number; load1AtEnd?: number };
  baseline?: BaselineResult;
  ingest?: {
    jobs: number;
    batches: number;
    ms: number;
    jobsPerS: number;
    ratioToAddBulk: number | null;
    perBatch: IngestPoint[];
    /** Growth of the queue's store over the ingest: Redis used_memory, or the Postgres queue schema's size. */
    storageDelta: number;
    waitingJobs: number;
    storageBytesPerWaitingJob: number;
    /** Redis only: the MEMORY USAGE cross-check. */
    redisKeyBytesPerJob?: number;
    redisJobHashBytes?: number;
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

export const nowUs = () => Number(process.hrtime.bigint() / 1000n);

export function perJob(c: PgCounters, n: number): Record<string, number> {
  const r = (v: number) => Math.round((v / Math.max(1, n)) * 100) / 100;
  return {
    /** Commits + rollbacks: every statement outside an explicit transaction counts as one. */
    transactions: r(c.xactCommit + c.xactRollback),
    rollbacks: r(c.xactRollback),
    rowsInserted: r(c.tupInserted),
    rowsUpdated: r(c.tupUpdated),
    rowsDeleted: r(c.tupDeleted),
    queueRowsWritten: r(c.queueTupWritten),
    rowsFetched: r(c.tupFetched),
    rowsReturned: r(c.tupReturned),
    jobsSeqScans: r(c.jobsSeqScan),
    jobsSeqRowsRead: r(c.jobsSeqTupRead),
    jobsIndexScans: r(c.jobsIdxScan),
    eventsInserted: r(c.eventsInserted),
  };
}

/** CPU milliseconds per unit of work, per process group, plus their sum ("ours"). */
export function cpuMsPer(cpu: CpuWindow, n: number): Record<string, number> {
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
export function logSummary(file: string | undefined): Record<string, number> {
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
