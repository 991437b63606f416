import { setTimeout as sleep } from "node:timers/promises";
import { DEADLINE_CODE, TASK_MISSING_CODE } from "@kex/contract";
import type { Logger, SubmitPayload } from "@kex/core";
import {
  applyJobEvent as applyJobEventInDb,
  applyUpstreamReport as applyUpstreamReportInDb,
  findJobsToEnqueue,
  findJobsToReconcile,
  findOverdueJobs,
  markPolled,
  purgeExpiredIdempotencyKeys,
  recordEvent,
  type Db,
} from "@kex/db";
import type { KlingClient } from "@kex/kling";
import { countingFinished } from "@kex/metrics";
import { enqueueSubmits } from "@kex/queue";
import type { Queue } from "bullmq";
import type { WorkerMetrics } from "./metrics";

export interface MaintenanceSettings {
  /** A queued/submitting job must be this old before the sweeper looks at it. */
  sweepMinAgeMs: number;
  /** Rows the sweeper examines per run. */
  sweepBatch: number;
  /** A job in submitted/processing unchanged for this long is polled upstream. */
  reconcileAfterMs: number;
  /** Upstream queries per reconcile run. */
  reconcileBatch: number;
  /** Upstream queries per second while reconciling. */
  reconcileRps: number;
  /** A task with no final answer this long after upstream accepted it fails the job. */
  taskDeadlineMs: number;
}

/** BullMQ states in which a submit is alive (someone will process it). */
const LIVE_STATES = new Set(["waiting", "active", "delayed", "prioritized", "waiting-children"]);

/** How many re-enqueued job ids the sweeper's log line names. */
const LOGGED_IDS = 20;

export interface MaintenanceDeps {
  db: Db;
  kling: KlingClient;
  submitQueue: Queue<SubmitPayload>;
  logger: Logger;
  metrics: Pick<WorkerMetrics, "jobsFinished" | "reconcilerCorrections" | "sweeperRequeued">;
  settings: MaintenanceSettings;
}

/**
 * The two safety nets that make Postgres the source of truth:
 * - sweep: every job that should be on the submit queue (`queued`, or `submitting` after a crash) but
 *   has no live BullMQ job is put back (same BullMQ job id, so this is idempotent). Heals a Redis
 *   flush, a restart, an enqueue that failed while Redis was down, and submits that exhausted their
 *   retries while Postgres was unreachable.
 * - reconcile: polls upstream for jobs whose callbacks are late and applies the answer through the
 *   same state machine as the webhook; fails tasks that outlive the deadline.
 */
export function createMaintenance(deps: MaintenanceDeps) {
  const { db, kling, submitQueue, logger, settings, metrics } = deps;
  // Every transition below goes through these two, so each job the reconciler finishes is counted once.
  const applyJobEvent = countingFinished(applyJobEventInDb, metrics.jobsFinished, "reconciler");
  const applyUpstreamReport = countingFinished(applyUpstreamReportInDb, metrics.jobsFinished, "reconciler");

  async function sweep(now = new Date()): Promise<{ checked: number; requeued: number }> {
    const olderThan = new Date(now.getTime() - settings.sweepMinAgeMs);
    let afterId: string | undefined;
    let checked = 0;
    let requeued = 0;
    /** The first few, for the log line (all of them are in each job's event log). */
    const requeuedIds: string[] = [];
    while (checked < settings.sweepBatch) {
      const rows = await findJobsToEnqueue(db, { limit: Math.min(1000, settings.sweepBatch - checked), olderThan, afterId });
      if (rows.length === 0) break;
      checked += rows.length;
      afterId = rows[rows.length - 1]!.id;
      const states = await Promise.all(rows.map((r) => submitQueue.getJobState(r.id)));
      const dead = rows.map((r, i) => ({ ...r, state: states[i]! })).filter((r) => !LIVE_STATES.has(r.state));
      if (dead.length === 0) continue;
      // A finished BullMQ job with the same id would make the add a no-op: remove it first.
      await Promise.all(dead.filter((r) => r.state !== "unknown").map((r) => submitQueue.remove(r.id)));
      // Fair share after a flush: each tenant's jobs by age get 1, 2, 3…; a job already `submitting`
      // holds a slot, so it goes first.
      const rankInTenant = new Map<string, number>();
      const byAge = [...dead].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
      const priorities = new Map<string, number>();
      for (const r of byAge) {
        const rank = (rankInTenant.get(r.tenantId) ?? 0) + 1;
        rankInTenant.set(r.tenantId, rank);
        priorities.set(r.id, r.status === "submitting" ? 1 : rank);
      }
      await enqueueSubmits(submitQueue, dead.map((r) => r.id), dead.map((r) => priorities.get(r.id)!));
      requeuedIds.push(...dead.slice(0, LOGGED_IDS - requeuedIds.length).map((r) => r.id));
      await Promise.all(
        dead.map((r) => recordEvent(db, { jobId: r.id, source: "sweeper", type: "requeued", from: r.status, detail: "no live submit in the queue", at: now })),
      );
      requeued += dead.length;
      metrics.sweeperRequeued.inc(dead.length);
    }
    if (requeued > 0) logger.warn({ checked, requeued, jobIds: requeuedIds }, "sweeper re-enqueued jobs missing from the queue");
    const purged = await purgeExpiredIdempotencyKeys(db, now);
    if (purged > 0) logger.info({ purged }, "expired idempotency keys removed");
    return { checked, requeued };
  }

  async function reconcile(now = new Date()): Promise<{ polled: number; corrected: number; expired: number }> {
    const rows = await findJobsToReconcile(db, { staleBefore: new Date(now.getTime() - settings.reconcileAfterMs), limit: settings.reconcileBatch });
    const spacingMs = 1000 / settings.reconcileRps;
    let corrected = 0;
    for (const [i, row] of rows.entries()) {
      if (i > 0) await sleep(spacingMs);
      const answer = await kling.getTask(row.upstream_task_id);
      await markPolled(db, row.id, new Date());
      if (answer.ok) {
        const result = await applyUpstreamReport(db, { jobId: row.id, task: answer.data, source: "reconciler" });
        if (result.outcome === "changed") {
          corrected++;
          if (result.followUps.length > 0) await enqueueSubmits(submitQueue, result.followUps);
          metrics.reconcilerCorrections.inc({ kind: "missed_callback" });
          logger.info({ jobId: row.id, from: result.from, to: result.to }, "reconciler applied a missed callback");
        }
      } else if (answer.httpStatus === 404 || answer.code === 1203) {
        corrected++;
        const result = await applyJobEvent(db, {
          jobId: row.id,
          event: { type: "deadline_exceeded" },
          source: "reconciler",
          payload: answer,
          detail: `upstream no longer knows task ${row.upstream_task_id}`,
          patch: (_job, to) => (to ? { errorCode: TASK_MISSING_CODE, errorMessage: `upstream has no task ${row.upstream_task_id}` } : {}),
        });
        if (result.outcome === "changed") {
          metrics.reconcilerCorrections.inc({ kind: "task_missing" });
          logger.warn({ jobId: row.id, taskId: row.upstream_task_id }, "upstream no longer knows the task: job failed");
        }
      } else {
        logger.warn({ jobId: row.id, httpStatus: answer.httpStatus, code: answer.code }, "reconciler could not query upstream");
      }
    }
    let expired = 0;
    const overdue = await findOverdueJobs(db, { submittedBefore: new Date(now.getTime() - settings.taskDeadlineMs), limit: 1000 });
    for (const { id } of overdue) {
      const result = await applyJobEvent(db, {
        jobId: id,
        event: { type: "deadline_exceeded" },
        source: "reconciler",
        detail: `no final answer from upstream within ${Math.round(settings.taskDeadlineMs / 1000)} s`,
        patch: (_job, to) =>
          to ? { errorCode: DEADLINE_CODE, errorMessage: `upstream gave no final answer within ${Math.round(settings.taskDeadlineMs / 1000)} s of accepting the task` } : {},
      });
      if (result.outcome === "changed") {
        expired++;
        metrics.reconcilerCorrections.inc({ kind: "deadline_exceeded" });
        logger.warn({ jobId: id }, "no final answer from upstream before the deadline: job failed");
      }
    }
    if (rows.length > 0 || expired > 0) logger.info({ polled: rows.length, corrected, expired }, "reconciled");
    return { polled: rows.length, corrected, expired };
  }

  return { sweep, reconcile };
}
