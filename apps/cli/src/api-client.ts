import type {
  ApiKeyCreated,
  ApiKeyList,
  ApiKeyResource,
  BatchCreated,
  BatchResource,
  JobList,
  JobResource,
  JobStatus,
  KeyCreate,
  ValidationDetail,
} from "@kex/contract";
import { ApiRequestError } from "./errors";
import type { Connection } from "./config";

export interface ApiClientOptions extends Connection {
  /** How long one request may take, start to end. Default 30 s; batch creation gets `createTimeoutMs`. */
  timeoutMs?: number;
  /** For `POST /v1/batches` (10,000 items can be tens of MB). Default 5 min. */
  createTimeoutMs?: number;
}

interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  /** A JSON value, or an already serialized JSON string. */
  body?: unknown;
  timeoutMs?: number;
}

/** The orchestrator's `/v1` API over HTTP. Every failure becomes an `ApiRequestError` (exit 3). */
export class ApiClient {
  private readonly timeoutMs: number;
  private readonly createTimeoutMs: number;

  constructor(private readonly options: ApiClientOptions) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.createTimeoutMs = options.createTimeoutMs ?? 5 * 60_000;
  }

  get baseUrl(): string {
    return this.options.url;
  }

  getJob(id: string): Promise<JobResource> {
    return this.request("GET", `/v1/extensions/${encodeURIComponent(id)}`);
  }

  getBatch(id: string): Promise<BatchResource> {
    return this.request("GET", `/v1/batches/${encodeURIComponent(id)}`);
  }

  listJobs(query: { batchId?: string; status?: JobStatus; limit?: number; cursor?: string }): Promise<JobList> {
    return this.request("GET", "/v1/extensions", {
      query: { batch_id: query.batchId, status: query.status, limit: query.limit, cursor: query.cursor },
    });
  }

  /** `body` is the serialized `{items, callback_url?}`: the caller builds it incrementally. */
  createBatch(body: string): Promise<BatchCreated> {
    return this.request("POST", "/v1/batches", { body, timeoutMs: this.createTimeoutMs });
  }

  createKey(input: KeyCreate): Promise<ApiKeyCreated> {
    return this.request("POST", "/v1/keys", { body: input });
  }

  async listKeys(): Promise<ApiKeyResource[]> {
    const page = await this.request<ApiKeyList>("GET", "/v1/keys");
    return page.data;
  }

  revokeKey(id: string): Promise<ApiKeyResource> {
    return this.request("POST", `/v1/keys/${encodeURIComponent(id)}/revoke`, { body: {} });
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const url = new URL(this.options.url + path);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = { Authorization: `Bearer ${this.options.token}`, Accept: "application/json" };
    let body: string | undefined;
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    }
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const what = `${method} ${path}`;
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      throw networkError(err, this.options.url, what, timeoutMs);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw networkError(err, this.options.url, what, timeoutMs);
    }
    if (!res.ok) throw httpError(res.status, text, what);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiRequestError(`${what}: HTTP ${res.status} with a body that is not JSON: ${snippet(text)}`, res.status, undefined);
    }
  }
}

function networkError(err: unknown, baseUrl: string, what: string, timeoutMs: number): ApiRequestError {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e?.name === "TimeoutError" || e?.name === "AbortError") {
    return new ApiRequestError(`${what}: no answer from the API at ${baseUrl} within ${timeoutMs / 1000} s`, undefined, "timeout");
  }
  const reason = e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
  return new ApiRequestError(`cannot reach the API at ${baseUrl} (${what}): ${reason}`, undefined, "network");
}

function httpError(status: number, text: string, what: string): ApiRequestError {
  let parsed: { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const error = parsed?.error;
  if (error && typeof error.message === "string") {
    const code = typeof error.code === "string" ? error.code : undefined;
    const details = Array.isArray(error.details) ? (error.details as ValidationDetail[]) : [];
    return new ApiRequestError(`${what}: HTTP ${status}${code ? ` ${code}` : ""}: ${error.message}`, status, code, details);
  }
  return new ApiRequestError(`${what}: HTTP ${status}${text ? `: ${snippet(text)}` : ""}`, status, undefined);
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}

/** Runs `fn` again after retryable errors (network, 5xx, 429), with backoff. Only for reads. */
export async function withRetry<T>(fn: () => Promise<T>, options: { attempts?: number; baseDelayMs?: number } = {}): Promise<T> {
  const attempts = options.attempts ?? 5;
  const baseDelayMs = options.baseDelayMs ?? 500;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof ApiRequestError) || !err.retryable || attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, baseDelayMs * 2 ** (attempt - 1)));
    }
  }
}
