import { setTimeout as delay } from "node:timers/promises";
import express, { type Express } from "express";
import { mulberry32 } from "@kex/core";
import type { KlingTaskStatus } from "@kex/kling";
import type { CallbackCounters } from "./callbacks";
import { describeOptions, mergeOptions, type SandboxOptions } from "./options";
import { discardState, inFlight, newState, seedFor, type SandboxCore } from "./state";

export interface SandboxStats extends CallbackCounters {
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
  waitForIdle(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const VIDEO_FILE = /^(\d+)(-wm)?\.mp4$/;
/** The smallest well-formed MP4 there is: one `ftyp` box. Enough for a client to see "a video". */
const PLACEHOLDER_MP4 = Buffer.concat([
  Buffer.from([0, 0, 0, 24]),
  Buffer.from("ftypisom", "ascii"),
  Buffer.from([0, 0, 2, 0]),
  Buffer.from("isommp41", "ascii"),
]);

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

  return { stats, setOptions, reset, waitForIdle, close };
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
  app.get("/videos/:file", (req, res) => {
    const match = VIDEO_FILE.exec(String(req.params.file));
    const video = match?.[1] !== undefined ? core.state.videos.get(match[1]) : undefined;
    if (!video || core.options.now() - video.createdAt > core.options.videoRetentionMs) {
      res.status(404).json({ error: "video not found" });
      return;
    }
    res.type("video/mp4").send(PLACEHOLDER_MP4);
  });
}
