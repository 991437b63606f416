import { setTimeout as sleep } from "node:timers/promises";
import { findJobsToReconcile, findOverdueJobs, forgetMissingTask, markPolled, recentTaskDurations, type RecentTaskDurations } from "@kex/db";
import type { Engine } from "../engine";
import { DEADLINE_CODE, TASK_MISSING_CODE } from "@kex/contract";
import type { WorkerResources } from "./systems";

export interface ReconcilerSettings {
  /**
   * The longest a running task goes unpolled (RECONCILE_AFTER_MS), and the wait used while the account
   * has finished too few tasks recently to tell how long tasks take.
   */
  reconcileAfterMs: number;
  /** The shortest: however fast recent tasks were, a task is not polled sooner than this after the last look (RECONCILE_MIN_AFTER_MS). */
  reconcileMinAfterMs: number;
  /** Upstream queries per reconcile run at most. */
  reconcileBatch: number;
  /** Upstream queries per second while reconciling. */
  reconcileRps: number;
  /** How often a run starts: a run makes at most `reconcileRps` × this many queries, so runs back to back (on any worker) keep the rate. */
  reconcileIntervalMs: number;
  /** A task with no final answer this long after upstream accepted it fails the job. */
  taskDeadlineMs: number;
}

/** The recent tasks the poll schedule learns from: the last SAMPLE_TASKS upstream finished within SAMPLE_WINDOW_MS. */
const SAMPLE_TASKS = 200;
const SAMPLE_WINDOW_MS = 30 * 60_000;
/** Fewer recent tasks than this say too little about durations: `reconcileAfterMs` applies. */
const MIN_SAMPLE = 10;
/** Callbacks count as missing while at least this share of the recent tasks was finished by a poll. */
const MISSING_SHARE = 0.05;

export interface PollSchedule {
  /** A running task is polled once it has gone this long since upstream accepted it, or since its last poll. */
  afterMs: number;
  /** What the wait is based on: too few recent tasks, their 90th percentile, or half their median while callbacks go missing. */
  basis: "default" | "p90" | "callbacks_missing";
}

/**
 * How long a running task may go without news before it is polled, from how long the account's recent
 * tasks took. A task slower than nine in ten recent ones has probably finished with its callback lost.
 * While callbacks are seen missing (recent tasks finished by polls), tasks are polled at half the median
 * duration and again as often: a task whose callback is lost then waits for its poll about half as long
 * as it ran, and durations learnt from polls (late by up to that much) shrink towards the real ones
 * instead of feeding on themselves. Never sooner than `reconcileMinAfterMs`, never later than `reconcileAfterMs`.
 */
export function pollSchedule(recent: RecentTaskDurations, settings: Pick<ReconcilerSettings, "reconcileAfterMs" | "reconcileMinAfterMs">): PollSchedule {
  if (recent.tasks < MIN_SAMPLE || recent.p50Ms === null || recent.p90Ms === null) return { afterMs: settings.reconcileAfterMs, basis: "default" };
  const missing = recent.finishedByPoll >= recent.tasks * MISSING_SHARE;
  const expectedMs = missing ? recent.p50Ms / 2 : recent.p90Ms;
  const afterMs = Math.min(settings.reconcileAfterMs, Math.max(settings.reconcileMinAfterMs, Math.round(expectedMs)));
  return { afterMs, basis: missing ? "callbacks_missing" : "p90" };
}

/**
 * Safety net: polls upstream for running tasks that are overdue against the account's recent task
 * durations (their callbacks are probably lost) and applies the answer through the engine, like a
 * callback; fails jobs whose task upstream no longer knows or that outlive the deadline. A job that
 * finished here while its task still runs (canceled, or failed by the deadline) keeps being polled:
 * the task's final status is recorded as an event and frees the account slot.
 */
export class ReconcilerSystem {
  constructor(
    private readonly resources: WorkerResources,
    private readonly engine: Engine,
    private readonly settings: ReconcilerSettings,
  ) {}

  async reconcile(now = this.resources.clock()): Promise<{ polled: number; corrected: number; expired: number }> {
    const { db, upstream, logger, metrics } = this.resources;
    const { settings } = this;
    const recent = await recentTaskDurations(db, { since: new Date(now.getTime() - SAMPLE_WINDOW_MS), limit: SAMPLE_TASKS });
    const schedule = pollSchedule(recent, settings);
    const perRun = Math.max(1, Math.min(settings.reconcileBatch, Math.floor((settings.reconcileRps * settings.reconcileIntervalMs) / 1000)));
    const rows = await findJobsToReconcile(db, { before: new Date(now.getTime() - schedule.afterMs), limit: perRun });
    const spacingMs = 1000 / settings.reconcileRps;
    let corrected = 0;
    for (const [i, row] of rows.entries()) {
      if (i > 0) await sleep(spacingMs);
      const client = upstream(row.account);
      if (!client) {
        logger.warn({ jobId: row.id, account: row.account }, "reconciler: the job's account is not configured on this worker; not polled");
        continue;
      }
      const answer = await client.getTask(row.upstream_task_id);
      await markPolled(db, row.id, this.resources.clock());
      if (answer.ok) {
        const result = await this.engine.applyUpstreamReport({ jobId: row.id, task: answer.data, source: "reconciler" });
        if (result.outcome === "changed") {
          corrected++;
          metrics.reconcilerCorrections.inc({ kind: "missed_callback" });
          logger.info({ jobId: row.id, from: result.from, to: result.to }, "reconciler applied a missed callback");
        }
      } else if (answer.httpStatus === 404 || answer.code === 1203) {
        corrected++;
        const result = await this.engine.applyEvent({
          jobId: row.id,
          event: { type: "deadline_exceeded", error: { code: TASK_MISSING_CODE, message: `upstream has no task ${row.upstream_task_id}` } },
          source: "reconciler",
          payload: answer,
          detail: `upstream no longer knows task ${row.upstream_task_id}`,
        });
        await forgetMissingTask(db, { jobId: row.id, taskId: row.upstream_task_id, now: this.resources.clock() });
        if (result.outcome === "changed") {
          metrics.reconcilerCorrections.inc({ kind: "task_missing" });
          logger.warn({ jobId: row.id, taskId: row.upstream_task_id }, "upstream no longer knows the task: job failed");
        }
      } else {
        logger.warn({ jobId: row.id, httpStatus: answer.httpStatus, code: answer.code }, "reconciler could not query upstream");
      }
    }
    let expired = 0;
    const deadlineS = Math.round(settings.taskDeadlineMs / 1000);
    const overdue = await findOverdueJobs(db, { submittedBefore: new Date(now.getTime() - settings.taskDeadlineMs), limit: 1000 });
    for (const { id } of overdue) {
      const result = await this.engine.applyEvent({
        jobId: id,
        event: { type: "deadline_exceeded", error: { code: DEADLINE_CODE, message: `upstream gave no final answer within ${deadlineS} s of accepting the task` } },
        source: "reconciler",
        detail: `no final answer from upstream within ${deadlineS} s; the task keeps its account slot until upstream finishes it`,
      });
      if (result.outcome === "changed") {
        expired++;
        metrics.reconcilerCorrections.inc({ kind: "deadline_exceeded" });
        logger.warn({ jobId: id }, "no final answer from upstream before the deadline: job failed");
      }
    }
    if (rows.length > 0 || expired > 0) logger.info({ polled: rows.length, corrected, expired, pollAfterMs: schedule.afterMs, basis: schedule.basis }, "reconciled");
    return { polled: rows.length, corrected, expired };
  }
}
