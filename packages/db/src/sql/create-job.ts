import { randomUUID } from "node:crypto";
import type { ExtensionCreate } from "@kex/contract";
import { DEFAULT_ACCOUNT } from "@kex/core";
import { JOB_SELECT } from "../columns";
import type { Job } from "../generated/client";
import { rows, type Queryable } from "../queryable";
import { DEFAULT_TENANT_ID } from "../tenants";

export interface NewJob {
  input: ExtensionCreate;
  /** Owner; the built-in default tenant when omitted. */
  tenantId?: string;
  /** The Kling account it runs on (already routed); `default` when omitted. */
  account?: string;
}

const INSERT_JOB = `WITH j AS (
    INSERT INTO jobs (id, tenant_id, video_id, prompt, negative_prompt, cfg_scale, callback_url, metadata, account)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)
    RETURNING ${JOB_SELECT}
  ), ev AS (
    INSERT INTO job_events (job_id, source, type, to_status) SELECT id, 'api', 'created', 'queued' FROM j
  )
  SELECT * FROM j`;

/** Inserts one job and its `created` event (one statement: both or neither). */
export async function createJob(q: Queryable, job: NewJob): Promise<Job> {
  const { input } = job;
  const [row] = await rows<Job>(q, INSERT_JOB, [
    randomUUID(),
    job.tenantId ?? DEFAULT_TENANT_ID,
    input.video_id,
    input.prompt,
    input.negative_prompt ?? null,
    input.cfg_scale ?? null,
    input.callback_url ?? null,
    input.metadata === undefined ? null : JSON.stringify(input.metadata),
    job.account ?? DEFAULT_ACCOUNT,
  ]);
  return row!;
}
