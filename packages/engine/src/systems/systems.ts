import type { AccountRegistry, Logger } from "@kex/core";
import type { Db } from "@kex/db";
import type { KlingClient } from "@kex/kling";
import type { Counter, JobsFinishedCounter } from "@kex/metrics";
import type { AccountPauseStore, QueueBackend, SubmitQueue } from "@kex/queue";

/** What every system of the engine shares (the api's engine has these only). */
export interface EngineResources {
  db: Db;
  /**
   * Puts submits for jobs the engine created (a chain's next step) on the queue. May fail (Redis
   * down): the engine logs it and the sweeper enqueues them later.
   */
  enqueue: (jobIds: readonly string[]) => Promise<void>;
  metrics: {
    /** `kex_jobs_finished_total{status, source}`: counted by the engine only, once per finished job. */
    jobsFinished: JobsFinishedCounter;
  };
  logger: Logger;
  clock: () => Date;
}

/** What the worker's systems (submit, claims, sweeper, reconciler) need besides: the queue itself and upstream. */
export interface WorkerResources extends EngineResources {
  queue: SubmitQueue;
  /** The sweeper's job-state lookups, answered by the queue's store (Redis or Postgres). */
  queueStates: Pick<QueueBackend, "jobStates">;
  /** The Kling accounts (names, ceilings, enabled flags). */
  accounts: AccountRegistry;
  /** The upstream client of an account (undefined for a name this worker is not configured with). */
  upstream: (account: string) => KlingClient | undefined;
  /** Per-account pauses (1100-1102), shared by every process. */
  pauses: AccountPauseStore;
  metrics: EngineResources["metrics"] & {
    /** `kex_reconciler_corrections_total{kind}`. */
    reconcilerCorrections: Counter<"kind">;
    /** `kex_sweeper_requeued_total`. */
    sweeperRequeued: Counter;
  };
}
