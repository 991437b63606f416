import { TASK_FAILED_CODE } from "@kex/contract";
import type { JobStatus, UpstreamTaskStatus } from "@kex/core";
import type { Db } from "./client";
import type { Prisma } from "./client";
import type { EventSource, Job } from "./generated/client";
import { applyJobEvent, getJob, recordEvent, type ApplyResult } from "./jobs";

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
export function upstreamPatch(
  job: Job,
  to: JobStatus | null,
  task: UpstreamTaskReport,
  now: Date,
): Prisma.JobUpdateManyMutationInput {
  const data: Prisma.JobUpdateManyMutationInput = {};
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

/**
 * Applies what upstream says about a job's task (callback, poll, or the create answer) through the
 * state machine. A report about a different task than the one the job holds changes nothing.
 */
export async function applyUpstreamReport(
  db: Db,
  args: { jobId: string; task: UpstreamTaskReport; source: EventSource; payload?: unknown; now?: Date },
): Promise<ApplyResult> {
  const now = args.now ?? new Date();
  const job = await getJob(db, args.jobId);
  if (!job) return { outcome: "not_found" };
  if (job.upstreamTaskId && job.upstreamTaskId !== args.task.task_id) {
    await recordEvent(db, {
      jobId: job.id,
      source: args.source,
      type: `upstream_${args.task.task_status}`,
      from: job.status,
      detail: `task mismatch: report is for task ${args.task.task_id}, job holds ${job.upstreamTaskId}`,
      payload: args.payload ?? args.task,
      at: now,
    });
    return { outcome: "unchanged", reason: "not_applicable", job };
  }
  return applyJobEvent(db, {
    jobId: args.jobId,
    current: job,
    event: { type: "upstream_status", status: args.task.task_status },
    source: args.source,
    payload: args.payload ?? args.task,
    now,
    patch: (row, to) => upstreamPatch(row, to, args.task, now),
  });
}

/** Records that upstream accepted a create call (the task id), then anything further the answer says. */
export async function adoptUpstreamTask(
  db: Db,
  args: { jobId: string; task: UpstreamTaskReport; source: EventSource; detail?: string; now?: Date; current?: Job },
): Promise<ApplyResult> {
  const now = args.now ?? new Date();
  const accepted = await applyJobEvent(db, {
    jobId: args.jobId,
    current: args.current,
    event: { type: "upstream_accepted" },
    source: args.source,
    payload: args.task,
    detail: args.detail ?? `task ${args.task.task_id}`,
    now,
    patch: (row, to) => {
      if (to) return upstreamPatch(row, to, { ...args.task, task_status: "submitted" }, now);
      // Canceled while the create was in flight: the task exists upstream and holds an account slot
      // until it finishes, so keep track of it.
      if (row.status === "canceled" && !row.upstreamTaskId) return { upstreamTaskId: args.task.task_id, upstreamStatus: "submitted" };
      return {};
    },
  });
  const tracking = accepted.outcome === "changed" || (accepted.outcome === "unchanged" && accepted.job.status === "canceled");
  if (tracking && args.task.task_status !== "submitted") {
    return applyUpstreamReport(db, { ...args, now });
  }
  return accepted;
}
