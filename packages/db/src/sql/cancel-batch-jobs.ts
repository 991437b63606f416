import type { JobStatus } from "@kex/core";
import { jobSelect } from "../columns";
import type { Job } from "../generated/client";
import { rows, type Queryable } from "../queryable";
import { TERMINAL_SQL_LIST } from "../slot-rule";

/**
 * Cancels every unfinished job of a batch, with one `cancel_requested` event each, in one statement.
 * Returns the jobs as written, each with the status it left.
 */
export function cancelBatchJobs(q: Queryable, args: { batchId: string; errorCode: string; errorMessage: string; now: Date }): Promise<Array<Job & { fromStatus: JobStatus }>> {
  return rows(
    q,
    `WITH target AS (
       SELECT id, status FROM jobs WHERE batch_id = $1::uuid AND status NOT IN ${TERMINAL_SQL_LIST} FOR UPDATE
     ), upd AS (
       UPDATE jobs j SET status = 'canceled', finished_at = $2, updated_at = $2, error_code = $3, error_message = $4
       FROM target WHERE j.id = target.id
       RETURNING ${jobSelect("j")}, target.status AS "fromStatus"
     ), ev AS (
       INSERT INTO job_events (job_id, at, source, type, from_status, to_status, detail)
       SELECT id, $2, 'api', 'cancel_requested', "fromStatus", 'canceled', 'batch canceled' FROM upd
     )
     SELECT * FROM upd`,
    [args.batchId, args.now, args.errorCode, args.errorMessage],
  );
}
