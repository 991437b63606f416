import { toChainResource, type ChainCreate, type ChainResource } from "@kex/contract";
import { DEFAULT_ACCOUNT } from "@kex/core";
import type { Db } from "./client";
import type { Chain } from "./generated/client";
import { insertChain } from "./sql/insert-chain";
import { insertChainStepJob } from "./sql/insert-chain-step-job";

/** Creates the chain and the job for its first step (which extends the source video). */
export async function createChain(db: Db, args: { tenantId: string; input: ChainCreate; /** Default `default`. */ account?: string; now?: Date }): Promise<{ chain: Chain; jobId: string }> {
  const now = args.now ?? new Date();
  return db.transaction(async (tx) => {
    const chain = await insertChain(tx, { tenantId: args.tenantId, input: args.input, account: args.account ?? DEFAULT_ACCOUNT, now });
    const jobId = await insertChainStepJob(tx, { chain, step: args.input.steps[0]!, index: 0, videoId: chain.videoId, now });
    return { chain, jobId };
  });
}

/** The chain with each step's latest job and the final video once the last step succeeded. */
export async function getChainView(db: Db, tenantId: string, id: string): Promise<ChainResource | null> {
  const chain = await db.prisma.chain.findFirst({ where: { id, tenantId } });
  if (!chain) return null;
  const jobs = await db.prisma.job.findMany({ where: { chainId: id }, orderBy: [{ stepIndex: "asc" }, { createdAt: "asc" }] });
  return toChainResource(chain, jobs);
}
