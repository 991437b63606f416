import { rows, type Queryable } from "../queryable";

/**
 * Upstream no longer knows the job's task: it runs nowhere, so it holds no account slot and is not
 * polled again. Its last seen status is dropped (the task id stays, for the record).
 */
export async function forgetMissingTask(q: Queryable, args: { jobId: string; taskId: string; now: Date }): Promise<boolean> {
  const updated = await rows<{ id: string }>(
    q,
    `UPDATE jobs SET upstream_status = NULL, polled_at = $3 WHERE id = $1 AND upstream_task_id = $2 AND upstream_status IS NOT NULL RETURNING id`,
    [args.jobId, args.taskId, args.now],
  );
  return updated.length > 0;
}
