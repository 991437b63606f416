import jwt from "jsonwebtoken";
import { z } from "zod";
import { KlingEnvelopeSchema, KlingTaskSchema, type KlingCreateRequest, type KlingTask } from "./types";

export type KlingAuth =
  /** Proxy mode: a static key sent as `Authorization: Bearer <apiKey>`. */
  | { mode: "static"; apiKey: string }
  /** Official mode: an HS256 JWT `{iss: accessKey, exp: now+1800, nbf: now-5}` signed with `secretKey`. */
  | { mode: "jwt"; accessKey: string; secretKey: string };

export interface KlingClientOptions {
  /** e.g. `https://api.chainhub.tech` (proxy) or `https://api-singapore.klingai.com` (official). A trailing `/` is ignored. */
  baseUrl: string;
  /** `"/kling"` for the proxy, `""` for the official API. */
  pathPrefix: string;
  auth: KlingAuth;
  /** Whole-request budget (connect, headers and body), in milliseconds. */
  timeoutMs: number;
  /** Clock in Unix milliseconds, used for JWT claims. Default `Date.now`. */
  now?: () => number;
}

export interface KlingOkResult<T> {
  ok: true;
  data: T;
  requestId?: string;
}

export interface KlingErrorResult {
  ok: false;
  /** HTTP status of the answer; 0 when there was none (network error or timeout). */
  httpStatus: number;
  /** Upstream error code from the body; null when the body was not a Kling JSON envelope. */
  code: number | null;
  message: string;
  requestId?: string;
}

export type KlingResult<T> = KlingOkResult<T> | KlingErrorResult;

export interface KlingListQuery {
  /** 1..1000 */
  pageNum: number;
  /** 1..500 */
  pageSize: number;
}

export interface KlingClient {
  createTask(body: KlingCreateRequest): Promise<KlingResult<KlingTask>>;
  /** Accepts either the upstream task id or our `external_task_id`. */
  getTask(taskIdOrExternalId: string): Promise<KlingResult<KlingTask>>;
  listTasks(query: KlingListQuery): Promise<KlingResult<KlingTask[]>>;
}

/** Lifetime of a signed JWT, per Kling's reference. */
export const KLING_JWT_TTL_SECONDS = 1800;
/** `nbf` is backdated this much to tolerate clock skew, per Kling's reference. */
export const KLING_JWT_NBF_SKEW_SECONDS = 5;
/** A cached JWT is replaced once it has less than this left, so a slow request never carries an expiring token. */
export const KLING_JWT_REFRESH_MARGIN_SECONDS = 600;

const EXTEND_PATH = "/v1/videos/video-extend";
const BODY_SNIPPET_CHARS = 200;
const MIN_REDACTED_LENGTH = 6;

/** The HS256 token Kling's official API expects. Exported for tests and for the sandbox's own checks. */
export function signKlingJwt(accessKey: string, secretKey: string, nowMs: number): { token: string; expSeconds: number } {
  const nowSeconds = Math.floor(nowMs / 1000);
  const expSeconds = nowSeconds + KLING_JWT_TTL_SECONDS;
  const token = jwt.sign({ iss: accessKey, exp: expSeconds, nbf: nowSeconds - KLING_JWT_NBF_SKEW_SECONDS }, secretKey, {
    algorithm: "HS256",
    header: { alg: "HS256", typ: "JWT" },
    // jsonwebtoken would add `iat` from the real clock; Kling documents exactly iss/exp/nbf.
    noTimestamp: true,
  });
  return { token, expSeconds };
}

export function createKlingClient(options: KlingClientOptions): KlingClient {
  const now = options.now ?? Date.now;
  const base = options.baseUrl.replace(/\/+$/, "") + options.pathPrefix;
  const { auth } = options;
  let cachedJwt: { token: string; expSeconds: number } | null = null;

  function bearer(): string {
    if (auth.mode === "static") return auth.apiKey;
    const nowSeconds = Math.floor(now() / 1000);
    if (!cachedJwt || cachedJwt.expSeconds - nowSeconds < KLING_JWT_REFRESH_MARGIN_SECONDS) {
      cachedJwt = signKlingJwt(auth.accessKey, auth.secretKey, now());
    }
    return cachedJwt.token;
  }

  /** Defence in depth: whatever a proxy echoes back, credentials never reach our logs through an error message. */
  function redact(text: string): string {
    const secrets =
      auth.mode === "static" ? [auth.apiKey] : [auth.accessKey, auth.secretKey, ...(cachedJwt ? [cachedJwt.token] : [])];
    let out = text;
    // Very short "secrets" (test keys like "k") would shred ordinary words and protect nothing.
    for (const secret of secrets) if (secret.length >= MIN_REDACTED_LENGTH) out = out.split(secret).join("[redacted]");
    return out;
  }

  function failure(httpStatus: number, code: number | null, message: string, requestId?: string): KlingErrorResult {
    const result: KlingErrorResult = { ok: false, httpStatus, code, message: redact(message) };
    if (requestId !== undefined) result.requestId = requestId;
    return result;
  }

  async function call<T>(method: "GET" | "POST", path: string, body: unknown, dataSchema: z.ZodType<T>): Promise<KlingResult<T>> {
    const headers: Record<string, string> = { Authorization: `Bearer ${bearer()}`, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";

    let status: number;
    let text: string;
    let headerRequestId: string | undefined;
    try {
      const response = await fetch(base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      status = response.status;
      headerRequestId = response.headers.get("x-request-id") ?? undefined;
      text = await response.text();
    } catch (err) {
      return failure(0, null, describeNetworkError(err, options.timeoutMs));
    }

    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return failure(status, null, `HTTP ${status} with a non-JSON body: ${snippet(text)}`, headerRequestId);
    }
    const envelope = KlingEnvelopeSchema.safeParse(json);
    if (!envelope.success) {
      return failure(status, null, `HTTP ${status} with an unexpected JSON body: ${snippet(text)}`, headerRequestId);
    }
    const { code, message, request_id: requestId = headerRequestId } = envelope.data;
    if (status !== 200 || code !== 0) {
      return failure(status, code, message ?? `HTTP ${status}, code ${code}`, requestId);
    }
    const data = dataSchema.safeParse(envelope.data.data);
    if (!data.success) {
      // A success envelope whose payload we cannot read: report it as an error without a code so it is never
      // mistaken for a documented upstream answer.
      return failure(status, null, `unexpected data in a success response: ${z.prettifyError(data.error)}`, requestId);
    }
    const ok: KlingOkResult<T> = { ok: true, data: data.data };
    if (requestId !== undefined) ok.requestId = requestId;
    return ok;
  }

  return {
    createTask: (body) => call("POST", EXTEND_PATH, body, KlingTaskSchema),
    getTask: (id) => call("GET", `${EXTEND_PATH}/${encodeURIComponent(id)}`, undefined, KlingTaskSchema),
    listTasks: ({ pageNum, pageSize }) =>
      call("GET", `${EXTEND_PATH}?pageNum=${pageNum}&pageSize=${pageSize}`, undefined, z.array(KlingTaskSchema)),
  };
}

function describeNetworkError(err: unknown, timeoutMs: number): string {
  // Duck-typed: the timeout is a DOMException, which is not `instanceof Error` in every realm (jest's vm, for one).
  const { name, message, cause } = (typeof err === "object" && err !== null ? err : {}) as {
    name?: unknown;
    message?: unknown;
    cause?: { code?: unknown; message?: unknown };
  };
  if (name === "TimeoutError" || name === "AbortError") return `timeout: no complete answer within ${timeoutMs} ms`;
  const detail = typeof cause?.code === "string" ? cause.code : typeof cause?.message === "string" ? cause.message : undefined;
  const text = typeof message === "string" ? message : String(err);
  return `network error: ${text}${detail ? ` (${detail})` : ""}`;
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  if (flat.length === 0) return "(empty)";
  return flat.length > BODY_SNIPPET_CHARS ? `${flat.slice(0, BODY_SNIPPET_CHARS)}…` : flat;
}
