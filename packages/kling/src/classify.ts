import type { KlingErrorResult } from "./client";

/** Default wait after 429/1302 (request rate limit), in milliseconds. */
export const RATE_LIMITED_DELAY_MS = 1000;
/** Default wait after 429/1303 (parallel-task limit); a running task has to finish first, in milliseconds. */
export const AT_CAPACITY_DELAY_MS = 2000;

/**
 * What the caller should do with a failed upstream call, decided once here (docs/architecture.md#errors).
 * - `retry`: transient; retry with backoff, counts as an attempt.
 * - `rate_limited` / `at_capacity`: try again after `delayMs`; not a failure of the job.
 * - `pause_account`: the account itself is blocked (exception, arrears, resource pack); stop all submissions, alert.
 * - `permanent`: this job cannot succeed as submitted; `alert` when it means our configuration is wrong.
 */
export type UpstreamVerdict =
  | { kind: "retry"; reason: string }
  | { kind: "rate_limited"; delayMs: number }
  | { kind: "at_capacity"; delayMs: number }
  | { kind: "pause_account"; code: number; message: string }
  | { kind: "permanent"; code: string; message: string; alert: boolean };

/** Generic meaning of each documented code, used when upstream sends no message of its own. */
export const KLING_ERROR_MEANINGS: Readonly<Record<number, string>> = {
  1000: "authentication failed",
  1001: "authorization header empty",
  1002: "authorization invalid",
  1003: "authorization not yet valid",
  1004: "authorization expired",
  1100: "account exception",
  1101: "account in arrears",
  1102: "resource pack used up or expired",
  1103: "no permission for this API or model",
  1200: "invalid request",
  1201: "invalid parameter value",
  1202: "invalid request method",
  1203: "requested resource does not exist",
  1300: "platform policy triggered",
  1301: "content safety policy triggered",
  1302: "request rate limit exceeded",
  1303: "parallel task limit exceeded",
  1304: "IP whitelist policy triggered",
  5000: "server internal error",
  5001: "server temporarily unavailable",
  5002: "server internal timeout",
};

export function classifyUpstreamError(err: KlingErrorResult): UpstreamVerdict {
  const { code, httpStatus } = err;
  const message = err.message || (code !== null ? KLING_ERROR_MEANINGS[code] : undefined) || `HTTP ${httpStatus}`;

  // A documented code decides, whatever HTTP status carried it (some proxies answer errors with 200).
  if (code !== null) {
    // The upstream message is kept (for 1200/1201 it is the only place that says which parameter was wrong).
    const permanent = (alert: boolean): UpstreamVerdict => ({ kind: "permanent", code: String(code), message, alert });
    if (code >= 1000 && code <= 1004) return permanent(true);
    if (code >= 1100 && code <= 1102) return { kind: "pause_account", code, message };
    switch (code) {
      case 1103:
      case 1200:
      case 1201:
      case 1202:
      case 1203:
      case 1300:
      case 1301:
        return permanent(false);
      case 1302:
        return { kind: "rate_limited", delayMs: RATE_LIMITED_DELAY_MS };
      case 1303:
        return { kind: "at_capacity", delayMs: AT_CAPACITY_DELAY_MS };
      case 1304:
        return permanent(true);
      case 5000:
      case 5001:
      case 5002:
        return { kind: "retry", reason: `upstream ${code}: ${message}` };
    }
  }

  if (httpStatus === 0) return { kind: "retry", reason: message };
  if (httpStatus >= 500 || httpStatus === 408) {
    return { kind: "retry", reason: `HTTP ${httpStatus}${code !== null ? ` code ${code}` : ""}: ${message}` };
  }
  // A 429 without a documented code comes from something in front of Kling (a proxy, a gateway): it still means
  // "slow down", never "this job is wrong".
  if (httpStatus === 429) return { kind: "rate_limited", delayMs: RATE_LIMITED_DELAY_MS };
  if (httpStatus >= 400) {
    return { kind: "permanent", code: code !== null ? String(code) : `http_${httpStatus}`, message, alert: false };
  }
  // 2xx/3xx that was still not a readable success (e.g. code 0 with a malformed payload, a redirect page):
  // nothing says the job is wrong, so let the retry budget decide.
  return { kind: "retry", reason: `unexpected answer, HTTP ${httpStatus}: ${message}` };
}
