import type { RequestHandler } from "express";
import { RateLimiterMemory } from "rate-limiter-flexible";
import { ApiError } from "./errors";

/** The window failed authentications are counted in. */
const WINDOW_SECONDS = 60;

/**
 * Throttles credential guessing per client address: every 401 answered to a request that carried an
 * `Authorization` header counts as a failure (a bogus bearer key costs a database lookup, a Basic-auth
 * guess a comparison), and an address with `failuresPerMinute` failures in the current minute is answered
 * 429 with `Retry-After` before any check runs, until the minute is over. Counted in this process's
 * memory: it is a brake on floods, not an account lockout. Other addresses are never affected. 0 = off.
 */
export function authFailureThrottle(options: { failuresPerMinute: number }): RequestHandler {
  const limit = options.failuresPerMinute;
  if (limit <= 0) return (_req, _res, next) => next();
  const failures = new RateLimiterMemory({ points: limit, duration: WINDOW_SECONDS });
  return async (req, res, next) => {
    const address = req.ip ?? "unknown";
    const seen = await failures.get(address);
    if (seen && seen.consumedPoints >= limit) {
      const retryAfter = Math.max(1, Math.ceil(seen.msBeforeNext / 1000));
      res.set("Retry-After", String(retryAfter));
      throw new ApiError(429, "rate_limited", `too many failed authentications from this address (limit ${limit} a minute); retry after ${retryAfter} s`);
    }
    if (req.get("authorization") !== undefined) {
      res.on("finish", () => {
        if (res.statusCode === 401) void failures.penalty(address, 1);
      });
    }
    next();
  };
}
