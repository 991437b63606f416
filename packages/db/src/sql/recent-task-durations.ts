import { TASK_FAILED_CODE } from "@kex/contract";
import { rows, type Queryable } from "../queryable";

/** How long the account's recently finished upstream tasks took, and how many of them a poll (not a callback) finished. */
export interface RecentTaskDurations {
  /** Tasks in the sample. */
  tasks: number;
  /** Of those, tasks whose final status came from a reconciler poll: their callback never arrived. */
  finishedByPoll: number;
  /** Median and 90th percentile of upstream accept → final, in ms (null without tasks). */
  p50Ms: number | null;
  p90Ms: number | null;
}

// One backward index scan per status on (status, updated_at), so the cost is the sample's size
// whatever the table's. A task's duration runs from upstream's accept to the final status we recorded.
const RECENT = `WITH recent AS (
    (SELECT id, status, submitted_at, finished_at, updated_at FROM jobs
      WHERE status = 'succeeded' AND updated_at > $1 AND submitted_at IS NOT NULL AND finished_at IS NOT NULL
      ORDER BY updated_at DESC LIMIT $2)
    UNION ALL
    (SELECT id, status, submitted_at, finished_at, updated_at FROM jobs
      WHERE status = 'failed' AND error_code = $3 AND updated_at > $1 AND submitted_at IS NOT NULL AND finished_at IS NOT NULL
      ORDER BY updated_at DESC LIMIT $2)
  ), sample AS (
    SELECT id, status, extract(epoch FROM finished_at - submitted_at) * 1000 AS ms FROM recent ORDER BY updated_at DESC LIMIT $2
  )
  SELECT count(*)::int AS tasks,
    count(*) FILTER (WHERE EXISTS (
      SELECT 1 FROM job_events e WHERE e.job_id = s.id AND e.source = 'reconciler' AND e.to_status = s.status))::int AS finished_by_poll,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::float8 AS p50_ms,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY ms)::float8 AS p90_ms
  FROM sample s`;

/**
 * The last `limit` tasks upstream finished (succeeded, or failed upstream) since `since`: how long they
 * took, and how many were finished by a poll because their final callback never came.
 */
export async function recentTaskDurations(q: Queryable, args: { since: Date; limit: number }): Promise<RecentTaskDurations> {
  const [row] = await rows<{ tasks: number; finished_by_poll: number; p50_ms: number | null; p90_ms: number | null }>(q, RECENT, [
    args.since,
    args.limit,
    TASK_FAILED_CODE,
  ]);
  return { tasks: row?.tasks ?? 0, finishedByPoll: row?.finished_by_poll ?? 0, p50Ms: row?.p50_ms ?? null, p90Ms: row?.p90_ms ?? null };
}
