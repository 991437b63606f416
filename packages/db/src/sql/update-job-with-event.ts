import { JOB_SELECT, setClause, type JobColumns } from "../columns";
import type { Job } from "../generated/client";
import { rows, type Queryable } from "../queryable";
import { jobEventValues, type JobEventRow } from "./insert-job-event";

/**
 * The error `updateJobWithEvent` throws when its change would give the job a task another job holds
 * (upstream task ids are unique across jobs): a report naming someone else's task.
 */
export function isUpstreamTaskTaken(err: unknown): boolean {
  const e = err as { code?: string; constraint?: string } | null;
  return e?.code === "23505" && e.constraint === "jobs_upstream_task_id_key";
}

/**
 * The guarded update (`WHERE status = what was read`) and its event in one statement: one round
 * trip, atomic by itself, no transaction held open across event-loop turns. Returns the row as
 * written; null when the guard missed (someone changed the job meanwhile).
 */
export async function updateJobWithEvent(q: Queryable, job: Pick<Job, "id" | "status">, data: JobColumns, event: Omit<JobEventRow, "jobId">): Promise<Job | null> {
  const set = setClause(data, 3);
  const e = jobEventValues({ ...event, jobId: job.id }).slice(1);
  const first = 3 + set.values.length;
  const text = `WITH upd AS (
      UPDATE jobs SET ${set.sql} WHERE id = $1 AND status = $2::job_status RETURNING ${JOB_SELECT}
    ), ev AS (
      INSERT INTO job_events (job_id, source, type, from_status, to_status, detail, payload, at)
      SELECT id, $${first}::event_source, $${first + 1}, $${first + 2}::job_status, $${first + 3}::job_status, $${first + 4}, $${first + 5}::jsonb, $${first + 6} FROM upd
    )
    SELECT * FROM upd`;
  const [row] = await rows<Job>(q, text, [job.id, job.status, ...set.values, ...e]);
  return row ?? null;
}
