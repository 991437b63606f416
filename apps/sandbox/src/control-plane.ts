import { setTimeout as delay } from "node:timers/promises";
import express, { type Express } from "express";
import { mulberry32 } from "@kex/core";
import type { KlingTaskStatus } from "@kex/kling";
import { chance } from "@kex/core";
import { z } from "zod";
import type { CallbackCounters, ReplayResult } from "./callbacks";
import { sandboxMp4 } from "./mp4";
import { describeOptions, mergeOptions, type SandboxOptions } from "./options";
import { discardState, inFlight, newState, nowMs, seedFor, type DownloadCounters, type SandboxCore } from "./state";

export interface SandboxStats extends CallbackCounters, DownloadCounters {
  /** Tasks that exist (a lost-response create counts: the task was made). */
  tasksCreated: number;
  tasksByStatus: Record<KlingTaskStatus, number>;
  /** Tasks holding a concurrency slot (submitted or processing). */
  inFlight: number;
  peakInFlight: number;
  /** Every create request that reached the sandbox, whatever its answer. */
  createRequests: number;
  /** Every task query (`GET …/video-extend/:id`, by task id or external_task_id) that reached the sandbox, whatever its answer. */
  queryRequests: number;
  /** Create requests answered with an error, by upstream code (acceptThenFail answers count under "5000"). */
  rejectedByCode: Record<string, number>;
  /**
   * Distinct job ids with more than one task, where the job id is the part of `external_task_id` before its last
   * '-' (the whole id when it has none). Must stay 0 for an orchestrator that submits each job exactly once.
   */
  jobsWithMultipleTasks: number;
}

/** What a test or the fault suite can do to a sandbox besides calling its Kling API. */
export interface SandboxControl {
  stats(): SandboxStats;
  setOptions(patch: Partial<SandboxOptions>): void;
  reset(): void;
  /** Re-sends the last delivered callback (of `taskId`, or of any task) with the same `webhook-id`; null if none. */
  replayCallback(taskId?: string): Promise<ReplayResult | null>;
  waitForIdle(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const VIDEO_FILE = /^(\d+)(-wm)?\.mp4$/;
/** Video files go out in chunks of this size, so `downloadChunkDelayMs` makes a slow download. */
const DOWNLOAD_CHUNK_BYTES = 1024;

const ReplayBodySchema = z.object({ task_id: z.string().min(1).optional() }).strict();

export function createControl(core: SandboxCore): SandboxControl {
  function stats(): SandboxStats {
    const { state } = core;
    const tasksByStatus: Record<KlingTaskStatus, number> = { submitted: 0, processing: 0, succeed: 0, failed: 0 };
    for (const task of state.tasks.values()) tasksByStatus[task.status]++;
    let jobsWithMultipleTasks = 0;
    for (const count of state.tasksPerJob.values()) if (count > 1) jobsWithMultipleTasks++;
    return {
      tasksCreated: state.tasks.size,
      tasksByStatus,
      inFlight: tasksByStatus.submitted + tasksByStatus.processing,
      peakInFlight: state.peakInFlight,
      createRequests: state.createRequests,
      queryRequests: state.queryRequests,
      rejectedByCode: { ...state.rejectedByCode },
      jobsWithMultipleTasks,
      ...state.counters,
      ...state.downloads,
    };
  }

  function setOptions(patch: Partial<SandboxOptions>): void {
    core.options = mergeOptions(core.options, patch);
    if (patch.seed !== undefined) core.random = mulberry32(seedFor(core.options));
  }

  function reset(): void {
    void discardState(core.state);
    core.options = core.initialOptions;
    core.random = mulberry32(seedFor(core.options));
    core.state = newState(core);
  }

  async function waitForIdle(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (inFlight(core.state) > 0 || core.state.callbacks.pending() > 0) {
      if (Date.now() > deadline) throw new Error(`sandbox not idle after ${timeoutMs} ms`);
      await delay(5);
    }
  }

  async function close(): Promise<void> {
    core.closing.abort();
    await discardState(core.state);
  }

  return {
    stats,
    setOptions,
    reset,
    replayCallback: (taskId?: string) => core.state.callbacks.replay(taskId),
    waitForIdle,
    close,
  };
}

/** The control plane (no auth: stats, options, reset) and the video files the sandbox hands out. */
export function mountControlPlane(app: Express, core: SandboxCore, control: SandboxControl): void {
  app.get("/__sandbox/stats", (_req, res) => {
    res.json(control.stats());
  });
  app.get("/__sandbox/options", (_req, res) => {
    res.json(describeOptions(core.options));
  });
  app.post("/__sandbox/options", express.json(), (req, res) => {
    try {
      control.setOptions((req.body ?? {}) as Partial<SandboxOptions>);
    } catch (err) {
      res.status(400).json({ error: err instanceof Error ? err.message : String(err) });
      return;
    }
    res.json(describeOptions(core.options));
  });
  app.post("/__sandbox/reset", (_req, res) => {
    control.reset();
    res.json(control.stats());
  });
  app.post("/__sandbox/callbacks/replay", express.json(), async (req, res) => {
    const parsed = ReplayBodySchema.safeParse(req.body ?? {});
    if (!parsed.success) {
      res.status(400).json({ error: z.prettifyError(parsed.error) });
      return;
    }
    const result = await control.replayCallback(parsed.data.task_id);
    if (!result) {
      res.status(404).json({ error: "no delivered callback to replay" });
      return;
    }
    res.json({ task_id: result.taskId, webhook_id: result.webhookId, delivered: result.delivered });
  });
  app.get("/videos/:file", async (req, res) => {
    const s = core.state;
    s.downloads.downloadRequests++;
    const match = VIDEO_FILE.exec(String(req.params.file));
    const video = match?.[1] !== undefined ? s.videos.get(match[1]) : undefined;
    // Upstream deletes videos (and their URLs) 30 days after generation.
    if (!video || nowMs(core) - video.createdAt > core.options.videoRetentionMs) {
      res.status(404).json({ error: "video not found" });
      return;
    }
    const options = core.options;
    const signal = AbortSignal.any([s.abort.signal, core.closing.signal]);
    try {
      if (options.downloadDelayMs > 0) await delay(options.downloadDelayMs, undefined, { signal });
      if (chance(core.random, options.downloadResetRate)) {
        s.downloads.downloadsReset++;
        req.socket.destroy();
        return;
      }
      if (chance(core.random, options.downloadErrorRate)) {
        s.downloads.downloadsFailed500++;
        res.status(500).json({ error: "internal error" });
        return;
      }
      const file = sandboxMp4();
      const truncated = chance(core.random, options.downloadTruncateRate);
      const end = truncated ? Math.floor(file.length / 2) : file.length;
      res.status(200).set({ "Content-Type": "video/mp4", "Content-Length": String(file.length) });
      if (req.method === "HEAD") {
        res.end();
        return;
      }
      res.flushHeaders();
      for (let offset = 0; offset < end; offset += DOWNLOAD_CHUNK_BYTES) {
        if (offset > 0 && options.downloadChunkDelayMs > 0) await delay(options.downloadChunkDelayMs, undefined, { signal });
        if (res.destroyed) return;
        const chunk = file.subarray(offset, Math.min(end, offset + DOWNLOAD_CHUNK_BYTES));
        await new Promise<void>((resolve) => res.write(chunk, () => resolve()));
      }
      if (truncated) {
        // Fewer bytes than Content-Length promised, then the connection goes: the client sees a cut-off body.
        s.downloads.downloadsTruncated++;
        res.destroy();
        return;
      }
      s.downloads.downloadsServed++;
      res.end();
    } catch {
      // reset or closed while waiting
      if (!res.headersSent) res.status(503).end();
      else res.destroy();
    }
  });
}
