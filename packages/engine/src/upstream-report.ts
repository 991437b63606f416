import type { JobStatus, UpstreamTaskStatus } from "@kex/core";
import { storableText, type Job, type JobColumns } from "@kex/db";
import { TASK_FAILED_CODE } from "@kex/contract";
import { isBeingSubmitted } from "./statuses";

/** What upstream says about a task, from a callback or a query (the fields we use; others are kept in the payload). */
export interface UpstreamTaskReport {
  task_id: string;
  task_status: UpstreamTaskStatus;
  task_status_msg?: string | null;
  task_info?: { external_task_id?: string | null } | null;
  task_result?: { videos?: Array<{ id: string; url: string; duration?: string | number | null }> } | null;
  /** Units charged (a decimal string, read by packages/kling), on finished tasks. */
  final_unit_deduction?: string | null;
  /** What the balance was charged (decimal strings), on newer answers. */
  final_balance_deduction?: { quota: string; list_price: string } | null;
}

/**
 * The fields of a report we read, with upstream's text made storable (`storableText`: U+0000 and lone
 * surrogates become U+FFFD). Upstream's words are not ours to refuse, and a report we cannot store
 * would be lost; ids are compared in this form too, so a stored task id matches its next report.
 */
export function storableReport(task: UpstreamTaskReport): UpstreamTaskReport {
  const report: UpstreamTaskReport = { task_id: storableText(task.task_id), task_status: task.task_status };
  if (task.task_status_msg != null) report.task_status_msg = storableText(task.task_status_msg);
  if (task.task_info?.external_task_id != null) report.task_info = { external_task_id: storableText(task.task_info.external_task_id) };
  const videos = task.task_result?.videos;
  if (videos) report.task_result = { videos: videos.map((v) => ({ id: storableText(v.id), url: storableText(v.url), duration: v.duration })) };
  // Decimal strings already (packages/kling drops anything else): nothing to make storable.
  if (task.final_unit_deduction != null) report.final_unit_deduction = task.final_unit_deduction;
  if (task.final_balance_deduction != null) report.final_balance_deduction = { ...task.final_balance_deduction };
  return report;
}

/**
 * Longest task id a job may take. Upstream's are 18-19 digits; the unique index on task ids cannot hold
 * a long random one (a btree entry is at most about 2.7 KB), so a longer id is only logged.
 */
export const TASK_ID_MAX_CHARS = 256;

/**
 * Why a report may not touch this job (null when it may): the one rule on which task a job follows,
 * for callbacks, polls and create answers alike.
 *
 * - A job that holds a task follows that task only; a report about another task is only logged.
 * - A job that holds none takes the report's task (binds it) only from a create answer, or from a
 *   status report while it is `submitting`: its callback URL's token shows that upstream got the
 *   task from this job's own create, whose answer may have been lost. A job still `queued` was never
 *   sent, and a finished one is past taking a task, so such a report is only logged: had it bound,
 *   the job's real task would later be refused as a mismatch.
 * - A report that names an `external_task_id` binds only if it is this job's: a create of another
 *   job's (or a forger's) cannot be taken for this one's.
 * - A task id longer than `TASK_ID_MAX_CHARS` is no upstream task's.
 */
export function reportRefusal(job: Job, task: UpstreamTaskReport, kind: "status" | "accepted"): string | null {
  if (task.task_id.length > TASK_ID_MAX_CHARS) {
    return `task id of ${task.task_id.length} characters not bound: upstream's are at most ${TASK_ID_MAX_CHARS} (${task.task_id.slice(0, 40)}…)`;
  }
  if (job.upstreamTaskId) {
    return kind === "accepted" || job.upstreamTaskId === task.task_id ? null : `task mismatch: report is for task ${task.task_id}, job holds ${job.upstreamTaskId}`;
  }
  if (kind === "status" && !isBeingSubmitted(job)) {
    return `task ${task.task_id} not bound: a job takes a task from a report only while submitting (it is ${job.status})`;
  }
  const external = task.task_info?.external_task_id;
  if (external != null && external !== job.externalTaskId) {
    return `task ${task.task_id} not bound: it belongs to external_task_id ${external}, this job's is ${job.externalTaskId ?? "not set"}`;
  }
  return null;
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
 * What upstream charged for the job's task, when the report says and the job has not recorded it yet: the first
 * report that carries it wins (the columns are also written once in SQL, see packages/db's columns.ts), so a
 * callback and a query about one task never count it twice. Also on a canceled job: its task still cost.
 */
export function deductionColumns(job: Job, task: UpstreamTaskReport): JobColumns {
  const data: JobColumns = {};
  if (task.final_unit_deduction != null && job.finalUnitDeduction === null) data.finalUnitDeduction = task.final_unit_deduction;
  const balance = task.final_balance_deduction;
  if (balance != null && job.finalBalanceQuota === null && job.finalBalanceListPrice === null) {
    data.finalBalanceQuota = balance.quota;
    data.finalBalanceListPrice = balance.list_price;
  }
  return data;
}

/**
 * Columns that follow from an upstream report that `reportRefusal` let through: the task id (bound if
 * the job had none), the upstream status of the job's own task (only forwards, and also when the job's
 * status does not move: a canceled job's slot is held until upstream finishes), the result or the
 * failure reason, and when the task was accepted.
 */
export function upstreamColumns(job: Job, to: JobStatus | null, task: UpstreamTaskReport, now: Date): JobColumns {
  const data: JobColumns = {};
  if (!job.upstreamTaskId) data.upstreamTaskId = task.task_id;
  if (upstreamRank(task.task_status) > upstreamRank(job.upstreamStatus)) data.upstreamStatus = task.task_status;
  Object.assign(data, deductionColumns(job, task));
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
