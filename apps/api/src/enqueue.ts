import type { Logger } from "@kex/core";
import { countQueued, type Db } from "@kex/db";

export type EnqueueFn = (jobIds: readonly string[], priorities?: readonly number[]) => Promise<void>;

/**
 * Enqueues new jobs with fair-share priorities: they take the last positions of their tenant's
 * backlog (1 = next), so another tenant's first job is not stuck behind this tenant's 10,000. Never
 * throws: if Redis is down, Postgres has the jobs and the sweeper enqueues them later.
 */
export async function enqueueFairly(
  deps: { db: Db; enqueue: EnqueueFn },
  tenantId: string,
  jobIds: readonly string[],
  log: Logger,
  opts: { backlogBefore?: number } = {},
): Promise<void> {
  try {
    // `backlogBefore`: counted before the jobs' rows were written (the caller enqueues while it inserts).
    const first = opts.backlogBefore !== undefined ? opts.backlogBefore + 1 : Math.max(1, (await countQueued(deps.db, tenantId)) - jobIds.length + 1);
    await deps.enqueue(jobIds, jobIds.map((_, i) => first + i));
  } catch (err) {
    log.warn({ count: jobIds.length, ...(jobIds.length === 1 ? { jobId: jobIds[0] } : {}), err: (err as Error).message }, "enqueue failed; jobs stay queued for the sweeper");
  }
}
