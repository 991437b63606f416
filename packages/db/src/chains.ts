import type { ChainCreate, ChainStep } from "@kex/core";
import type { Db } from "./client";
import type { Chain } from "./generated/client";
import { toJobResource, type JobResource } from "./resources";
import { insertChain } from "./sql/insert-chain";
import { insertChainStepJob } from "./sql/insert-chain-step-job";

/** Creates the chain and the job for its first step (which extends the source video). */
export async function createChain(db: Db, args: { tenantId: string; input: ChainCreate; now?: Date }): Promise<{ chain: Chain; jobId: string }> {
  const now = args.now ?? new Date();
  return db.transaction(async (tx) => {
    const chain = await insertChain(tx, { tenantId: args.tenantId, input: args.input, now });
    const jobId = await insertChainStepJob(tx, { chain, step: args.input.steps[0]!, index: 0, videoId: chain.videoId, now });
    return { chain, jobId };
  });
}

export interface ChainResource {
  id: string;
  status: string;
  video_id: string;
  callback_url: string | null;
  current_step: number;
  steps: Array<ChainStep & { index: number; job: JobResource | null; attempts: number }>;
  final_video: { video_id: string; url: string; duration: number | null } | null;
  error: { code: string; message: string } | null;
  created_at: string;
  updated_at: string;
}

/** The chain with each step's latest job and the final video once the last step succeeded. */
export async function getChainView(db: Db, tenantId: string, id: string): Promise<ChainResource | null> {
  const chain = await db.prisma.chain.findFirst({ where: { id, tenantId } });
  if (!chain) return null;
  const jobs = await db.prisma.job.findMany({ where: { chainId: id }, orderBy: [{ stepIndex: "asc" }, { createdAt: "asc" }] });
  const steps = chain.steps as unknown as ChainStep[];
  const view = steps.map((step, index) => {
    const forStep = jobs.filter((j) => j.stepIndex === index);
    const latest = forStep[forStep.length - 1];
    return { index, ...step, job: latest ? toJobResource(latest) : null, attempts: forStep.length };
  });
  const last = view[view.length - 1]?.job;
  return {
    id: chain.id,
    status: chain.status,
    video_id: chain.videoId,
    callback_url: chain.callbackUrl,
    current_step: chain.currentStep,
    steps: view,
    final_video: chain.status === "succeeded" && last?.result ? last.result : null,
    error: chain.errorCode ? { code: chain.errorCode, message: chain.errorMessage ?? "" } : null,
    created_at: chain.createdAt.toISOString(),
    updated_at: chain.updatedAt.toISOString(),
  };
}
