import { randomUUID } from "node:crypto";
import { EXTENSION_SECONDS, MAX_VIDEO_SECONDS, toChainResource, VIDEO_TOO_LONG_CODE, type ChainCreate, type ChainResource, type ChainStep } from "@kex/contract";
import { Prisma, type Db, type DbOrTx } from "./client";
import type { Chain, Job } from "./generated/client";

function stepJob(chain: Pick<Chain, "id" | "tenantId" | "callbackUrl">, step: ChainStep, index: number, videoId: string): Prisma.JobUncheckedCreateInput {
  return {
    id: randomUUID(),
    tenantId: chain.tenantId,
    chainId: chain.id,
    stepIndex: index,
    videoId,
    prompt: step.prompt,
    negativePrompt: step.negative_prompt ?? null,
    cfgScale: step.cfg_scale ?? null,
    callbackUrl: chain.callbackUrl,
  };
}

async function insertStepJob(tx: DbOrTx, data: Prisma.JobUncheckedCreateInput, now: Date): Promise<string> {
  await tx.job.create({ data: { ...data, createdAt: now, updatedAt: now } });
  await tx.jobEvent.create({ data: { jobId: data.id!, source: "api", type: "created", toStatus: "queued", at: now, detail: `chain step ${data.stepIndex}` } });
  return data.id!;
}

/** Creates the chain and the job for its first step (which extends the source video). */
export async function createChain(db: Db, args: { tenantId: string; input: ChainCreate; now?: Date }): Promise<{ chain: Chain; jobId: string }> {
  const now = args.now ?? new Date();
  return db.$transaction(async (tx) => {
    const chain = await tx.chain.create({
      data: {
        id: randomUUID(),
        tenantId: args.tenantId,
        videoId: args.input.video_id,
        steps: args.input.steps as unknown as Prisma.InputJsonValue,
        callbackUrl: args.input.callback_url ?? null,
        createdAt: now,
        updatedAt: now,
      },
    });
    const jobId = await insertStepJob(tx, stepJob(chain, args.input.steps[0]!, 0, chain.videoId), now);
    return { chain, jobId };
  });
}

/** Fails the chain at `step` because extending would pass upstream's 3-minute limit. */
function tooLong(step: number, currentSeconds: number) {
  return {
    status: "failed",
    currentStep: step,
    errorCode: VIDEO_TOO_LONG_CODE,
    errorMessage: `step ${step} would make the video ${(currentSeconds + EXTENSION_SECONDS).toFixed(1)} s long; upstream refuses videos over ${MAX_VIDEO_SECONDS} s (3 minutes)`,
  };
}

/**
 * Called inside the transaction that finished a chain step's job: a success starts the next step on
 * the result video (checking the 3-minute rule first); a failure stops the chain. Returns the id of
 * a job it created, for the caller to enqueue after commit. The chain row is locked, so a duplicate
 * report cannot start a step twice.
 */
export async function advanceChain(tx: DbOrTx, job: Job, now: Date): Promise<string | null> {
  if (!job.chainId || job.stepIndex === null) return null;
  const [locked] = await tx.$queryRaw<Array<{ id: string }>>`SELECT id FROM chains WHERE id = ${job.chainId}::uuid FOR UPDATE`;
  if (!locked) return null;
  const chain = await tx.chain.findUniqueOrThrow({ where: { id: job.chainId } });
  if (chain.status !== "running" || chain.currentStep !== job.stepIndex) return null;
  const steps = chain.steps as unknown as ChainStep[];
  if (job.status !== "succeeded") {
    await tx.chain.update({
      where: { id: chain.id },
      data: { status: "failed", errorCode: job.errorCode ?? job.status, errorMessage: `step ${job.stepIndex} ${job.status}: ${job.errorMessage ?? ""}`.trim(), updatedAt: now },
    });
    return null;
  }
  const next = job.stepIndex + 1;
  if (next >= steps.length) {
    await tx.chain.update({ where: { id: chain.id }, data: { status: "succeeded", updatedAt: now } });
    return null;
  }
  const seconds = job.resultDuration ?? 0;
  if (seconds + EXTENSION_SECONDS > MAX_VIDEO_SECONDS) {
    await tx.chain.update({ where: { id: chain.id }, data: { ...tooLong(next, seconds), updatedAt: now } });
    return null;
  }
  await tx.chain.update({ where: { id: chain.id }, data: { currentStep: next, updatedAt: now } });
  return insertStepJob(tx, stepJob(chain, steps[next]!, next, job.resultVideoId!), now);
}

export type RetryChainResult = { outcome: "not_found" } | { outcome: "not_failed"; status: string } | { outcome: "retried"; jobId: string } | { outcome: "too_long"; message: string };

/** Resumes a failed chain from the step that failed (a new job for it). */
export async function retryChain(db: Db, args: { tenantId: string; chainId: string; now?: Date }): Promise<RetryChainResult> {
  const now = args.now ?? new Date();
  return db.$transaction(async (tx) => {
    const [locked] = await tx.$queryRaw<Array<{ id: string }>>`SELECT id FROM chains WHERE id = ${args.chainId}::uuid AND tenant_id = ${args.tenantId}::uuid FOR UPDATE`;
    if (!locked) return { outcome: "not_found" } as const;
    const chain = await tx.chain.findUniqueOrThrow({ where: { id: args.chainId } });
    if (chain.status !== "failed") return { outcome: "not_failed", status: chain.status } as const;
    const steps = chain.steps as unknown as ChainStep[];
    const step = chain.currentStep;
    let videoId = chain.videoId;
    if (step > 0) {
      const previous = await tx.job.findFirst({ where: { chainId: chain.id, stepIndex: step - 1, status: "succeeded" }, orderBy: { createdAt: "desc" } });
      if (!previous?.resultVideoId) return { outcome: "not_failed", status: chain.status } as const;
      if ((previous.resultDuration ?? 0) + EXTENSION_SECONDS > MAX_VIDEO_SECONDS) return { outcome: "too_long", message: tooLong(step, previous.resultDuration ?? 0).errorMessage } as const;
      videoId = previous.resultVideoId;
    }
    await tx.chain.update({ where: { id: chain.id }, data: { status: "running", errorCode: null, errorMessage: null, updatedAt: now } });
    const jobId = await insertStepJob(tx, stepJob(chain, steps[step]!, step, videoId), now);
    return { outcome: "retried", jobId } as const;
  });
}

/** The chain with each step's latest job and the final video once the last step succeeded. */
export async function getChainView(db: DbOrTx, tenantId: string, id: string): Promise<ChainResource | null> {
  const chain = await db.chain.findFirst({ where: { id, tenantId } });
  if (!chain) return null;
  const jobs = await db.job.findMany({ where: { chainId: id }, orderBy: [{ stepIndex: "asc" }, { createdAt: "asc" }] });
  return toChainResource(chain, jobs);
}
