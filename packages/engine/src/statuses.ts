import { isTerminal, type JobStatus } from "@kex/core";
import type { Job } from "@kex/db";

/** Every status predicate of the lifecycle, in one place. The slot rule is defined next to its SQL (packages/db slot-rule.ts). */
export { holdsAccountSlot } from "@kex/db";
export { isTerminal };

/** A job the submit processor should claim (it waits for an account slot). */
export const isWaitingForSubmit = (job: Pick<Job, "status">): boolean => job.status === "queued";

/** A job the submit processor should send upstream (claimed, not yet accepted). */
export const isBeingSubmitted = (job: Pick<Job, "status">): boolean => job.status === "submitting";

/**
 * A job canceled here whose task upstream has not been recorded: a create answer arriving now must
 * still record the task, which holds an account slot until it finishes upstream.
 */
export const isCanceledWithUntrackedTask = (job: Pick<Job, "status" | "upstreamTaskId">): boolean => job.status === "canceled" && !job.upstreamTaskId;

/** The job is canceled here (its upstream task, if any, may still run). */
export const isCanceled = (job: Pick<Job, "status">): boolean => job.status === "canceled";

/** A change that finished the job. */
export const isFinishing = (to: JobStatus | null): to is JobStatus => to !== null && isTerminal(to);
