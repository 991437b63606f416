import { Redis, type RedisOptions } from "ioredis";

/**
 * A Redis connection for BullMQ. `maxRetriesPerRequest: null` is what BullMQ workers need (blocking
 * commands must wait through reconnects); producers pass `failFast` so an API call fails quickly
 * instead of hanging while Redis is down (the row is in Postgres; the sweeper enqueues it later).
 */
export function createRedis(url: string, options: { failFast?: boolean } & RedisOptions = {}): Redis {
  const { failFast, ...rest } = options;
  return new Redis(url, {
    maxRetriesPerRequest: failFast ? 1 : null,
    enableOfflineQueue: !failFast,
    connectTimeout: 5000,
    ...rest,
  });
}

export async function pingRedis(redis: Redis): Promise<boolean> {
  try {
    return (await redis.ping()) === "PONG";
  } catch {
    return false;
  }
}
