import { assertNever, type JobEventInput, type JobStatus } from "@kex/core";
import type { Job, JobColumns } from "@kex/db";
import { CANCELED_CODE } from "@kex/contract";
import { isCanceledWithUntrackedTask } from "./statuses";
import { reportRefusal, storableReport, upstreamColumns, type UpstreamTaskReport } from "./upstream-report";

/** Why the lifecycle failed a job, as stored in `error_code` / `error_message`. */
export interface JobError {
  code: string;
  message: string;
}

/** Everything that can be applied to a job, with what the engine needs to write it. */
export type LifecycleEvent =
  | { type: "upstream_accepted"; task: UpstreamTaskReport } // create (or a lookup) answered with a task
  | { type: "upstream_status"; task: UpstreamTaskReport } // callback or poll
  | { type: "submit_rejected"; error: JobError } // permanent upstream error on create, or retries exhausted
  | { type: "cancel_requested" }
  | { type: "deadline_exceeded"; error: JobError }; // no final answer from upstream in time

/** What the pure state machine (core's `decideTransition`) sees of an event. */
export function decisionInput(event: LifecycleEvent): JobEventInput {
  return event.type === "upstream_status" ? { type: event.type, status: event.task.task_status } : { type: event.type };
}

/** The event with upstream's text in it made storable (`storableReport`). */
export function storableEvent(event: LifecycleEvent): LifecycleEvent {
  return event.type === "upstream_status" || event.type === "upstream_accepted" ? { ...event, task: storableReport(event.task) } : event;
}

/** Why an upstream report may not touch this job (`reportRefusal`); null for it may, and for every other event. */
export function reportRefusalOf(job: Job, event: LifecycleEvent): string | null {
  if (event.type === "upstream_status") return reportRefusal(job, event.task, "status");
  if (event.type === "upstream_accepted") return reportRefusal(job, event.task, "accepted");
  return null;
}

/** The event log's `type` of an event. */
export function eventLogType(event: LifecycleEvent): string {
  return event.type === "upstream_status" ? `upstream_${event.task.task_status}` : event.type;
}

/**
 * The columns an event writes besides the status, given the row as read and the target status (null
 * when the status does not change: then only what must still be recorded, e.g. the task of a job
 * canceled while its create was in flight).
 */
export function eventColumns(job: Job, to: JobStatus | null, event: LifecycleEvent, now: Date): JobColumns {
  switch (event.type) {
    case "upstream_status":
      return upstreamColumns(job, to, event.task, now);
    case "upstream_accepted":
      if (to) return upstreamColumns(job, to, { ...event.task, task_status: "submitted" }, now);
      // Canceled while the create was in flight: the task exists upstream and holds an account slot
      // until it finishes, so keep track of it.
      if (isCanceledWithUntrackedTask(job)) return { upstreamTaskId: event.task.task_id, upstreamStatus: "submitted" };
      return {};
    case "submit_rejected":
    case "deadline_exceeded":
      return to ? { errorCode: event.error.code, errorMessage: event.error.message } : {};
    case "cancel_requested":
      return to ? { errorCode: CANCELED_CODE, errorMessage: CANCELED_MESSAGE } : {};
    default:
      return assertNever(event);
  }
}

export const CANCELED_MESSAGE = "canceled by request";
