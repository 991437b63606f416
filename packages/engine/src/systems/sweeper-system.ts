import { findJobsToEnqueue, insertJobEvent, purgeExpiredIdempotencyKeys } from "@kex/db";
import { enqueueSubmits } from "@kex/queue";
import type { WorkerResources } from "./systems";

export interface SweeperSettings {
  /** A queued/submitting job must be this old before the sweeper looks at it. */
  sweepMinAgeMs: number;
  /** Rows the sweeper examines per run. */
  sweepBatch: number;
}

/** BullMQ states in which a submit is alive (someone will process it). */
const LIVE_STATES = new Set(["waiting", "active", "delayed", "prioritized", "waiting-children"]);

/** How many re-enqueued job ids the sweeper's log line names. */
const LOGGED_IDS = 20;

/**
 * Safety net: every job that should be on the submit queue (`queued`, or `submitting` after a crash)
 * but has no live BullMQ job is put back (same BullMQ job id, so this is idempotent). Heals a Redis
 * flush, a restart, an enqueue that failed while Redis was down (a follow-up job's included), and
 * submits that exhausted their retries while Postgres was unreachable. Also purges expired
 * idempotency keys.
 */
export class SweeperSystem {
  constructor(
    private readonly resources: WorkerResources,
    private readonly settings: SweeperSettings,
  ) {}

  async sweep(now = this.resources.clock()): Promise<{ checked: number; requeued: number }> {
    const { db, queue, queueStates, logger, metrics } = this.resources;
    const olderThan = new Date(now.getTime() - this.settings.sweepMinAgeMs);
    let afterId: string | undefined;
    let checked = 0;
    let requeued = 0;
    /** The first few, for the log line (all of them are in each job's event log). */
    const requeuedIds: string[] = [];
    while (checked < this.settings.sweepBatch) {
      const rows = await findJobsToEnqueue(db, { limit: Math.min(1000, this.settings.sweepBatch - checked), olderThan, afterId });
      if (rows.length === 0) break;
      checked += rows.length;
      afterId = rows[rows.length - 1]!.id;
      const states = await queueStates.jobStates(queue, rows.map((r) => r.id));
      const dead = rows.map((r, i) => ({ ...r, state: states[i]! })).filter((r) => !LIVE_STATES.has(r.state));
      if (dead.length === 0) continue;
      // A finished BullMQ job with the same id would make the add a no-op: remove it first.
      await Promise.all(dead.filter((r) => r.state !== "unknown").map((r) => queue.remove(r.id)));
      // Fair share after a flush: each tenant's jobs by age get 1, 2, 3…; a job already `submitting`
      // holds a slot, so it goes first.
      const rankInTenant = new Map<string, number>();
      const byAge = [...dead].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
      const priorities = new Map<string, number>();
      for (const r of byAge) {
        const rank = (rankInTenant.get(r.tenantId) ?? 0) + 1;
        rankInTenant.set(r.tenantId, rank);
        priorities.set(r.id, r.status === "submitting" ? 1 : rank);
      }
      await enqueueSubmits(
        queue,
        dead.map((r) => r.id),
        dead.map((r) => priorities.get(r.id)!),
      );
      requeuedIds.push(...dead.slice(0, LOGGED_IDS - requeuedIds.length).map((r) => r.id));
      await Promise.all(
        dead.map((r) => insertJobEvent(db, { jobId: r.id, source: "sweeper", type: "requeued", from: r.status, detail: "no live submit in the queue", at: now })),
      );
      requeued += dead.length;
      metrics.sweeperRequeued.inc(dead.length);
    }
    if (requeued > 0) logger.warn({ checked, requeued, jobIds: requeuedIds }, "sweeper re-enqueued jobs missing from the queue");
    const purged = await purgeExpiredIdempotencyKeys(db, now);
    if (purged > 0) logger.info({ purged }, "expired idempotency keys removed");
    return { checked, requeued };
  }
}
