import type { QueueBackend, QueueBackendKind } from "./backend";
import { PostgresBackend } from "./postgres-backend";
import { RedisBackend } from "./redis-backend";

export interface QueueBackendSettings {
  kind: QueueBackendKind;
  prefix: string;
  /** Redis: where it is. Unused (and never connected to) with the Postgres backend. */
  redisUrl?: string;
  /** Postgres: the database the queue lives in (QUEUE_DATABASE_URL, else DATABASE_URL). */
  databaseUrl?: string;
  /** Redis: producers fail fast while Redis is down (the api). */
  failFast?: boolean;
  /** Postgres: connections per BullMQ queue or worker. */
  poolMax?: number;
  onError?: (err: Error) => void;
}

/** The backend the settings name, ready to use (the Postgres one has run its migrations). */
export async function createQueueBackend(settings: QueueBackendSettings): Promise<QueueBackend> {
  switch (settings.kind) {
    case "redis":
      if (!settings.redisUrl) throw new Error("the redis queue backend needs a Redis URL");
      return new RedisBackend({ url: settings.redisUrl, prefix: settings.prefix, failFast: settings.failFast, onError: settings.onError });
    case "postgres":
      if (!settings.databaseUrl) throw new Error("the postgres queue backend needs a database URL");
      return PostgresBackend.start({ url: settings.databaseUrl, prefix: settings.prefix, poolMax: settings.poolMax, onError: settings.onError });
    default: {
      const never: never = settings.kind;
      throw new Error(`unknown queue backend ${String(never)}`);
    }
  }
}

/** The queue variables an app's config holds (the env contract: QUEUE_BACKEND, QUEUE_PREFIX, REDIS_URL, QUEUE_DATABASE_URL). */
export interface QueueConfig {
  QUEUE_BACKEND: QueueBackendKind;
  QUEUE_PREFIX: string;
  REDIS_URL: string;
  DATABASE_URL: string;
  /** Where the Postgres queue lives when not in DATABASE_URL's database. */
  QUEUE_DATABASE_URL?: string;
  /** Postgres: connections per BullMQ queue or worker (each also has one LISTEN connection per worker). */
  QUEUE_POOL_MAX?: number;
}

/** The backend settings an app's config names. */
export function queueBackendSettings(config: QueueConfig, extra: Pick<QueueBackendSettings, "failFast" | "poolMax" | "onError"> = {}): QueueBackendSettings {
  return config.QUEUE_BACKEND === "redis"
    ? { kind: "redis", prefix: config.QUEUE_PREFIX, redisUrl: config.REDIS_URL, ...extra }
    : {
        kind: "postgres",
        prefix: config.QUEUE_PREFIX,
        databaseUrl: config.QUEUE_DATABASE_URL ?? config.DATABASE_URL,
        ...extra,
        ...(config.QUEUE_POOL_MAX !== undefined ? { poolMax: config.QUEUE_POOL_MAX } : {}),
      };
}
