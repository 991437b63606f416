import { Queue, Worker, type Processor, type QueueOptions, type WorkerOptions } from "bullmq";
import type { Redis } from "ioredis";
import { RateLimiterRedis, type RateLimiterAbstract } from "rate-limiter-flexible";
import { RedisAccountPauseStore } from "./account-pause";
import type { AnyQueue, AnyWorker, QueueBackend, QueueJobState, RateLimiterSettings } from "./backend";
import { createRedis, pingRedis } from "./redis";

export interface RedisBackendSettings {
  url: string;
  prefix: string;
  /**
   * Producers (the api) fail fast: while Redis is down a call fails at once instead of waiting for
   * the reconnect (the row is in Postgres; the sweeper enqueues it later). Workers wait.
   */
  failFast?: boolean;
  onError?: (err: Error) => void;
}

/** BullMQ on Redis: one shared connection, plus one per worker (its blocking commands need their own). */
export class RedisBackend implements QueueBackend {
  readonly kind = "redis" as const;
  readonly prefix: string;
  readonly client: Redis;
  readonly pauses: RedisAccountPauseStore;
  private readonly workerConnections: Redis[] = [];

  constructor(private readonly settings: RedisBackendSettings) {
    this.prefix = settings.prefix;
    this.client = this.connect(settings.failFast ?? false);
    this.pauses = new RedisAccountPauseStore(this.client, settings.prefix);
  }

  private connect(failFast: boolean): Redis {
    const redis = createRedis(this.settings.url, { failFast });
    redis.on("error", (err) => this.settings.onError?.(err));
    return redis;
  }

  createQueue<D>(name: string, opts: Omit<QueueOptions, "connection" | "prefix"> = {}): AnyQueue<D> {
    return new Queue<D>(name, { ...opts, connection: this.client, prefix: this.prefix }) as unknown as AnyQueue<D>;
  }

  createWorker<D>(name: string, processor: Processor<D>, opts: Omit<WorkerOptions, "connection" | "prefix"> = {}): AnyWorker<D> {
    const connection = this.connect(false);
    this.workerConnections.push(connection);
    return new Worker<D>(name, processor, { ...opts, connection, prefix: this.prefix }) as unknown as AnyWorker<D>;
  }

  rateLimiter(settings: RateLimiterSettings): RateLimiterAbstract {
    return new RateLimiterRedis({
      storeClient: this.client,
      keyPrefix: `${this.prefix}:${settings.keyPrefix}`,
      points: settings.points,
      duration: settings.durationSec,
      insuranceLimiter: settings.insuranceLimiter,
    });
  }

  acceptsWrites(): boolean {
    return this.client.status === "ready";
  }

  ping(): Promise<boolean> {
    return pingRedis(this.client);
  }

  jobStates(queue: AnyQueue, ids: readonly string[]): Promise<QueueJobState[]> {
    return Promise.all(ids.map((id) => queue.getJobState(id)));
  }

  async close(): Promise<void> {
    for (const redis of [...this.workerConnections, this.client]) redis.disconnect();
  }
}
