import { randomUUID } from "node:crypto";
import type { ExtensionCreate } from "@kex/contract";
import { DEFAULT_ACCOUNT } from "@kex/core";
import { BATCH_SELECT } from "../columns";
import type { Batch } from "../generated/client";
import { rows, type Queryable } from "../queryable";
import { DEFAULT_TENANT_ID } from "../tenants";

const INSERT_BATCH = `WITH b AS (
    INSERT INTO batches (id, tenant_id, total, callback_url) VALUES ($2, $3, $4, $5)
    RETURNING ${BATCH_SELECT}
  ), j AS (
    INSERT INTO jobs (id, tenant_id, batch_id, video_id, prompt, negative_prompt, cfg_scale, callback_url, metadata, account)
    SELECT j.id, $3, $2, j.video_id, j.prompt, j.negative_prompt, j.cfg_scale, j.callback_url, j.metadata::jsonb, j.account
    FROM unnest($1::uuid[], $6::text[], $7::text[], $8::text[], $9::float8[], $10::text[], $11::text[], $12::text[])
      AS j(id, video_id, prompt, negative_prompt, cfg_scale, callback_url, metadata, account)
    RETURNING id
  ), ev AS (
    INSERT INTO job_events (job_id, source, type, to_status) SELECT id, 'api', 'created', 'queued' FROM j
  )
  SELECT * FROM b`;

/**
 * Inserts a batch, all its jobs and their `created` events in one statement (all or nothing),
 * whatever the size: the jobs come from column arrays (`unnest`). Prisma's `createMany` of 10,000
 * rows costs about 3 s of CPU, this about 0.06 s. `jobIds` lets the caller know (and enqueue) the ids
 * before the insert commits.
 */
export async function createBatch(
  q: Queryable,
  args: { items: ExtensionCreate[]; callbackUrl?: string; tenantId?: string; jobIds?: string[]; accounts?: readonly string[] },
): Promise<{ batch: Batch; jobIds: string[] }> {
  const jobIds = args.jobIds ?? args.items.map(() => randomUUID());
  if (jobIds.length !== args.items.length) throw new Error("createBatch: one job id per item");
  const columns = {
    video: [] as string[],
    prompt: [] as string[],
    negative: [] as Array<string | null>,
    cfg: [] as Array<number | null>,
    callback: [] as Array<string | null>,
    metadata: [] as Array<string | null>,
  };
  for (const item of args.items) {
    columns.video.push(item.video_id);
    columns.prompt.push(item.prompt);
    columns.negative.push(item.negative_prompt ?? null);
    columns.cfg.push(item.cfg_scale ?? null);
    columns.callback.push(item.callback_url ?? args.callbackUrl ?? null);
    columns.metadata.push(item.metadata === undefined ? null : JSON.stringify(item.metadata));
  }
  const [batch] = await rows<Batch>(q, INSERT_BATCH, [
    jobIds,
    randomUUID(),
    args.tenantId ?? DEFAULT_TENANT_ID,
    args.items.length,
    args.callbackUrl ?? null,
    columns.video,
    columns.prompt,
    columns.negative,
    columns.cfg,
    columns.callback,
    columns.metadata,
    args.items.map((_, i) => args.accounts?.[i] ?? DEFAULT_ACCOUNT),
  ]);
  return { batch: batch!, jobIds };
}
