import { decideTransition, type NoChangeReason, type JobStatus } from "@kex/core";
import { cancelBatchJobs, getJob, insertJobEvent, isUpstreamTaskTaken, updateJobWithEvent, type EventSource, type Job, type JobColumns } from "@kex/db";
import { CANCELED_CODE } from "@kex/contract";
import { CANCELED_MESSAGE, decisionInput, eventColumns, eventLogType, reportRefusalOf, storableEvent, type LifecycleEvent } from "../events";
import { isCanceled, isFinishing } from "../statuses";
import type { UpstreamTaskReport } from "../upstream-report";
import type { FinishSystem } from "./finish-system";
import type { EngineResources } from "./systems";

export type ApplyResult =
  | { outcome: "not_found" }
  | { outcome: "changed"; from: JobStatus; to: JobStatus; job: Job }
  | { outcome: "unchanged"; reason: NoChangeReason; job: Job };

export interface ApplyEventArgs {
  jobId: string;
  event: LifecycleEvent;
  source: EventSource;
  /** Raw payload kept in the event log (a callback body, an upstream answer). */
  payload?: unknown;
  detail?: string;
  now?: Date;
  /** The row as the caller just read it, to save the first read (it is re-read if it changed meanwhile). */
  current?: Job;
}

/** Rounds of read, decide, guarded write before giving up on a job whose state keeps changing. */
const MAX_ROUNDS = 10;

/** The one place that applies an event to a job. */
export class TransitionSystem {
  constructor(
    private readonly resources: Pick<EngineResources, "db" | "clock">,
    private readonly finish: FinishSystem,
  ) {}

  /**
   * Applies one event through the state machine: reads the row, decides (core's `decideTransition`),
   * writes the change and its event with a guarded update (`where status = what we read`), and for a
   * final status everything that follows (FinishSystem). A concurrent change makes the guard miss;
   * then it reads again and decides again. An event that changes nothing is still logged, with why.
   *
   * Most changes are one statement; a final status with webhooks to queue or a chain to advance is
   * one short transaction.
   */
  async applyEvent(args: ApplyEventArgs): Promise<ApplyResult> {
    const { db } = this.resources;
    const now = args.now ?? this.resources.clock();
    const lifecycleEvent = storableEvent(args.event);
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const job = round === 0 && args.current ? args.current : await getJob(db, args.jobId);
      if (!job) return { outcome: "not_found" };
      const logged = { jobId: job.id, source: args.source, type: eventLogType(lifecycleEvent), from: job.status, payload: args.payload, at: now };
      // Checked on every round: the job read again after a missed guard may hold a task by now.
      const refusal = reportRefusalOf(job, lifecycleEvent);
      if (refusal) {
        await insertJobEvent(db, { ...logged, detail: refusal });
        return { outcome: "unchanged", reason: "not_applicable", job };
      }
      const decision = decideTransition(job.status, decisionInput(lifecycleEvent));
      const to = decision.change ? decision.to : null;
      const data: JobColumns = eventColumns(job, to, lifecycleEvent, now);
      if (to) {
        data.status = to;
        if (isFinishing(to) && !job.finishedAt) data.finishedAt = now;
      }
      const writes = Object.keys(data).length > 0;
      if (writes) data.updatedAt = now;
      const event = { ...logged, to, detail: decision.change ? args.detail : args.detail ? `${decision.reason}: ${args.detail}` : decision.reason };
      let fresh: Job | null = job;
      let followUps: string[] = [];
      try {
        if (!writes) {
          await insertJobEvent(db, event);
        } else if (!isFinishing(to) || !(await this.finish.writesWithin(job, to))) {
          fresh = await updateJobWithEvent(db, job, data, event);
        } else {
          const done = await db.transaction(async (tx) => {
            const row = await updateJobWithEvent(tx, job, data, event);
            return row ? { row, followUps: await this.finish.recordWithin(tx, [row], to, now) } : null;
          });
          fresh = done?.row ?? null;
          followUps = done?.followUps ?? [];
        }
      } catch (err) {
        // The report names a task another job holds (a forged or misdirected report): nothing of it
        // was written; it stays in this job's events.
        if (!isUpstreamTaskTaken(err)) throw err;
        await insertJobEvent(db, { ...logged, detail: `task ${data.upstreamTaskId} not bound: another job holds it` });
        return { outcome: "unchanged", reason: "not_applicable", job };
      }
      if (!fresh) continue;
      if (!decision.change) return { outcome: "unchanged", reason: decision.reason, job: fresh };
      if (isFinishing(decision.to)) await this.finish.afterCommit({ to: decision.to, count: 1, source: args.source, followUps });
      return { outcome: "changed", from: job.status, to: decision.to, job: fresh };
    }
    throw new Error(`job ${args.jobId}: state kept changing under us; giving up after ${MAX_ROUNDS} rounds`);
  }

  /**
   * Applies what upstream says about a job's task (callback, poll, or the create answer). A report
   * about a task the job may not follow (`reportRefusal`) changes nothing and is logged.
   */
  applyUpstreamReport(args: { jobId: string; task: UpstreamTaskReport; source: EventSource; payload?: unknown; now?: Date }): Promise<ApplyResult> {
    return this.applyEvent({ jobId: args.jobId, event: { type: "upstream_status", task: args.task }, source: args.source, payload: args.payload ?? args.task, now: args.now });
  }

  /** Records that upstream accepted a create call (the task id), then anything further the answer says. */
  async adoptUpstreamTask(args: { jobId: string; task: UpstreamTaskReport; source: EventSource; detail?: string; now?: Date; current?: Job }): Promise<ApplyResult> {
    const now = args.now ?? this.resources.clock();
    const accepted = await this.applyEvent({
      jobId: args.jobId,
      current: args.current,
      event: { type: "upstream_accepted", task: args.task },
      source: args.source,
      payload: args.task,
      detail: args.detail ?? `task ${args.task.task_id}`,
      now,
    });
    const tracking = accepted.outcome === "changed" || (accepted.outcome === "unchanged" && isCanceled(accepted.job));
    if (tracking && args.task.task_status !== "submitted") {
      return this.applyUpstreamReport({ jobId: args.jobId, task: args.task, source: args.source, now });
    }
    return accepted;
  }

  /**
   * Cancels one job. Not yet upstream → it will never be submitted. Already upstream (upstream has no
   * cancel) → canceled for the user; the task keeps its account slot until upstream reports it
   * finished, and that late report is still recorded in the job's events.
   */
  cancelJob(jobId: string, now?: Date): Promise<ApplyResult> {
    return this.applyEvent({ jobId, event: { type: "cancel_requested" }, source: "api", now });
  }

  /** Cancels every unfinished job of a batch in one transaction, with one event per canceled job. */
  async cancelBatch(batchId: string, now = this.resources.clock()): Promise<{ canceled: string[] }> {
    const { jobs, followUps } = await this.resources.db.transaction(async (tx) => {
      const rows = await cancelBatchJobs(tx, { batchId, errorCode: CANCELED_CODE, errorMessage: CANCELED_MESSAGE, now });
      return { jobs: rows, followUps: rows.length > 0 ? await this.finish.recordWithin(tx, rows, "canceled", now) : [] };
    });
    await this.finish.afterCommit({ to: "canceled", count: jobs.length, source: "api", followUps });
    return { canceled: jobs.map((j) => j.id) };
  }
}
