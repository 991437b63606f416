import { randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import express, { type NextFunction, type Request, type RequestHandler, type Response } from "express";
import { chance, randomInt } from "@kex/core";
import { KLING_PAGE_NUM_MAX, KLING_PAGE_SIZE_MAX } from "@kex/kling";
import { checkAuthorization } from "./auth";
import { notify, startLifecycle, transition } from "./lifecycle";
import { baseUrl, inFlight, jobKey, newId, nowMs, type SandboxCore, type TaskRecord, type VideoRecord } from "./state";
import { validateCreateBody } from "./validate";
import { formatDuration, toWire } from "./wire";

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

const FRESH_VIDEO_ID = /^\d{15,20}$/;

function answerError(core: SandboxCore, res: Response, httpStatus: number, code: number, message: string): void {
  if (res.locals.isCreate === true) core.state.rejectedByCode[code] = (core.state.rejectedByCode[code] ?? 0) + 1;
  res.status(httpStatus).json({ code, message, request_id: randomUUID() });
}

function answerOk(res: Response, data: unknown): void {
  res.status(200).json({ code: 0, message: "SUCCEED", request_id: randomUUID(), data });
}

/** Finds a video the caller may extend, or says why not. */
function lookupVideo(
  core: SandboxCore,
  videoId: string,
  req: Request,
): { ok: true; video: VideoRecord; fresh: boolean } | { ok: false; http: number; code: number; message: string } {
  const now = nowMs(core);
  const known = core.state.videos.get(videoId);
  if (known) {
    if (now - known.createdAt > core.options.videoRetentionMs) {
      return { ok: false, http: 404, code: 1203, message: `video ${videoId} has expired and was deleted` };
    }
    return { ok: true, video: known, fresh: false };
  }
  const prefix = core.options.idPrefix;
  if (prefix !== null && FRESH_VIDEO_ID.test(videoId) && !videoId.startsWith(prefix) && !videoId.startsWith("404")) {
    // [assumed] Kling documents that another account's video cannot be extended, not the code: from this account's
    // side the video does not exist, so the closest documented answer is 1203.
    return { ok: false, http: 404, code: 1203, message: `video ${videoId} does not exist in this account` };
  }
  if (FRESH_VIDEO_ID.test(videoId) && !videoId.startsWith("404")) {
    const video = {
      id: videoId,
      url: `${baseUrl(core, req)}/videos/${videoId}.mp4`,
      durationSeconds: core.options.sourceVideoSeconds,
      createdAt: now,
    };
    return { ok: true, video, fresh: true };
  }
  return { ok: false, http: 404, code: 1203, message: `video ${videoId} does not exist` };
}

function handleCreate(core: SandboxCore, req: Request, res: Response): void {
  const s = core.state;
  const options = core.options;
  const raw = req.body instanceof Buffer ? req.body.toString("utf8") : "";
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    answerError(core, res, 400, 1200, "request body is not valid JSON");
    return;
  }

  if (options.accountError !== null) {
    answerError(core, res, 429, options.accountError, ACCOUNT_ERRORS[options.accountError]);
    return;
  }
  if (chance(core.random, options.rateLimitRate)) {
    answerError(core, res, 429, 1302, "Request rate limit exceeded, slow down");
    return;
  }
  if (chance(core.random, options.error5xxRate)) {
    const fault = SERVER_ERRORS[randomInt(core.random, 0, SERVER_ERRORS.length - 1)] ?? SERVER_ERRORS[0];
    answerError(core, res, fault.http, fault.code, fault.message);
    return;
  }

  const validation = validateCreateBody(parsed);
  if (!validation.ok) {
    answerError(core, res, 400, validation.code, validation.message);
    return;
  }
  const body = validation.body;

  const source = lookupVideo(core, body.video_id, req);
  if (!source.ok) {
    answerError(core, res, source.http, source.code, source.message);
    return;
  }
  const total = source.video.durationSeconds + options.extendSeconds;
  if (total > options.maxVideoSeconds + 1e-9) {
    answerError(
      core,
      res,
      400,
      1201,
      `video_id ${body.video_id} is ${formatDuration(source.video.durationSeconds)} s long; extending it would make ` +
        `${formatDuration(total)} s, over the ${formatDuration(options.maxVideoSeconds)} s limit`,
    );
    return;
  }
  const honouredExternalId = options.ignoreExternalTaskId ? undefined : body.external_task_id;
  if (honouredExternalId !== undefined && s.tasksByExternalId.has(honouredExternalId)) {
    answerError(core, res, 400, 1201, `external_task_id ${honouredExternalId} is already used by another task of this account`);
    return;
  }
  if (options.maxConcurrency > 0 && inFlight(s) + options.otherClientSlots >= options.maxConcurrency) {
    answerError(core, res, 429, 1303, `Parallel task limit reached: ${options.maxConcurrency} tasks are still running`);
    return;
  }

  if (source.fresh) s.videos.set(source.video.id, source.video);
  const now = nowMs(core);
  const task: TaskRecord = {
    seq: ++s.seq,
    taskId: newId(core, (candidate) => s.tasks.has(candidate)),
    status: "submitted",
    statusMsg: "",
    parent: { ...source.video },
    createdAt: now,
    updatedAt: now,
  };
  if (honouredExternalId !== undefined) {
    task.externalTaskId = honouredExternalId;
    s.tasksByExternalId.set(honouredExternalId, task);
  }
  if (body.external_task_id !== undefined) {
    // Counted from what the client sent, even when the id is ignored: the fault suites' double-task check.
    const key = jobKey(body.external_task_id);
    s.tasksPerJob.set(key, (s.tasksPerJob.get(key) ?? 0) + 1);
  }
  if (body.callback_url !== undefined) task.callbackUrl = body.callback_url;
  s.tasks.set(task.taskId, task);

  if (chance(core.random, options.failOnCreateRate)) {
    // HTTP 200 and code 0, yet the task is already failed: only the task status tells.
    transition(core, s, task, "failed", options.failureMessage);
    answerOk(res, createAnswer(task, core));
    return;
  }
  s.peakInFlight = Math.max(s.peakInFlight, inFlight(s));
  if (options.callbackOnSubmitted) notify(core, s, task);
  startLifecycle(core, s, task, baseUrl(core, req));

  if (chance(core.random, options.acceptThenFailRate)) {
    answerError(core, res, 500, 5000, "Server internal error");
    return;
  }
  answerOk(res, createAnswer(task, core));
}

/** What create answers: the task's id, status, `task_info` (echoing an honoured `external_task_id`) and timestamps. */
function createAnswer(task: TaskRecord, core: SandboxCore): Record<string, unknown> {
  const wire = toWire(task, core.options);
  const taskInfo: Record<string, string> = {};
  if (task.externalTaskId !== undefined) taskInfo.external_task_id = task.externalTaskId;
  const data: Record<string, unknown> = {
    task_id: wire.task_id,
    task_status: wire.task_status,
    task_info: taskInfo,
    created_at: wire.created_at,
    updated_at: wire.updated_at,
  };
  if (task.status === "failed") {
    data.task_status_msg = wire.task_status_msg;
    data.final_unit_deduction = wire.final_unit_deduction;
  }
  return data;
}

function handleGet(core: SandboxCore, req: Request, res: Response): void {
  const id = String(req.params.id ?? "");
  const task = core.state.tasks.get(id) ?? core.state.tasksByExternalId.get(id);
  if (!task) {
    answerError(core, res, 404, 1203, `task ${id} does not exist`);
    return;
  }
  answerOk(res, toWire(task, core.options));
}

function handleList(core: SandboxCore, req: Request, res: Response): void {
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
    answerError(core, res, 400, 1201, typeof pageNum === "string" ? pageNum : String(pageSize));
    return;
  }
  const newestFirst = [...core.state.tasks.values()].sort((a, b) => b.seq - a.seq);
  answerOk(res, newestFirst.slice((pageNum - 1) * pageSize, pageNum * pageSize).map((task) => toWire(task, core.options)));
}

/** The Kling video-extend routes (create, query, list), behind the response delay and authentication. */
function createKlingRouter(core: SandboxCore): express.Router {
  const api = express.Router();
  api.use(async (req: Request, res: Response, next: NextFunction) => {
    if (req.method === "POST" && req.path === "/v1/videos/video-extend") {
      res.locals.isCreate = true;
      core.state.createRequests++;
    } else if (req.method === "GET" && req.path.startsWith("/v1/videos/video-extend/")) {
      core.state.queryRequests++;
    }
    if (core.options.responseDelayMs > 0) {
      await delay(core.options.responseDelayMs, undefined, { signal: core.closing.signal }).catch(() => undefined);
    }
    const failure = checkAuthorization(req.get("authorization"), {
      apiKey: core.options.apiKey,
      accessKey: core.options.accessKey,
      secretKey: core.options.secretKey,
      nowMs: nowMs(core),
    });
    if (failure) {
      answerError(core, res, 401, failure.code, failure.message);
      return;
    }
    next();
  });
  // Raw body, parsed by hand: a bad body must become 400/1200 whatever its Content-Type says.
  api.post("/v1/videos/video-extend", express.raw({ type: () => true, limit: "1mb" }), (req, res) => handleCreate(core, req, res));
  api.get("/v1/videos/video-extend", (req, res) => handleList(core, req, res));
  api.get("/v1/videos/video-extend/:id", (req, res) => handleGet(core, req, res));
  api.use((req: Request, res: Response) => {
    answerError(core, res, 404, 1202, `no route for ${req.method} ${req.path}`);
  });
  api.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const type = (err as { type?: unknown }).type;
    if (type === "entity.too.large") return answerError(core, res, 400, 1200, "request body is too large");
    answerError(core, res, 500, 5000, "Server internal error");
  });
  return api;
}

/** The Kling API under `options.pathPrefix`, read on every request since the prefix may change at run time. */
export function klingApi(core: SandboxCore): RequestHandler {
  const api = createKlingRouter(core);
  return (req: Request, res: Response, next: NextFunction) => {
    const prefix = core.options.pathPrefix;
    if (prefix === "") return api(req, res, next);
    if (req.path !== prefix && !req.path.startsWith(`${prefix}/`)) return next();
    const originalUrl = req.url;
    req.url = req.url.slice(prefix.length) || "/";
    api(req, res, (err?: unknown) => {
      req.url = originalUrl;
      next(err);
    });
  };
}
