import type {
  ApiKeyCreated,
  ApiKeyList,
  ApiKeyResource,
  BatchCanceled,
  BatchCreated,
  BatchList,
  BatchResource,
  ChainCreate,
  ChainResource,
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
  headers?: Record<string, string>;
}

/** An answer with the headers the CLI looks at. */
export interface ApiAnswer<T> {
  body: T;
  /** `Idempotent-Replayed: true`: the API answered from an earlier request with the same Idempotency-Key. */
  replayed: boolean;
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

  listBatches(query: { limit?: number; cursor?: string }): Promise<BatchList> {
    return this.request("GET", "/v1/batches", { query: { limit: query.limit, cursor: query.cursor } });
  }

  /**
   * `body` is the serialized `{items, callback_url?, name?, metadata?}`: the caller builds it incrementally.
   * With the same `idempotencyKey`, the API answers a repeated request from the first one (`replayed`), so
   * the POST is safe to send again.
   */
  createBatch(body: string, idempotencyKey: string): Promise<ApiAnswer<BatchCreated>> {
    return this.requestWithHeaders("POST", "/v1/batches", {
      body,
      timeoutMs: this.createTimeoutMs,
      headers: { "Idempotency-Key": idempotencyKey },
    });
  }

  cancelJob(id: string): Promise<JobResource> {
    return this.request("POST", `/v1/extensions/${encodeURIComponent(id)}/cancel`, { body: {} });
  }

  cancelBatch(id: string): Promise<BatchCanceled> {
    return this.request("POST", `/v1/batches/${encodeURIComponent(id)}/cancel`, { body: {} });
  }

  getChain(id: string): Promise<ChainResource> {
    return this.request("GET", `/v1/chains/${encodeURIComponent(id)}`);
  }

  createChain(input: ChainCreate, idempotencyKey: string): Promise<ApiAnswer<ChainResource>> {
    return this.requestWithHeaders("POST", "/v1/chains", { body: input, headers: { "Idempotency-Key": idempotencyKey } });
  }

  retryChain(id: string): Promise<ChainResource> {
    return this.request("POST", `/v1/chains/${encodeURIComponent(id)}/retry`, { body: {} });
  }

  createKey(input: KeyCreate): Promise<ApiKeyCreated> {
    return this.request("POST", "/v1/keys", { body: input });
  }

  /** `tenantId`: another tenant's keys (the admin token only). */
  async listKeys(tenantId?: string): Promise<ApiKeyResource[]> {
    const page = await this.request<ApiKeyList>("GET", "/v1/keys", { query: { tenant_id: tenantId } });
    return page.data;
  }

  revokeKey(id: string): Promise<ApiKeyResource> {
    return this.request("POST", `/v1/keys/${encodeURIComponent(id)}/revoke`, { body: {} });
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    return (await this.requestWithHeaders<T>(method, path, options)).body;
  }

  async requestWithHeaders<T>(method: string, path: string, options: RequestOptions = {}): Promise<ApiAnswer<T>> {
    const url = new URL(this.options.url + path);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = {
      ...options.headers,
      Authorization: `Bearer ${this.options.token}`,
      Accept: "application/json",
    };
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
      return { body: JSON.parse(text) as T, replayed: res.headers.get("idempotent-replayed") === "true" };
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

export interface RetryOptions {
  /** Tries in all, the first included. Default 5. */
  attempts?: number;
  /** The pause after the first failure, doubled after each next one. Default 500 ms. */
  baseDelayMs?: number;
  /** Called before each pause (to tell the user). */
  onRetry?: (err: ApiRequestError, attempt: number, delayMs: number) => void;
}

/**
 * Runs `fn` again after retryable errors (network, 5xx, 429, an idempotent request still in progress),
 * with backoff. For reads, and for POSTs that carry an `Idempotency-Key` (a repeat cannot create twice).
 */
export async function withRetry<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 5;
  const baseDelayMs = options.baseDelayMs ?? 500;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof ApiRequestError) || !err.retryable || attempt >= attempts) throw err;
      const delayMs = baseDelayMs * 2 ** (attempt - 1);
      options.onRetry?.(err, attempt, delayMs);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
