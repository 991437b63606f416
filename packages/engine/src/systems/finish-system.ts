import type { JobStatus } from "@kex/core";
import { recordVideoOwner, type EventSource, type Job, type Queryable } from "@kex/db";
import type { ChainSystem } from "./chain-system";
import type { OutboxSystem } from "./outbox-system";
import type { EngineResources } from "./systems";

/**
 * Everything that follows from "a job finished", in one place: a new side effect of a job reaching
 * succeeded, failed or canceled goes here and nowhere else. The transition system calls it for every
 * finish (callbacks, polls, submit answers, cancels of one job or a batch, deadlines), only when its
 * own guarded update won, so each effect happens once per job.
 *
 * In two halves: `recordWithin` runs inside the transaction that wrote the final status (what must
 * commit with it), `afterCommit` once it is committed (what must not run if it rolled back).
 */
export class FinishSystem {
  constructor(
    private readonly resources: Pick<EngineResources, "logger" | "metrics" | "enqueue">,
    private readonly outbox: OutboxSystem,
    private readonly chains: ChainSystem,
  ) {}

  /** Whether finishing this job writes more than its own row (then it takes a transaction; else one statement does). */
  async writesWithin(job: Job, to: JobStatus): Promise<boolean> {
    // A success records which account produced its result video.
    return to === "succeeded" || job.chainId !== null || (await this.outbox.hasWebhooks(job));
  }

  /**
   * Inside the transaction that moved `jobs` (rows as written) to `to`: the owner of a result video
   * (so a job extending it is routed to the account that made it), the outbound webhooks and the
   * chain advance. Returns the jobs this created, for `afterCommit` to enqueue.
   */
  async recordWithin(tx: Queryable, jobs: readonly Job[], to: JobStatus, now: Date): Promise<string[]> {
    for (const job of jobs) {
      if (job.status === "succeeded" && job.resultVideoId)
        await recordVideoOwner(tx, { videoId: job.resultVideoId, account: job.account, jobId: job.id, now });
    }
    await this.outbox.recordFinished(tx, jobs, to, now);
    const followUps: string[] = [];
    for (const job of jobs) {
      const next = job.chainId ? await this.chains.advance(tx, job, now) : null;
      if (next) followUps.push(next);
    }
    return followUps;
  }

  /**
   * Once committed: the finished metric, and the follow-up jobs put on the queue. An enqueue that
   * fails is logged and left to the sweeper (the rows are committed); it never fails the caller.
   */
  async afterCommit(args: { to: JobStatus; count: number; source: EventSource; followUps: readonly string[] }): Promise<void> {
    if (args.count > 0) this.resources.metrics.jobsFinished.inc({ status: args.to, source: args.source }, args.count);
    if (args.followUps.length === 0) return;
    try {
      await this.resources.enqueue(args.followUps);
    } catch (err) {
      this.resources.logger.warn({ jobIds: args.followUps, err: (err as Error).message }, "enqueue of a chain's next step failed; the sweeper will");
    }
  }
}
