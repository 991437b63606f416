import { claimManyForSubmit, type ClaimOutcome } from "@kex/db";
import type { EngineResources } from "./systems";

/**
 * One account's slot claims, coalesced per process: while one claim transaction runs, new requests wait,
 * and the next transaction takes all of them (up to `maxBatch`). Under load a claim costs a share of
 * one advisory lock, one slot count and one commit instead of one of each; alone it costs the same.
 * Jobs get free slots in the order they asked.
 */
export class ClaimSystem {
  private pending: Array<{ jobId: string; resolve: (o: ClaimOutcome) => void; reject: (err: unknown) => void }> = [];
  private running = false;

  /**
   * @param account the account whose slots this claims (one ClaimSystem per account: slots are per account)
   * @param maxInFlight the account's parallel-task cap (0 = none)
   * @param maxBatch claims per transaction at most (default 256)
   */
  constructor(
    private readonly resources: Pick<EngineResources, "db">,
    private readonly account: string,
    private readonly maxInFlight: number,
    private readonly maxBatch = 256,
  ) {}

  claim(jobId: string): Promise<ClaimOutcome> {
    return new Promise((resolve, reject) => {
      this.pending.push({ jobId, resolve, reject });
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, this.maxBatch);
        try {
          const outcomes = await claimManyForSubmit(this.resources.db, {
            jobIds: batch.map((p) => p.jobId),
            account: this.account,
            maxInFlight: this.maxInFlight,
          });
          // The same job asked twice in one batch: only the first asker may own the claim.
          const answered = new Set<string>();
          for (const p of batch) {
            p.resolve(answered.has(p.jobId) ? "not_queued" : (outcomes.get(p.jobId) ?? "not_queued"));
            answered.add(p.jobId);
          }
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
