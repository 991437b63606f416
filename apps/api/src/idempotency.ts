import { createHash } from "node:crypto";
import { IdempotencyKeySchema } from "@kex/contract";
import { claimIdempotencyKey, completeIdempotencyKey, releaseIdempotencyKey, type Db } from "@kex/db";
import type { RequestHandler } from "express";
import { authOf } from "./auth";
import { ApiError, parseOr400 } from "./errors";

/**
 * JSON with object keys sorted, so `{a,b}` and `{b,a}` are the same request. Written with a stack of
 * its own, not by recursion: the body's nesting is the caller's, and must never be our call stack's.
 */
export function canonicalJson(root: unknown): string {
  const out: string[] = [];
  // What is left to write, the next thing on top: a value, or punctuation already decided.
  const pending: Array<{ value: unknown } | { literal: string }> = [{ value: root }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if ("literal" in next) {
      out.push(next.literal);
      continue;
    }
    const { value } = next;
    if (value === null || typeof value !== "object") {
      out.push(JSON.stringify(value) ?? "null");
      continue;
    }
    const entries: Array<[string | undefined, unknown]> = Array.isArray(value)
      ? value.map((item) => [undefined, item])
      : Object.keys(value)
          .sort()
          .map((key) => [key, (value as Record<string, unknown>)[key]]);
    const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
    pending.push({ literal: close });
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, item] = entries[i]!;
      pending.push({ value: item });
      if (key !== undefined) pending.push({ literal: `${JSON.stringify(key)}:` });
      if (i > 0) pending.push({ literal: "," });
    }
    out.push(open);
  }
  return out.join("");
}

export interface IdempotencyOptions {
  db: Db;
  /** How long a key is remembered (default 24 h). */
  ttlMs: number;
  /** A first request still unfinished after this long is considered dead and its key reusable. */
  abandonAfterMs?: number;
  /** Response fields never stored (secrets shown once); a replay shows them as null. */
  redact?: readonly string[];
}

/**
 * `Idempotency-Key` for POSTs that create something. The first request claims the key (per tenant);
 * its response (2xx or 4xx) is stored and replayed for the same key and the same request (method,
 * path, body); a different request with the key answers 409, and so does a replay while the first is
 * still running. A 5xx releases the key so the client's retry runs again.
 */
export function idempotency(options: IdempotencyOptions): RequestHandler {
  return async (req, res, next) => {
    const header = req.get("idempotency-key");
    if (req.method !== "POST" || header === undefined) return next();
    const key = parseOr400(IdempotencyKeySchema, header, "Idempotency-Key header");
    const { tenantId } = authOf(res);
    const requestHash = createHash("sha256").update(`${req.method} ${req.baseUrl}${req.path}\n${canonicalJson(req.body ?? null)}`).digest("hex");
    const claim = await claimIdempotencyKey(options.db, { tenantId, key, requestHash, ttlMs: options.ttlMs, abandonAfterMs: options.abandonAfterMs ?? 60_000 });
    if (claim.kind === "existing") {
      const { row } = claim;
      if (row.requestHash !== requestHash) {
        throw new ApiError(409, "idempotency_conflict", "this Idempotency-Key was already used with a different request (method, path or body)");
      }
      if (row.status !== "done" || row.responseStatus === null) {
        throw new ApiError(409, "idempotency_in_progress", "a request with this Idempotency-Key is still being processed; retry shortly");
      }
      res.status(row.responseStatus).set("Idempotent-Replayed", "true").json(row.responseBody);
      return;
    }
    const send = res.json.bind(res);
    res.json = (body: unknown) => {
      const status = res.statusCode;
      const stored =
        body && typeof body === "object" && options.redact?.length
          ? Object.fromEntries(Object.entries(body as Record<string, unknown>).map(([k, v]) => [k, options.redact!.includes(k) ? null : v]))
          : body;
      const settle =
        status >= 500
          ? releaseIdempotencyKey(options.db, { tenantId, key })
          : completeIdempotencyKey(options.db, { tenantId, key, status, body: stored });
      settle.then(
        () => send(body),
        (err: Error) => {
          req.log?.error({ err: err.message }, "could not store the idempotent response");
          send(body);
        },
      );
      return res;
    };
    next();
  };
}
