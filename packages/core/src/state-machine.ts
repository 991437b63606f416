import { assertNever, type JobStatus, type UpstreamTaskStatus } from "./job-status";

/** Everything that can happen to a job. Callbacks and polls both arrive as `upstream_status`. */
export type JobEventInput =
  | { type: "submit_started" } // a worker is about to call upstream create
  | { type: "upstream_accepted" } // create answered with a task id
  | { type: "upstream_status"; status: UpstreamTaskStatus } // callback or poll
  | { type: "submit_rejected" } // permanent upstream error on create, or retries exhausted
  | { type: "cancel_requested" }
  | { type: "deadline_exceeded" }; // no terminal answer from upstream in time

export type JobEventType = JobEventInput["type"];

/** Why an event changed nothing. */
export type NoChangeReason =
  | "duplicate" // the job is already where the event would put it
  | "stale" // the event is older than the job's state (e.g. `submitted` after `processing`)
  | "terminal" // the job has finished; nothing moves it again
  | "not_applicable"; // the event makes no sense in this state (e.g. a callback for a job never sent)

export type Decision = { change: true; to: JobStatus } | { change: false; reason: NoChangeReason };

const to = (status: JobStatus): Decision => ({ change: true, to: status });
const keep = (reason: NoChangeReason): Decision => ({ change: false, reason });

function fromUpstream(status: UpstreamTaskStatus): JobStatus {
  switch (status) {
    case "submitted":
      return "submitted";
    case "processing":
      return "processing";
    case "succeed":
      return "succeeded";
    case "failed":
      return "failed";
    default:
      return assertNever(status);
  }
}

const RANK: Record<JobStatus, number> = {
  queued: 0,
  submitting: 1,
  submitted: 2,
  processing: 3,
  succeeded: 4,
  failed: 4,
  canceled: 4,
};

/**
 * The one place that decides job transitions. Pure and monotonic: a job never moves backwards, and
 * nothing moves a finished job. Callers apply the answer with a guarded update (`where status = from`).
 */
export function decideTransition(from: JobStatus, event: JobEventInput): Decision {
  if (from === "succeeded" || from === "failed" || from === "canceled") return keep("terminal");
  switch (event.type) {
    case "submit_started":
      if (from === "queued") return to("submitting");
      return from === "submitting" ? keep("duplicate") : keep("not_applicable");
    case "upstream_accepted":
      if (from === "submitting") return to("submitted");
      if (from === "queued") return keep("not_applicable");
      // In `processing` a callback overtook the create answer: the answer is older than the state.
      return from === "submitted" ? keep("duplicate") : keep("stale");
    case "upstream_status": {
      // A job still `queued` has never been sent upstream, so no task can report on it.
      if (from === "queued") return keep("not_applicable");
      const target = fromUpstream(event.status);
      if (target === from) return keep("duplicate");
      return RANK[target] > RANK[from] ? to(target) : keep("stale");
    }
    case "submit_rejected":
      return from === "queued" || from === "submitting" ? to("failed") : keep("not_applicable");
    case "cancel_requested":
      return to("canceled");
    case "deadline_exceeded":
      return from === "submitted" || from === "processing" ? to("failed") : keep("not_applicable");
    default:
      return assertNever(event);
  }
}
