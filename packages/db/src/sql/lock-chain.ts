import { CHAIN_SELECT } from "../columns";
import type { Chain } from "../generated/client";
import { rows, type Queryable } from "../queryable";

/**
 * Inside the caller's transaction: the chain, locked until the transaction ends (so a duplicate
 * report cannot start a step twice). `tenantId`: only this tenant's chain. Null if there is none.
 */
export async function lockChain(tx: Queryable, args: { chainId: string; tenantId?: string }): Promise<Chain | null> {
  const [chain] = args.tenantId
    ? await rows<Chain>(tx, `SELECT ${CHAIN_SELECT} FROM chains WHERE id = $1::uuid AND tenant_id = $2::uuid FOR UPDATE`, [args.chainId, args.tenantId])
    : await rows<Chain>(tx, `SELECT ${CHAIN_SELECT} FROM chains WHERE id = $1::uuid FOR UPDATE`, [args.chainId]);
  return chain ?? null;
}
