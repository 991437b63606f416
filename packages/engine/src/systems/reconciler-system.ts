import { setTimeout as sleep } from "node:timers/promises";
import { findJobsToReconcile, findOverdueJobs, markPolled } from "@kex/db";
import type { Engine } from "../engine";
import { DEADLINE_CODE, TASK_MISSING_CODE } from "@kex/contract";
import type { WorkerResources } from "./systems";

export interface ReconcilerSettings {
  /** A job in submitted/processing unchanged for this long is polled upstream. */
  reconcileAfterMs: number;
  /** Upstream queries per reconcile run. */
  reconcileBatch: number;
  /** Upstream queries per second while reconciling. */
  reconcileRps: number;
  /** A task with no final answer this long after upstream accepted it fails the job. */
  taskDeadlineMs: number;
}

/**
 * Safety net: polls upstream for jobs whose callbacks are late and applies the answer through the
 * engine, like a callback; fails jobs whose task upstream no longer knows or that outlive the deadline.
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
    const rows = await findJobsToReconcile(db, { staleBefore: new Date(now.getTime() - settings.reconcileAfterMs), limit: settings.reconcileBatch });
    const spacingMs = 1000 / settings.reconcileRps;
    let corrected = 0;
    for (const [i, row] of rows.entries()) {
      if (i > 0) await sleep(spacingMs);
      const answer = await upstream.getTask(row.upstream_task_id);
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
        detail: `no final answer from upstream within ${deadlineS} s`,
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
}
