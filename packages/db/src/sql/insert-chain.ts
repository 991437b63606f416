import { randomUUID } from "node:crypto";
import type { ChainCreate } from "@kex/contract";
import { CHAIN_SELECT } from "../columns";
import type { Chain } from "../generated/client";
import { rows, type Queryable } from "../queryable";

/** Inserts a chain, `running` at step 0 (its first step's job is inserted separately). */
export async function insertChain(
  q: Queryable,
  args: { tenantId: string; input: ChainCreate; account: string; now: Date },
): Promise<Chain> {
  const [chain] = await rows<Chain>(
    q,
    `INSERT INTO chains (id, tenant_id, video_id, steps, callback_url, created_at, updated_at, account) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $6, $7)
     RETURNING ${CHAIN_SELECT}`,
    [
      randomUUID(),
      args.tenantId,
      args.input.video_id,
      JSON.stringify(args.input.steps),
      args.input.callback_url ?? null,
      args.now,
      args.account,
    ],
  );
  return chain!;
}
