import type { JobStatus } from "@kex/core";
import { rows, type Queryable } from "../queryable";
import { TASK_RUNNING_SQL } from "../slot-rule";

/**
 * Jobs whose upstream task should have told us something by now: its task running (a canceled job's
 * too: it still holds a slot), unchanged and unpolled for `staleFor`. Least recently looked at first,
 * so polling rotates through them.
 */
export function findJobsToReconcile(q: Queryable, args: { staleBefore: Date; limit: number }) {
  return rows<{ id: string; upstream_task_id: string; status: JobStatus }>(
    q,
    `SELECT id, upstream_task_id, status FROM jobs
     WHERE upstream_task_id IS NOT NULL
       AND ${TASK_RUNNING_SQL}
       AND updated_at < $1
       AND (polled_at IS NULL OR polled_at < $1)
     ORDER BY COALESCE(polled_at, updated_at) ASC
     LIMIT $2`,
    [args.staleBefore, args.limit],
  );
}
