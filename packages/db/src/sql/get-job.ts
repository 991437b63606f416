import { JOB_SELECT } from "../columns";
import type { Job } from "../generated/client";
import { rows, type Queryable } from "../queryable";

export async function getJob(q: Queryable, id: string): Promise<Job | null> {
  const [job] = await rows<Job>(q, `SELECT ${JOB_SELECT} FROM jobs WHERE id = $1`, [id]);
  return job ?? null;
}

/** The job if it belongs to this tenant; another tenant's job is indistinguishable from a missing one. */
export async function getJobForTenant(q: Queryable, tenantId: string, id: string): Promise<Job | null> {
  const [job] = await rows<Job>(q, `SELECT ${JOB_SELECT} FROM jobs WHERE id = $1 AND tenant_id = $2`, [id, tenantId]);
  return job ?? null;
}
