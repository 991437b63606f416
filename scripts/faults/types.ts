// What a scenario is, what it can do while it runs (Ctx), and what the suite records about it.
import type { Cell } from "@kex/testing";
import type { Service } from "../lib/services";
import type { SlowProxy } from "./lib/slow-proxy";

/**
 * The counters of the sandbox's `GET /__sandbox/stats` the suite reads. The sandbox runs as a process of
 * its own and the suite only sees its JSON, so it states here what it relies on (apps/sandbox/README.md).
 */
export interface SandboxStats {
  tasksCreated: number;
  peakInFlight: number;
  createRequests: number;
  /** Task queries (lookups before a re-send, reconciler polls). */
  queryRequests: number;
  rejectedByCode: Record<string, number>;
  jobsWithMultipleTasks: number;
  callbacksSent: number;
  callbacksFailed: number;
  callbacksDropped: number;
  callbacksDuplicated: number;
  callbacksReordered: number;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface Progress {
  rows: number;
  final: number;
  /** When `final` last grew. */
  lastFinishedAt: number;
  byStatus: Record<string, number>;
  dbPeakInFlight: number;
  observedAt: number;
}

export interface Ctx {
  scenario: Scenario;
  /** How many jobs the suite submits at the start (`scenario.jobs`, else FAULTS_JOBS). */
  jobs: number;
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
  /** Failed api calls while submitting (retried or reported). */
  counters: { apiErrors: number; rateLimited?: number };
  /** Scenario-specific measurements, shown in its table and used by its checks. */
  facts: Record<string, Cell>;
  notes: string[];
  readyz: Array<{ at: number; paused: boolean; status: number }>;
  workers: Service[];
  proxy?: SlowProxy;
  sandboxStats(): Promise<SandboxStats>;
  sandboxOptions(patch: Record<string, unknown>): Promise<void>;
  /** Waits until this fraction of `jobs` is final (or the deadline). */
  waitFinished(fraction: number): Promise<void>;
  /** Submits more jobs, numbered from `offset` (the suite's own are 0 … jobs-1). */
  submit(jobs: { count: number; offset: number }): Promise<void>;
  killWorker(slot: number): Promise<void>;
  startWorker(slot: number): Service;
  mark(what: string): void;
}

export interface Scenario {
  key: string;
  title: string;
  workers: number;
  /** Jobs the suite submits at the start (default FAULTS_JOBS). */
  jobs?: number;
  /** A reason when the scenario is skipped. */
  skip?: string;
  sandboxEnv?: Record<string, string>;
  workerEnv?: Record<string, string>;
  /** Settings the suite normally shortens for every scenario that this one leaves at the worker's defaults. */
  workerDefaults?: string[];
  /** Put a proxy between worker and sandbox that holds every create answer back this long. */
  upstreamAnswerDelayMs?: number;
  /** Error codes a `failed` job may carry here (anything else is a bug). */
  allowedFailureCodes: string[];
  fault?(ctx: Ctx): Promise<void>;
  checks?(ctx: Ctx, r: Analysis): Check[];
}

export interface Analysis {
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

export interface Result {
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
