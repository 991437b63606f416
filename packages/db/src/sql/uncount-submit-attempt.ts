import { rows, type Queryable } from "../queryable";

/**
 * Takes back the count of a create call upstream refused without making a task (1303: at its
 * parallel-task limit), so `attempts` keeps counting the calls that may have made one: the next
 * attempt then has no earlier task to look for. Does nothing once the job moved on.
 */
export async function uncountSubmitAttempt(q: Queryable, jobId: string): Promise<boolean> {
  const updated = await rows<{ id: string }>(q, `UPDATE jobs SET attempts = attempts - 1 WHERE id = $1 AND status = 'submitting' AND attempts > 0 RETURNING id`, [jobId]);
  return updated.length > 0;
}
