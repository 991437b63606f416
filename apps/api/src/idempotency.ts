import { IdempotencyKeySchema } from "@kex/contract";
import { claimIdempotencyKey, completeIdempotencyKey, releaseIdempotencyKey, type Db } from "@kex/db";
import type { RequestHandler } from "express";
import { authOf } from "./auth";
import { ApiError, parseOr400 } from "./errors";
import { requestHashOf } from "./request-hash";

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
 * still running. A 5xx releases the key so the client's retry runs again. The request's hash (method,
 * path, body in canonical JSON: request-hash.ts) was taken by `jsonBody` where it parsed the body, in the
 * parse worker for a big one, so a 58 MB body costs this middleware nothing.
 */
export function idempotency(options: IdempotencyOptions): RequestHandler {
  return async (req, res, next) => {
    const header = req.get("idempotency-key");
    if (req.method !== "POST" || header === undefined) return next();
    const key = parseOr400(IdempotencyKeySchema, header, "Idempotency-Key header");
    const { tenantId } = authOf(res);
    const requestHash = requestHashOf(res);
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
