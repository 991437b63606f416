import type { Logger } from "@kex/core";
import type { RequestHandler } from "express";
import type { QueueBackend } from "@kex/queue";
import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import { authOf } from "./auth";
import { ApiError } from "./errors";

/**
 * Per-tenant request rate limit, counted in the queue backend's store (Redis, or a table beside the
 * Postgres queue) so it holds across every API process. While that store is unreachable each process
 * falls back to its own in-memory limiter (the API keeps working). `perSecond` 0 turns it off.
 */
export function tenantRateLimit(deps: { backend: QueueBackend; perSecond: number; logger: Logger }): RequestHandler {
  if (deps.perSecond <= 0) return (_req, _res, next) => next();
  const limiter = deps.backend.rateLimiter({
    keyPrefix: "ratelimit",
    points: deps.perSecond,
    durationSec: 1,
    insuranceLimiter: new RateLimiterMemory({ points: deps.perSecond, duration: 1 }),
  });
  return async (_req, res, next) => {
    const { tenantId } = authOf(res);
    try {
      const result = await limiter.consume(tenantId);
      res.set("RateLimit-Limit", String(deps.perSecond));
      res.set("RateLimit-Remaining", String(result.remainingPoints));
      next();
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const retryAfter = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
      res.set("Retry-After", String(retryAfter));
      throw new ApiError(429, "rate_limited", `too many requests for this tenant (limit ${deps.perSecond}/s); retry after ${retryAfter} s`);
    }
  };
}
