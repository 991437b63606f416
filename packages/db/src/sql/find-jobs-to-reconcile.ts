import type { JobStatus } from "@kex/core";
import { rows, type Queryable } from "../queryable";
import { TASK_RUNNING_SQL } from "../slot-rule";

/**
 * Jobs whose upstream task should have told us something by now: its task running (also for a job
 * canceled or failed here: it still holds a slot), and neither accepted nor polled since `before`.
 * Least recently looked at first, so polling rotates through them.
 */
export function findJobsToReconcile(q: Queryable, args: { before: Date; limit: number }) {
  return rows<{ id: string; upstream_task_id: string; status: JobStatus; account: string }>(
    q,
    `SELECT id, upstream_task_id, status, account FROM jobs
     WHERE upstream_task_id IS NOT NULL
       AND ${TASK_RUNNING_SQL}
       AND COALESCE(polled_at, submitted_at, updated_at) < $1
     ORDER BY COALESCE(polled_at, submitted_at, updated_at) ASC
     LIMIT $2`,
    [args.before, args.limit],
  );
}
