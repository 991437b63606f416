import type { Request } from "express";
import { mulberry32, randomDigits, type Random } from "@kex/core";
import type { KlingTaskStatus } from "@kex/kling";
import { createCallbackSender, emptyCallbackCounters, type CallbackCounters, type CallbackSender } from "./callbacks";
import { DEFAULT_SANDBOX_OPTIONS, mergeOptions, type SandboxOptions } from "./options";

export interface VideoRecord {
  id: string;
  url: string;
  durationSeconds: number;
  createdAt: number;
}

export interface TaskRecord {
  seq: number;
  taskId: string;
  /** Honoured `external_task_id` (absent when `ignoreExternalTaskId` dropped it). */
  externalTaskId?: string;
  callbackUrl?: string;
  status: KlingTaskStatus;
  statusMsg: string;
  parent: VideoRecord;
  result?: VideoRecord;
  /** Set when the task finishes, from the options in force then. */
  unitDeduction?: string;
  balanceDeduction?: { quota: string; list_price: string };
  createdAt: number;
  updatedAt: number;
}

export interface DownloadCounters {
  /** Requests for a video file, whatever the answer. */
  downloadRequests: number;
  /** Files sent whole. */
  downloadsServed: number;
  downloadsFailed500: number;
  downloadsTruncated: number;
  downloadsReset: number;
}

/** Everything `reset()` throws away. */
export interface State {
  tasks: Map<string, TaskRecord>;
  tasksByExternalId: Map<string, TaskRecord>;
  videos: Map<string, VideoRecord>;
  tasksPerJob: Map<string, number>;
  timers: Set<NodeJS.Timeout>;
  abort: AbortController;
  callbacks: CallbackSender;
  counters: CallbackCounters;
  downloads: DownloadCounters;
  createRequests: number;
  queryRequests: number;
  rejectedByCode: Record<string, number>;
  peakInFlight: number;
  seq: number;
}

/**
 * What every part of one sandbox shares. `options`, `random` and `state` are replaced as a whole (by
 * `setOptions` and `reset`), so the parts read them from here each time instead of keeping a copy.
 */
export interface SandboxCore {
  readonly initialOptions: SandboxOptions;
  options: SandboxOptions;
  random: Random;
  /** The listening server's URL, once `startSandbox` knows it. */
  serverUrl: string | null;
  /** Aborted by `close()`: ends response delays in progress. */
  readonly closing: AbortController;
  state: State;
}

const ID_DIGITS = 18;

export function seedFor(options: SandboxOptions): number {
  return options.seed ?? Math.floor(Math.random() * 2 ** 32);
}

export function createCore(initial: Partial<SandboxOptions>): SandboxCore {
  const initialOptions = mergeOptions({ ...DEFAULT_SANDBOX_OPTIONS }, initial);
  const core = {
    initialOptions,
    options: initialOptions,
    random: mulberry32(seedFor(initialOptions)),
    serverUrl: null,
    closing: new AbortController(),
  };
  return Object.assign(core, { state: newState(core) });
}

/** An empty state whose callbacks follow `core`'s current options and random sequence. */
export function newState(core: Pick<SandboxCore, "options" | "random">): State {
  const abort = new AbortController();
  const counters = emptyCallbackCounters();
  return {
    tasks: new Map(),
    tasksByExternalId: new Map(),
    videos: new Map(),
    tasksPerJob: new Map(),
    timers: new Set(),
    abort,
    counters,
    downloads: { downloadRequests: 0, downloadsServed: 0, downloadsFailed500: 0, downloadsTruncated: 0, downloadsReset: 0 },
    callbacks: createCallbackSender({
      options: () => core.options,
      random: () => core.random,
      now: () => nowMs(core),
      counters,
      signal: abort.signal,
    }),
    createRequests: 0,
    queryRequests: 0,
    rejectedByCode: {},
    peakInFlight: 0,
    seq: 0,
  };
}

/** Stops an old state's timers and callbacks; resolves once its callbacks have ended. */
export function discardState(old: State): Promise<void> {
  for (const timer of old.timers) clearTimeout(timer);
  old.timers.clear();
  old.abort.abort();
  return old.callbacks.settled();
}

/** Tasks holding a concurrency slot (submitted or processing). */
export function inFlight(s: State): number {
  let n = 0;
  for (const task of s.tasks.values()) if (task.status === "submitted" || task.status === "processing") n++;
  return n;
}

/** A timer that belongs to `s`, so discarding the state cancels it. */
export function schedule(s: State, ms: number, fn: () => void): void {
  const timer = setTimeout(() => {
    s.timers.delete(timer);
    fn();
  }, ms);
  s.timers.add(timer);
}

/** Where video URLs point: the configured public URL, else the server's own, else the request's Host. */
export function baseUrl(core: SandboxCore, req?: Request): string {
  if (core.options.publicUrl) return core.options.publicUrl.replace(/\/+$/, "");
  if (core.serverUrl) return core.serverUrl;
  return req ? `${req.protocol}://${req.get("host") ?? "127.0.0.1"}` : "http://127.0.0.1";
}

/** The sandbox's clock: the injected `now` plus the run-time `clockOffsetMs`. */
export function nowMs(core: Pick<SandboxCore, "options">): number {
  return core.options.now() + core.options.clockOffsetMs;
}

/** A fresh 18-digit task or video id, starting with the account's `idPrefix` when one is set. */
export function newId(core: SandboxCore, taken: (id: string) => boolean): string {
  const prefix = core.options.idPrefix ?? "";
  for (;;) {
    const id = prefix + randomDigits(core.random, ID_DIGITS - prefix.length);
    // Ids starting with 404 are reserved for "does not exist" (see the sandbox's README).
    if (!id.startsWith("404") && !taken(id)) return id;
  }
}

/** The job an `external_task_id` belongs to: the part before its last '-' (the whole id when it has none). */
export function jobKey(externalTaskId: string): string {
  const cut = externalTaskId.lastIndexOf("-");
  return cut > 0 ? externalTaskId.slice(0, cut) : externalTaskId;
}
