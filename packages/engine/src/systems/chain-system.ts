import { EXTENSION_SECONDS, MAX_VIDEO_SECONDS, type ChainStep } from "@kex/contract";
import { findStepResult, insertChainStepJob, lockChain, updateChain, type Job, type Queryable } from "@kex/db";
import { VIDEO_TOO_LONG_CODE } from "@kex/contract";
import type { EngineResources } from "./systems";

export type RetryChainResult =
  | { outcome: "not_found" }
  | { outcome: "not_failed"; status: string }
  | { outcome: "retried"; jobId: string }
  | { outcome: "too_long"; message: string };

/** Whether extending a video of `seconds` would pass upstream's 3-minute limit. */
const wouldBeTooLong = (seconds: number) => seconds + EXTENSION_SECONDS > MAX_VIDEO_SECONDS;

function tooLongMessage(step: number, currentSeconds: number): string {
  return `step ${step} would make the video ${(currentSeconds + EXTENSION_SECONDS).toFixed(1)} s long; upstream refuses videos over ${MAX_VIDEO_SECONDS} s (3 minutes)`;
}

/** Extension chains: step n extends step n-1's result video; a failed step stops the chain and `retry` resumes it. */
export class ChainSystem {
  constructor(private readonly resources: Pick<EngineResources, "db" | "clock">) {}

  /**
   * Inside the transaction that finished a chain step's job (the row as written): a success starts
   * the next step on the result video (checking the 3-minute rule first); a failure stops the chain.
   * Returns the id of a job it created, to enqueue after commit. The chain row is locked, so a
   * duplicate report cannot start a step twice.
   */
  async advance(tx: Queryable, job: Job, now: Date): Promise<string | null> {
    if (!job.chainId || job.stepIndex === null) return null;
    const chain = await lockChain(tx, { chainId: job.chainId });
    if (!chain || chain.status !== "running" || chain.currentStep !== job.stepIndex) return null;
    const steps = chain.steps as unknown as ChainStep[];
    if (job.status !== "succeeded") {
      const errorMessage = `step ${job.stepIndex} ${job.status}: ${job.errorMessage ?? ""}`.trim();
      await updateChain(tx, chain.id, { status: "failed", currentStep: chain.currentStep, errorCode: job.errorCode ?? job.status, errorMessage }, now);
      return null;
    }
    const next = job.stepIndex + 1;
    if (next >= steps.length) {
      await updateChain(tx, chain.id, { ...chain, status: "succeeded" }, now);
      return null;
    }
    const seconds = job.resultDuration ?? 0;
    if (wouldBeTooLong(seconds)) {
      await updateChain(tx, chain.id, { status: "failed", currentStep: next, errorCode: VIDEO_TOO_LONG_CODE, errorMessage: tooLongMessage(next, seconds) }, now);
      return null;
    }
    await updateChain(tx, chain.id, { ...chain, currentStep: next }, now);
    return insertChainStepJob(tx, { chain, step: steps[next]!, index: next, videoId: job.resultVideoId!, now });
  }

  /** Resumes a failed chain from the step that failed (a new job for it, for the caller to enqueue). */
  retry(args: { tenantId: string; chainId: string; now?: Date }): Promise<RetryChainResult> {
    const now = args.now ?? this.resources.clock();
    return this.resources.db.transaction(async (tx): Promise<RetryChainResult> => {
      const chain = await lockChain(tx, { chainId: args.chainId, tenantId: args.tenantId });
      if (!chain) return { outcome: "not_found" };
      if (chain.status !== "failed") return { outcome: "not_failed", status: chain.status };
      const steps = chain.steps as unknown as ChainStep[];
      const step = chain.currentStep;
      let videoId = chain.videoId;
      if (step > 0) {
        const previous = await findStepResult(tx, { chainId: chain.id, stepIndex: step - 1 });
        if (!previous?.resultVideoId) return { outcome: "not_failed", status: chain.status };
        if (wouldBeTooLong(previous.resultDuration ?? 0)) return { outcome: "too_long", message: tooLongMessage(step, previous.resultDuration ?? 0) };
        videoId = previous.resultVideoId;
      }
      await updateChain(tx, chain.id, { status: "running", currentStep: step, errorCode: null, errorMessage: null }, now);
      const jobId = await insertChainStepJob(tx, { chain, step: steps[step]!, index: step, videoId, now });
      return { outcome: "retried", jobId };
    });
  }
}
