/** The `error.code` of a job (and of a chain) that the lifecycle sets itself; upstream's own codes are kept as upstream sent them. */

/** Upstream reported the task failed. */
export const TASK_FAILED_CODE = "task_failed";
/** Canceled by request (one job, or its batch). */
export const CANCELED_CODE = "canceled";
/** A chain step would make the video longer than upstream accepts. */
export const VIDEO_TOO_LONG_CODE = "video_too_long";
/** Retryable upstream errors outlasted every submit attempt. */
export const ATTEMPTS_EXHAUSTED_CODE = "upstream_unavailable";
/** Upstream gave no final answer within the task deadline. */
export const DEADLINE_CODE = "upstream_timeout";
/** Upstream no longer knows the job's task. */
export const TASK_MISSING_CODE = "upstream_task_missing";
