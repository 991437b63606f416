import type { IQueueBackend, JobProgress, JobState, Processor, Queue, QueueOptions, Worker, WorkerOptions } from "bullmq";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import type { AccountPauseStore } from "./account-pause";

/** Where the queue lives: Redis (BullMQ's original backend) or PostgreSQL (BullMQ 6's backend). */
export const QUEUE_BACKENDS = ["redis", "postgres"] as const;
export type QueueBackendKind = (typeof QUEUE_BACKENDS)[number];

/** A BullMQ queue on either backend. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyQueue<D = any> = Queue<D, any, string, D, any, string, IQueueBackend, any>;
/** A BullMQ worker on either backend. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyWorker<D = any> = Worker<D, any, string, IQueueBackend, JobProgress, any>;

/** What a job's state can be, as `Queue.getJobState` answers it. */
export type QueueJobState = JobState | "unknown";

export interface RateLimiterSettings {
  /** Distinguishes this limiter's counters from others on the same backend. */
  keyPrefix: string;
  points: number;
  durationSec: number;
  /** Used while the backend does not answer (each process then counts on its own). */
  insuranceLimiter: RateLimiterAbstract;
}

/**
 * The one place that knows which store the queue lives in. Everything of ours that needs that store
 * (queues and workers, the account pause, the per-tenant rate limit, readiness, the sweeper's
 * job-state lookups, queue depth) goes through it, so the api and the worker run the same code on
 * Redis or on Postgres. `prefix` isolates one deployment (or one test) from another on both.
 */
export interface QueueBackend {
  readonly kind: QueueBackendKind;
  readonly prefix: string;
  createQueue<D>(name: string, opts?: Omit<QueueOptions, "connection" | "prefix">): AnyQueue<D>;
  createWorker<D>(name: string, processor: Processor<D>, opts?: Omit<WorkerOptions, "connection" | "prefix">): AnyWorker<D>;
  /** The account pause, shared by every process on this backend. */
  readonly pauses: AccountPauseStore;
  /** A rate limiter counting in this backend's store, shared by every process. */
  rateLimiter(settings: RateLimiterSettings): RateLimiterAbstract;
  /**
   * False while a write would have to wait for the backend (Redis disconnected): callers that must
   * answer fast skip the enqueue and leave the job to the sweeper.
   */
  acceptsWrites(): boolean;
  /** Readiness: the store answers. Never throws. */
  ping(): Promise<boolean>;
  /** `queue.getJobState` for many ids at once (the sweeper's lookup), in the order of `ids`. */
  jobStates(queue: AnyQueue, ids: readonly string[]): Promise<QueueJobState[]>;
  /** Closes every connection it opened (queues and workers close themselves first). */
  close(): Promise<void>;
}
