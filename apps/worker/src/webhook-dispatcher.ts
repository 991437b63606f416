import { isIP } from "node:net";
import { guardedLookup, resolveAllowedAddresses, SsrfBlockedError, systemResolveAll, urlHostname, type Logger, type ResolveAll } from "@kex/core";
import { claimDueDeliveries, ensureWebhookSecret, recordDeliveryAttempt, type ClaimedDelivery, type Db, type DeliveryAttemptResult } from "@kex/db";
import { Webhook } from "standardwebhooks";
import { Agent, request } from "undici";
import type { WebhookAttemptResult, WorkerMetrics } from "./metrics";

export interface WebhookDispatcherSettings {
  /** How often Postgres is asked for due deliveries (WEBHOOK_POLL_MS, default 500). */
  pollMs: number;
  /** Requests in flight at once (WEBHOOK_CONCURRENCY, default 10). */
  concurrency: number;
  /** One request, connect to last byte (WEBHOOK_TIMEOUT_MS, default 10000). */
  timeoutMs: number;
  /** Delay before attempt 1, 2, … (WEBHOOK_RETRY_SCHEDULE_MS); its length is the number of attempts. */
  retryScheduleMs: readonly number[];
  /** Send to loopback/private/link-local/metadata addresses too (ALLOW_PRIVATE_WEBHOOK_URLS, default false). */
  allowPrivateUrls: boolean;
  /** How long a claimed delivery is kept from other dispatchers (default max(60 s, 3 × timeoutMs)). */
  leaseMs?: number;
}

export interface WebhookDispatcherDeps {
  db: Db;
  logger: Logger;
  metrics: Pick<WorkerMetrics, "webhookDeliveries">;
  settings: WebhookDispatcherSettings;
  /** Name resolution for the connect-time SSRF guard (default: the system's `dns.lookup`). */
  resolve?: ResolveAll;
  now?: () => Date;
}

/** How long a tenant's signing secret is reused before it is read again. */
const SECRET_CACHE_MS = 60_000;
/** Characters of a failed response's body kept in its attempt's error. */
const ERROR_BODY_CHARS = 200;
const USER_AGENT = "kex-webhooks/1";

export interface WebhookDispatcher {
  /** Starts polling. */
  start(): void;
  /** Claims what is due (up to the free concurrency) and waits for those sends; returns how many were sent (tests, operators). */
  runOnce(): Promise<number>;
  /** Stops polling, waits for the requests in flight (each ends within timeoutMs), closes connections. */
  close(): Promise<void>;
}

/** The error of an attempt that failed before a response, in words. */
function describeError(err: unknown, timedOut: boolean, timeoutMs: number): string {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof SsrfBlockedError) return `refused: ${e.message}`;
  }
  if (timedOut) return `timed out after ${timeoutMs} ms`;
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e?.code ?? e?.cause?.code;
  const message = e?.cause?.message && e.cause.message !== e.message ? `${e.message}: ${e.cause.message}` : (e?.message ?? String(err));
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

/** The stored event as the body: `{type, timestamp, data}` in that order (jsonb keeps keys in its own order). */
function serializePayload(payload: unknown): string {
  if (typeof payload === "string") return payload;
  if (payload && typeof payload === "object" && !Array.isArray(payload)) {
    const { type, timestamp, data, ...rest } = payload as Record<string, unknown>;
    return JSON.stringify({ type, timestamp, data, ...rest });
  }
  return JSON.stringify(payload);
}

async function bodySnippet(body: AsyncIterable<Buffer>): Promise<string> {
  let text = "";
  try {
    for await (const chunk of body) {
      text += chunk.toString("utf8");
      if (text.length >= ERROR_BODY_CHARS) break;
    }
  } catch {
    // The body is only for the log; a broken one changes nothing.
  }
  return text.slice(0, ERROR_BODY_CHARS).replace(/\s+/g, " ").trim();
}

/**
 * Sends the outbox's webhook deliveries (Postgres is the queue; see `claimDueDeliveries`), signed per
 * Standard Webhooks: `webhook-id` is the delivery id (the same on every retry, so receivers can
 * dedupe), `webhook-timestamp` the attempt's time, `webhook-signature` v1 HMAC with the tenant's
 * `whsec_` secret. A 2xx delivers; anything else (3xx included: redirects are never followed),
 * a timeout or a connection error is a failed attempt, retried on `retryScheduleMs`.
 *
 * SSRF: unless `allowPrivateUrls`, every connection goes through a lookup that refuses hosts resolving
 * to non-public addresses and pins the socket to the addresses it checked (no DNS rebinding), and IP
 * literal hosts (which never reach a lookup) are checked before the request.
 */
export function createWebhookDispatcher(deps: WebhookDispatcherDeps): WebhookDispatcher {
  const { db, logger, metrics, settings } = deps;
  const now = deps.now ?? (() => new Date());
  const resolve = deps.resolve ?? systemResolveAll;
  const leaseMs = settings.leaseMs ?? Math.max(60_000, 3 * settings.timeoutMs);
  const agent = new Agent({
    connect: { timeout: settings.timeoutMs, ...(settings.allowPrivateUrls ? {} : { lookup: guardedLookup(resolve) }) },
    headersTimeout: settings.timeoutMs,
    bodyTimeout: settings.timeoutMs,
    keepAliveTimeout: 4_000,
  });
  const secrets = new Map<string, { secret: string; expires: number }>();
  const active = new Set<Promise<void>>();
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let claiming: Promise<Promise<void>[]> | null = null;
  let closed: Promise<void> | null = null;

  async function secretFor(tenantId: string): Promise<string> {
    const cached = secrets.get(tenantId);
    if (cached && cached.expires > Date.now()) return cached.secret;
    const secret = await ensureWebhookSecret(db, tenantId);
    secrets.set(tenantId, { secret, expires: Date.now() + SECRET_CACHE_MS });
    return secret;
  }

  async function send(delivery: ClaimedDelivery, secret: string): Promise<DeliveryAttemptResult> {
    const body = serializePayload(delivery.payload);
    const startedAt = now();
    const headers = {
      "content-type": "application/json",
      "user-agent": USER_AGENT,
      "webhook-id": delivery.id,
      "webhook-timestamp": String(Math.floor(startedAt.getTime() / 1000)),
      "webhook-signature": new Webhook(secret).sign(delivery.id, startedAt, body),
    };
    const started = performance.now();
    const signal = AbortSignal.timeout(settings.timeoutMs);
    const elapsed = () => performance.now() - started;
    try {
      const url = new URL(delivery.url);
      if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`unsupported protocol ${url.protocol}`);
      // Node calls no lookup for an IP literal host: check it here (names are checked at connect time).
      const host = urlHostname(url);
      if (!settings.allowPrivateUrls && isIP(host)) await resolveAllowedAddresses(host, resolve);
      const res = await request(url, { method: "POST", dispatcher: agent, headers, body, signal });
      const statusCode = res.statusCode;
      if (statusCode >= 200 && statusCode < 300) {
        await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
        return { ok: true, statusCode, latencyMs: elapsed(), error: null, startedAt };
      }
      if (statusCode >= 300 && statusCode < 400) {
        await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
        const location = res.headers.location;
        return { ok: false, statusCode, latencyMs: elapsed(), error: `redirect not followed${location ? ` (to ${String(location)})` : ""}`, startedAt };
      }
      const snippet = await bodySnippet(res.body);
      return { ok: false, statusCode, latencyMs: elapsed(), error: `HTTP ${statusCode}${snippet ? `: ${snippet}` : ""}`, startedAt };
    } catch (err) {
      return { ok: false, statusCode: null, latencyMs: elapsed(), error: describeError(err, signal.aborted, settings.timeoutMs), startedAt };
    }
  }

  async function deliver(delivery: ClaimedDelivery): Promise<void> {
    const log = logger.child({ deliveryId: delivery.id, eventType: delivery.eventType, jobId: delivery.jobId, batchId: delivery.batchId });
    try {
      const result = await send(delivery, await secretFor(delivery.tenantId));
      const recorded = await recordDeliveryAttempt(db, { deliveryId: delivery.id, result, retryScheduleMs: settings.retryScheduleMs, now: now() });
      if (!recorded) return;
      const outcome: WebhookAttemptResult = result.ok ? "delivered" : recorded.status === "pending" ? "retrying" : "failed";
      metrics.webhookDeliveries.inc({ result: outcome });
      const fields = { attempt: recorded.attempt, statusCode: result.statusCode, latencyMs: Math.round(result.latencyMs) };
      if (result.ok) log.debug(fields, "webhook delivered");
      else if (outcome === "retrying") log.warn({ ...fields, error: result.error, nextAttemptAt: recorded.nextAttemptAt }, "webhook attempt failed; will retry");
      else log.warn({ ...fields, error: result.error }, "webhook attempt failed; no attempt left");
    } catch (err) {
      // Postgres trouble: the claim's lease runs out and the delivery becomes due again.
      log.error({ err: (err as Error).message }, "webhook delivery could not be processed; it will be retried after its lease");
    }
  }

  /** Claims up to the free concurrency and starts the sends; resolves to them. One claim at a time. */
  function claimAndStart(): Promise<Promise<void>[]> {
    if (claiming) return claiming.then(() => []);
    claiming = (async () => {
      const free = settings.concurrency - active.size;
      if (stopped || free <= 0) return [];
      const due = await claimDueDeliveries(db, { now: now(), limit: free, leaseMs });
      const sends = due.map((delivery) => {
        const p: Promise<void> = deliver(delivery).finally(() => {
          active.delete(p);
          // A full claim means more may be waiting: take them as soon as a slot frees.
          if (due.length === free && !stopped) void tick();
        });
        active.add(p);
        return p;
      });
      return sends;
    })().finally(() => {
      claiming = null;
    });
    return claiming;
  }

  async function tick(): Promise<void> {
    try {
      await claimAndStart();
    } catch (err) {
      logger.warn({ err: (err as Error).message }, "could not claim webhook deliveries; will retry");
    }
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      void tick().finally(schedule);
    }, settings.pollMs);
    timer.unref?.();
  }

  return {
    start() {
      if (timer || stopped) return;
      schedule();
    },
    async runOnce() {
      const sends = await claimAndStart();
      await Promise.all(sends);
      return sends.length;
    },
    close() {
      closed ??= (async () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        await claiming?.catch(() => undefined);
        await Promise.all([...active]);
        await agent.close();
      })();
      return closed;
    },
  };
}
