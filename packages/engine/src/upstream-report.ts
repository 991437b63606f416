import type { JobStatus, UpstreamTaskStatus } from "@kex/core";
import type { Job, JobColumns } from "@kex/db";
import { TASK_FAILED_CODE } from "@kex/contract";

/** What upstream says about a task, from a callback or a query (the fields we use; others are kept in the payload). */
export interface UpstreamTaskReport {
  task_id: string;
  task_status: UpstreamTaskStatus;
  task_status_msg?: string | null;
  task_result?: { videos?: Array<{ id: string; url: string; duration?: string | number | null }> } | null;
}

const UPSTREAM_RANK: Record<UpstreamTaskStatus, number> = { submitted: 1, processing: 2, succeed: 3, failed: 3 };

function upstreamRank(status: string | null): number {
  return status && status in UPSTREAM_RANK ? UPSTREAM_RANK[status as UpstreamTaskStatus] : 0;
}

function parseDuration(value: string | number | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  const n = typeof value === "number" ? value : Number.parseFloat(value);
  return Number.isFinite(n) ? n : null;
}

/**
 * Columns that follow from an upstream report: the task id (adopted if we did not have it), the
 * upstream status (only forwards, and also on finished jobs: a canceled job's slot is held until
 * upstream finishes), the result or the failure reason, and when the task was accepted.
 */
export function upstreamColumns(job: Job, to: JobStatus | null, task: UpstreamTaskReport, now: Date): JobColumns {
  const data: JobColumns = {};
  if (!job.upstreamTaskId) data.upstreamTaskId = task.task_id;
  if (upstreamRank(task.task_status) > upstreamRank(job.upstreamStatus)) data.upstreamStatus = task.task_status;
  if (!to) return data;
  if (!job.submittedAt) data.submittedAt = now;
  if (to === "succeeded") {
    const video = task.task_result?.videos?.[0];
    if (video) {
      data.resultVideoId = video.id;
      data.resultUrl = video.url;
      data.resultDuration = parseDuration(video.duration);
    }
  } else if (to === "failed") {
    data.errorCode = TASK_FAILED_CODE;
    data.errorMessage = task.task_status_msg || "upstream task failed without a reason";
  }
  return data;
}
