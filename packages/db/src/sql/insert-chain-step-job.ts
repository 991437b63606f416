import { randomUUID } from "node:crypto";
import type { ChainStep } from "@kex/contract";
import type { Chain } from "../generated/client";
import { rows, type Queryable } from "../queryable";

const INSERT_STEP_JOB = `WITH j AS (
    INSERT INTO jobs (id, tenant_id, chain_id, step_index, video_id, prompt, negative_prompt, cfg_scale, callback_url, created_at, updated_at, account)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)
    RETURNING id, step_index
  ), ev AS (
    INSERT INTO job_events (job_id, source, type, to_status, at, detail)
    SELECT id, 'api', 'created', 'queued', $10, 'chain step ' || step_index FROM j
  )
  SELECT id FROM j`;

/** Inserts the job for step `index` of a chain (on the chain's account: a chain is pinned to it), extending `videoId`, with its `created` event. Returns its id. */
export async function insertChainStepJob(
  q: Queryable,
  args: { chain: Pick<Chain, "id" | "tenantId" | "callbackUrl" | "account">; step: ChainStep; index: number; videoId: string; now: Date },
): Promise<string> {
  const { chain, step } = args;
  const [row] = await rows<{ id: string }>(q, INSERT_STEP_JOB, [
    randomUUID(),
    chain.tenantId,
    chain.id,
    args.index,
    args.videoId,
    step.prompt,
    step.negative_prompt ?? null,
    step.cfg_scale ?? null,
    chain.callbackUrl,
    args.now,
    chain.account,
  ]);
  return row!.id;
}
