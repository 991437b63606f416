import type { Chain } from "../generated/client";
import { rows, type Queryable } from "../queryable";

export type ChainState = Pick<Chain, "status" | "currentStep" | "errorCode" | "errorMessage">;

/** Writes a chain's whole state (status, current step, error). */
export async function updateChain(q: Queryable, chainId: string, state: ChainState, now: Date): Promise<void> {
  await rows(q, `UPDATE chains SET status = $2, current_step = $3, error_code = $4, error_message = $5, updated_at = $6 WHERE id = $1::uuid`, [
    chainId,
    state.status,
    state.currentStep,
    state.errorCode,
    state.errorMessage,
    now,
  ]);
}
