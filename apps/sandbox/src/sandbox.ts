import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import express, { type Express, type NextFunction, type Request, type Response } from "express";
import { KLING_PAGE_NUM_MAX, KLING_PAGE_SIZE_MAX, type KlingTask, type KlingTaskStatus } from "@kex/kling";
import { checkAuthorization } from "./auth";
import { createCallbackSender, emptyCallbackCounters, type CallbackCounters, type CallbackSender } from "./callbacks";
import { DEFAULT_SANDBOX_OPTIONS, describeOptions, mergeOptions, type SandboxOptions } from "./options";
import { chance, mulberry32, randomDigits, randomInt, type Random } from "./random";
import { validateCreateBody } from "./validate";

export interface SandboxStats extends CallbackCounters {
  /** Tasks that exist (a lost-response create counts: the task was made). */
  tasksCreated: number;
  tasksByStatus: Record<KlingTaskStatus, number>;
  /** Tasks holding a concurrency slot (submitted or processing). */
  inFlight: number;
  peakInFlight: number;
  /** Every create request that reached the sandbox, whatever its answer. */
  createRequests: number;
  /** Create requests answered with an error, by upstream code (acceptThenFail answers count under "5000"). */
  rejectedByCode: Record<string, number>;
  /**
   * Distinct job ids with more than one task, where the job id is the part of `external_task_id` before its last
   * '-' (the whole id when it has none). Must stay 0 for an orchestrator that submits each job exactly once.
   */
  jobsWithMultipleTasks: number;
}

export interface Sandbox {
  /** The express app: mount it, hand it to supertest, or let `startSandbox` listen with it. */
  app: Express;
  stats(): SandboxStats;
  /** Current options (a copy). */
  options(): SandboxOptions;
  /** Changes knobs at run time; a new `seed` restarts the random sequence. Throws on invalid values. */
  setOptions(patch: Partial<SandboxOptions>): void;
  /** Forgets every task, video and counter, cancels pending callbacks, and restores the options it was created with. */
  reset(): void;
  /** Resolves once no task is in flight and no callback is pending (or after `timeoutMs`, default 10 s, rejecting). */
  waitForIdle(timeoutMs?: number): Promise<void>;
  /** Stops every timer, aborts pending callbacks and waits for them to end. */
  close(): Promise<void>;
}

export interface RunningSandbox extends Sandbox {
  /** e.g. http://127.0.0.1:4010 */
  url: string;
  server: http.Server;
  /** Also stops the HTTP server and drops its open connections. */
  close(): Promise<void>;
}

export interface StartSandboxOptions extends Partial<SandboxOptions> {
  /** Default 0 (ephemeral). */
  port?: number;
  /** Default "127.0.0.1". */
  host?: string;
}

interface VideoRecord {
  id: string;
  url: string;
  durationSeconds: number;
  createdAt: number;
}

interface TaskRecord {
  seq: number;
  taskId: string;
  externalTaskId?: string;
  callbackUrl?: string;
  status: KlingTaskStatus;
  statusMsg: string;
  parent: VideoRecord;
  result?: VideoRecord;
  createdAt: number;
  updatedAt: number;
}

/** Everything `reset()` throws away. */
interface State {
  tasks: Map<string, TaskRecord>;
  tasksByExternalId: Map<string, TaskRecord>;
  videos: Map<string, VideoRecord>;
  tasksPerJob: Map<string, number>;
  timers: Set<NodeJS.Timeout>;
  abort: AbortController;
  callbacks: CallbackSender;
  counters: CallbackCounters;
  createRequests: number;
  rejectedByCode: Record<string, number>;
  peakInFlight: number;
  seq: number;
}

const SERVER_ERRORS = [
  { http: 500, code: 5000, message: "Server internal error" },
  { http: 503, code: 5001, message: "Server temporarily unavailable, try again later" },
  { http: 504, code: 5002, message: "Server internal timeout" },
] as const;

const ACCOUNT_ERRORS: Record<1100 | 1101 | 1102, string> = {
  1100: "Account exception: check your account status",
  1101: "Account in arrears: please recharge",
  1102: "Resource pack used up or expired",
};

const ID_DIGITS = 18;
const FRESH_VIDEO_ID = /^\d{15,20}$/;
const VIDEO_FILE = /^(\d+)(-wm)?\.mp4$/;
/** The smallest well-formed MP4 there is: one `ftyp` box. Enough for a client to see "a video". */
const PLACEHOLDER_MP4 = Buffer.concat([
  Buffer.from([0, 0, 0, 24]),
  Buffer.from("ftypisom", "ascii"),
  Buffer.from([0, 0, 2, 0]),
  Buffer.from("isommp41", "ascii"),
]);

/** "9.5", "14.0", "5.0": upstream writes durations as strings with at least one decimal. */
export function formatDuration(seconds: number): string {
  const rounded = String(Math.round(seconds * 1000) / 1000);
  return rounded.includes(".") ? rounded : `${rounded}.0`;
}

function jobKey(externalTaskId: string): string {
  const cut = externalTaskId.lastIndexOf("-");
  return cut > 0 ? externalTaskId.slice(0, cut) : externalTaskId;
}

function seedFor(options: SandboxOptions): number {
  return options.seed ?? Math.floor(Math.random() * 2 ** 32);
}

function createSandboxInternal(initial: Partial<SandboxOptions> = {}): Sandbox & { setServerUrl(url: string): void } {
  const initialOptions = mergeOptions({ ...DEFAULT_SANDBOX_OPTIONS }, initial);
  let options: SandboxOptions = initialOptions;
  let random: Random = mulberry32(seedFor(options));
  let serverUrl: string | null = null;
  const closing = new AbortController();
  let state = newState();

  function newState(): State {
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
      callbacks: createCallbackSender({ options: () => options, random: () => random, counters, signal: abort.signal }),
      createRequests: 0,
      rejectedByCode: {},
      peakInFlight: 0,
      seq: 0,
    };
  }

  function discardState(old: State): Promise<void> {
    for (const timer of old.timers) clearTimeout(timer);
    old.timers.clear();
    old.abort.abort();
    return old.callbacks.settled();
  }

  function inFlight(s: State = state): number {
    let n = 0;
    for (const task of s.tasks.values()) if (task.status === "submitted" || task.status === "processing") n++;
    return n;
  }

  function schedule(s: State, ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      s.timers.delete(timer);
      fn();
    }, ms);
    s.timers.add(timer);
  }

  function baseUrl(req?: Request): string {
    if (options.publicUrl) return options.publicUrl.replace(/\/+$/, "");
    if (serverUrl) return serverUrl;
    return req ? `${req.protocol}://${req.get("host") ?? "127.0.0.1"}` : "http://127.0.0.1";
  }

  function newId(taken: (id: string) => boolean): string {
    for (;;) {
      const id = randomDigits(random, ID_DIGITS);
      // Ids starting with 404 are reserved for "does not exist" (docs/upstream-api.md#what-the-sandbox-adds).
      if (!id.startsWith("404") && !taken(id)) return id;
    }
  }

  // ---------- wire format ----------

  function toWire(task: TaskRecord): KlingTask {
    const taskInfo: NonNullable<KlingTask["task_info"]> = {
      parent_video: { id: task.parent.id, url: task.parent.url, duration: formatDuration(task.parent.durationSeconds) },
    };
    if (task.externalTaskId !== undefined) taskInfo.external_task_id = task.externalTaskId;
    const wire: KlingTask = {
      task_id: task.taskId,
      task_status: task.status,
      task_status_msg: task.statusMsg,
      task_info: taskInfo,
      created_at: task.createdAt,
      updated_at: task.updatedAt,
    };
    if (task.status === "succeed" && task.result) {
      const video = task.result;
      wire.task_result = {
        videos: [
          {
            id: video.id,
            url: video.url,
            watermark_url: video.url.replace(/\.mp4$/, "-wm.mp4"),
            duration: formatDuration(video.durationSeconds),
          },
        ],
      };
    }
    if (task.status === "succeed") wire.final_unit_deduction = "1";
    if (task.status === "failed") wire.final_unit_deduction = "0";
    return wire;
  }

  // ---------- lifecycle ----------

  function transition(s: State, task: TaskRecord, status: KlingTaskStatus, statusMsg = ""): void {
    task.status = status;
    task.statusMsg = statusMsg;
    task.updatedAt = options.now();
    notify(s, task);
  }

  function notify(s: State, task: TaskRecord): void {
    if (task.callbackUrl === undefined) return;
    const finished = task.status === "succeed" || task.status === "failed";
    s.callbacks.emit(task.taskId, task.callbackUrl, toWire(task), finished);
  }

  function startLifecycle(s: State, task: TaskRecord, req: Request): void {
    const publicBase = baseUrl(req);
    schedule(s, options.processingDelayMs, () => {
      transition(s, task, "processing");
      schedule(s, randomInt(random, options.completeDelayMinMs, options.completeDelayMaxMs), () => {
        if (chance(random, options.failureRate)) {
          transition(s, task, "failed", options.failureMessage);
          return;
        }
        const id = newId((candidate) => s.videos.has(candidate));
        const video: VideoRecord = {
          id,
          url: `${publicBase}/videos/${id}.mp4`,
          durationSeconds: Math.round((task.parent.durationSeconds + options.extendSeconds) * 1000) / 1000,
          createdAt: options.now(),
        };
        s.videos.set(id, video);
        task.result = video;
        transition(s, task, "succeed");
      });
    });
  }

  // ---------- HTTP ----------

  function answerError(res: Response, httpStatus: number, code: number, message: string): void {
    if (res.locals.isCreate === true) state.rejectedByCode[code] = (state.rejectedByCode[code] ?? 0) + 1;
    res.status(httpStatus).json({ code, message, request_id: randomUUID() });
  }

  function answerOk(res: Response, data: unknown): void {
    res.status(200).json({ code: 0, message: "SUCCEED", request_id: randomUUID(), data });
  }

  /** Finds a video the caller may extend, or says why not. */
  function lookupVideo(
    videoId: string,
    req: Request,
  ): { ok: true; video: VideoRecord; fresh: boolean } | { ok: false; http: number; code: number; message: string } {
    const now = options.now();
    const known = state.videos.get(videoId);
    if (known) {
      if (now - known.createdAt > options.videoRetentionMs) {
        return { ok: false, http: 404, code: 1203, message: `video ${videoId} has expired and was deleted` };
      }
      return { ok: true, video: known, fresh: false };
    }
    if (FRESH_VIDEO_ID.test(videoId) && !videoId.startsWith("404")) {
      const video = {
        id: videoId,
        url: `${baseUrl(req)}/videos/${videoId}.mp4`,
        durationSeconds: options.sourceVideoSeconds,
        createdAt: now,
      };
      return { ok: true, video, fresh: true };
    }
    return { ok: false, http: 404, code: 1203, message: `video ${videoId} does not exist` };
  }

  function handleCreate(req: Request, res: Response): void {
    const s = state;
    const raw = req.body instanceof Buffer ? req.body.toString("utf8") : "";
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      answerError(res, 400, 1200, "request body is not valid JSON");
      return;
    }

    if (options.accountError !== null) {
      answerError(res, 429, options.accountError, ACCOUNT_ERRORS[options.accountError]);
      return;
    }
    if (chance(random, options.rateLimitRate)) {
      answerError(res, 429, 1302, "Request rate limit exceeded, slow down");
      return;
    }
    if (chance(random, options.error5xxRate)) {
      const fault = SERVER_ERRORS[randomInt(random, 0, SERVER_ERRORS.length - 1)] ?? SERVER_ERRORS[0];
      answerError(res, fault.http, fault.code, fault.message);
      return;
    }

    const validation = validateCreateBody(parsed);
    if (!validation.ok) {
      answerError(res, 400, validation.code, validation.message);
      return;
    }
    const body = validation.body;

    const source = lookupVideo(body.video_id, req);
    if (!source.ok) {
      answerError(res, source.http, source.code, source.message);
      return;
    }
    const total = source.video.durationSeconds + options.extendSeconds;
    if (total > options.maxVideoSeconds + 1e-9) {
      answerError(
        res,
        400,
        1201,
        `video_id ${body.video_id} is ${formatDuration(source.video.durationSeconds)} s long; extending it would make ` +
          `${formatDuration(total)} s, over the ${formatDuration(options.maxVideoSeconds)} s limit`,
      );
      return;
    }
    if (body.external_task_id !== undefined && s.tasksByExternalId.has(body.external_task_id)) {
      answerError(res, 400, 1201, `external_task_id ${body.external_task_id} is already used by another task of this account`);
      return;
    }
    if (options.maxConcurrency > 0 && inFlight(s) >= options.maxConcurrency) {
      answerError(res, 429, 1303, `Parallel task limit reached: ${options.maxConcurrency} tasks are still running`);
      return;
    }

    if (source.fresh) s.videos.set(source.video.id, source.video);
    const now = options.now();
    const task: TaskRecord = {
      seq: ++s.seq,
      taskId: newId((candidate) => s.tasks.has(candidate)),
      status: "submitted",
      statusMsg: "",
      parent: { ...source.video },
      createdAt: now,
      updatedAt: now,
    };
    if (body.external_task_id !== undefined) {
      task.externalTaskId = body.external_task_id;
      s.tasksByExternalId.set(body.external_task_id, task);
      const key = jobKey(body.external_task_id);
      s.tasksPerJob.set(key, (s.tasksPerJob.get(key) ?? 0) + 1);
    }
    if (body.callback_url !== undefined) task.callbackUrl = body.callback_url;
    s.tasks.set(task.taskId, task);
    s.peakInFlight = Math.max(s.peakInFlight, inFlight(s));
    if (options.callbackOnSubmitted) notify(s, task);
    startLifecycle(s, task, req);

    if (chance(random, options.acceptThenFailRate)) {
      answerError(res, 500, 5000, "Server internal error");
      return;
    }
    const taskInfo: Record<string, string> = {};
    if (task.externalTaskId !== undefined) taskInfo.external_task_id = task.externalTaskId;
    answerOk(res, {
      task_id: task.taskId,
      task_status: task.status,
      task_info: taskInfo,
      created_at: task.createdAt,
      updated_at: task.updatedAt,
    });
  }

  function handleGet(req: Request, res: Response): void {
    const id = String(req.params.id ?? "");
    const task = state.tasks.get(id) ?? state.tasksByExternalId.get(id);
    if (!task) {
      answerError(res, 404, 1203, `task ${id} does not exist`);
      return;
    }
    answerOk(res, toWire(task));
  }

  function handleList(req: Request, res: Response): void {
    const page = (name: string, fallback: number, max: number): number | string => {
      const value = req.query[name];
      if (value === undefined) return fallback;
      if (typeof value !== "string" || !/^\d+$/.test(value)) return `${name} must be an integer between 1 and ${max}`;
      const n = Number(value);
      return n >= 1 && n <= max ? n : `${name} must be an integer between 1 and ${max}`;
    };
    const pageNum = page("pageNum", 1, KLING_PAGE_NUM_MAX);
    const pageSize = page("pageSize", 30, KLING_PAGE_SIZE_MAX);
    if (typeof pageNum === "string" || typeof pageSize === "string") {
      answerError(res, 400, 1201, typeof pageNum === "string" ? pageNum : String(pageSize));
      return;
    }
    const newestFirst = [...state.tasks.values()].sort((a, b) => b.seq - a.seq);
    answerOk(res, newestFirst.slice((pageNum - 1) * pageSize, pageNum * pageSize).map(toWire));
  }

  const api = express.Router();
  api.use(async (req: Request, res: Response, next: NextFunction) => {
    if (req.method === "POST" && req.path === "/v1/videos/video-extend") {
      res.locals.isCreate = true;
      state.createRequests++;
    }
    if (options.responseDelayMs > 0) {
      await delay(options.responseDelayMs, undefined, { signal: closing.signal }).catch(() => undefined);
    }
    const failure = checkAuthorization(req.get("authorization"), {
      apiKey: options.apiKey,
      accessKey: options.accessKey,
      secretKey: options.secretKey,
      nowMs: options.now(),
    });
    if (failure) {
      answerError(res, 401, failure.code, failure.message);
      return;
    }
    next();
  });
  // Raw body, parsed by hand: a bad body must become 400/1200 whatever its Content-Type says.
  api.post("/v1/videos/video-extend", express.raw({ type: () => true, limit: "1mb" }), handleCreate);
  api.get("/v1/videos/video-extend", handleList);
  api.get("/v1/videos/video-extend/:id", handleGet);
  api.use((req: Request, res: Response) => {
    answerError(res, 404, 1202, `no route for ${req.method} ${req.path}`);
  });
  api.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const type = (err as { type?: unknown }).type;
    if (type === "entity.too.large") return answerError(res, 400, 1200, "request body is too large");
    answerError(res, 500, 5000, "Server internal error");
  });

  const app = express();
  app.disable("x-powered-by");

  // ---------- control plane (no auth) ----------
  app.get("/__sandbox/stats", (_req, res) => {
    res.json(stats());
  });
  app.get("/__sandbox/options", (_req, res) => {
    res.json(describeOptions(options));
  });
  app.post("/__sandbox/options", express.json(), (req, res) => {
    try {
      setOptions((req.body ?? {}) as Partial<SandboxOptions>);
    } catch (err) {
      res.status(400).json({ error: err instanceof Error ? err.message : String(err) });
      return;
    }
    res.json(describeOptions(options));
  });
  app.post("/__sandbox/reset", (_req, res) => {
    reset();
    res.json(stats());
  });
  app.get("/videos/:file", (req, res) => {
    const match = VIDEO_FILE.exec(String(req.params.file));
    const video = match?.[1] !== undefined ? state.videos.get(match[1]) : undefined;
    if (!video || options.now() - video.createdAt > options.videoRetentionMs) {
      res.status(404).json({ error: "video not found" });
      return;
    }
    res.type("video/mp4").send(PLACEHOLDER_MP4);
  });

  // ---------- the Kling API, under a prefix that may change at run time ----------
  app.use((req: Request, res: Response, next: NextFunction) => {
    const prefix = options.pathPrefix;
    if (prefix === "") return api(req, res, next);
    if (req.path !== prefix && !req.path.startsWith(`${prefix}/`)) return next();
    const originalUrl = req.url;
    req.url = req.url.slice(prefix.length) || "/";
    api(req, res, (err?: unknown) => {
      req.url = originalUrl;
      next(err);
    });
  });
  app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const status = (err as { status?: unknown }).status;
    res.status(typeof status === "number" && status >= 400 && status < 500 ? status : 500).json({
      error: err instanceof Error ? err.message : "internal error",
    });
  });

  function stats(): SandboxStats {
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
      rejectedByCode: { ...state.rejectedByCode },
      jobsWithMultipleTasks,
      ...state.counters,
    };
  }

  function setOptions(patch: Partial<SandboxOptions>): void {
    options = mergeOptions(options, patch);
    if (patch.seed !== undefined) random = mulberry32(seedFor(options));
  }

  function reset(): void {
    void discardState(state);
    options = initialOptions;
    random = mulberry32(seedFor(options));
    state = newState();
  }

  async function waitForIdle(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (inFlight() > 0 || state.callbacks.pending() > 0) {
      if (Date.now() > deadline) throw new Error(`sandbox not idle after ${timeoutMs} ms`);
      await delay(5);
    }
  }

  async function close(): Promise<void> {
    closing.abort();
    await discardState(state);
  }

  return {
    app,
    stats,
    options: () => ({ ...options }),
    setOptions,
    reset,
    waitForIdle,
    close,
    setServerUrl: (url: string) => {
      serverUrl = url;
    },
  };
}

/** A Kling API fake as an express app, not listening anywhere. See README.md for every option. */
export function createSandbox(options: Partial<SandboxOptions> = {}): Sandbox {
  const { setServerUrl: _unused, ...sandbox } = createSandboxInternal(options);
  return sandbox;
}

/** Starts the sandbox on `host:port` (default 127.0.0.1, ephemeral port). */
export async function startSandbox(options: StartSandboxOptions = {}): Promise<RunningSandbox> {
  const { port = 0, host = "127.0.0.1", ...sandboxOptions } = options;
  const sandbox = createSandboxInternal(sandboxOptions);
  const server = http.createServer(sandbox.app);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    await sandbox.close();
    throw err;
  }
  const { port: boundPort } = server.address() as AddressInfo;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${boundPort}`;
  sandbox.setServerUrl(url);
  const { setServerUrl: _unused, ...rest } = sandbox;
  return {
    ...rest,
    url,
    server,
    close: async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await sandbox.close();
      await stopped;
    },
  };
}
