import { CANCELED_CODE } from "@kex/contract";
import type { Db } from "./client";
import type { Job } from "./generated/client";
import { applyJobEvent, type ApplyResult } from "./jobs";
import { recordBatchCompletedIfDone, recordJobsFinished } from "./outbox";
import { sqlOfTx } from "./sql";

/**
 * Cancels one job. Not yet upstream → it will never be submitted. Already upstream (Kling has no
 * cancel) → canceled for the user; the task keeps its account slot until upstream reports it finished,
 * and that late report is still recorded in the job's events.
 */
export function cancelJob(db: Db, jobId: string, now = new Date()): Promise<ApplyResult> {
  return applyJobEvent(db, {
    jobId,
    event: { type: "cancel_requested" },
    source: "api",
    now,
    patch: (_job, to) => (to ? { errorCode: CANCELED_CODE, errorMessage: "canceled by request" } : {}),
  });
}

/** Cancels every unfinished job of a batch in one transaction, with one event per canceled job. */
export async function cancelBatch(db: Db, batchId: string, now = new Date()): Promise<{ canceled: string[] }> {
  return db.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<Array<{ id: string; from_status: Job["status"] }>>`
      WITH target AS (
        SELECT id, status FROM jobs
        WHERE batch_id = ${batchId}::uuid AND status NOT IN ('succeeded', 'failed', 'canceled')
        FOR UPDATE
      )
      UPDATE jobs j SET status = 'canceled', finished_at = ${now}, updated_at = ${now},
        error_code = ${CANCELED_CODE}, error_message = 'canceled by request'
      FROM target WHERE j.id = target.id
      RETURNING j.id, target.status AS from_status`;
    if (rows.length > 0) {
      await tx.$executeRaw`
        INSERT INTO job_events (job_id, at, source, type, from_status, to_status, detail)
        SELECT c.id, ${now}, 'api', 'cancel_requested', c.from_status::job_status, 'canceled', 'batch canceled'
        FROM unnest(${rows.map((r) => r.id)}::uuid[], ${rows.map((r) => r.from_status)}::text[]) AS c(id, from_status)`;
    }
    await recordJobsFinished(tx, rows.map((r) => r.id), "canceled", now);
    if (rows.length > 0) await recordBatchCompletedIfDone(sqlOfTx(tx), batchId, now);
    return { canceled: rows.map((r) => r.id) };
  });
}
