import { JOB_SELECT } from "../columns";
import type { Job } from "../generated/client";
import { rows, type Queryable } from "../queryable";

/** Counts one upstream create call on a job that is `submitting`. Null if the job moved on meanwhile. */
export async function recordSubmitAttempt(q: Queryable, jobId: string, now = new Date()): Promise<Job | null> {
  const [row] = await rows<Job>(q, `UPDATE jobs SET attempts = attempts + 1, updated_at = $2 WHERE id = $1 AND status = 'submitting' RETURNING ${JOB_SELECT}`, [
    jobId,
    now,
  ]);
  return row ?? null;
}
