/**
 * Every error code the system gives, each defined here once. The HTTP status says the class of an API
 * error; the code says which one, and clients may branch on it.
 */
export const API_ERROR_CODES = [
  // 400
  "validation_failed", // every bad field in `details`
  "invalid_json",
  "bad_request", // any other 4xx the body parser refuses with
  // 401, 403
  "unauthorized",
  "forbidden",
  // 404
  "not_found", // no such resource for this tenant
  "route_not_found",
  // 405 (the worker's metrics server)
  "method_not_allowed",
  // 409
  "idempotency_conflict", // the Idempotency-Key was used with a different request
  "idempotency_in_progress",
  "already_finished", // nothing left to cancel
  "chain_not_failed", // only a failed chain resumes
  "video_too_long", // resuming would pass upstream's 3 minutes; also a chain's error code
  "account_conflict", // the named account is not the one that produced the source video
  // 413, 415, 429
  "payload_too_large",
  "unsupported_media_type",
  "rate_limited",
  // 500, 503
  "internal_error",
  "unavailable",
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

// `error.code` of a failed or canceled job, and of the chain it stopped.

/** Upstream reported the task failed. */
export const TASK_FAILED_CODE = "task_failed";
/** Canceled by request. */
export const CANCELED_CODE = "canceled";
/** Upstream kept failing until the submit's attempts were used up. */
export const ATTEMPTS_EXHAUSTED_CODE = "upstream_unavailable";
/** Upstream gave no final answer within the task deadline. */
export const DEADLINE_CODE = "upstream_timeout";
/** Upstream no longer knows the task. */
export const TASK_MISSING_CODE = "upstream_task_missing";
/** A chain step would make the video longer than upstream accepts. */
export const VIDEO_TOO_LONG_CODE = "video_too_long" satisfies ApiErrorCode;

/** Every code of a failed or canceled job but one: a job refused at creation carries upstream's own code (e.g. "1203"). */
export const JOB_ERROR_CODES = [TASK_FAILED_CODE, ATTEMPTS_EXHAUSTED_CODE, DEADLINE_CODE, TASK_MISSING_CODE, CANCELED_CODE] as const;
