import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { TEST_REDIS_URL } from "./env";

/** A queue prefix no other test uses (a Redis Cluster hash tag, like production's "{kex}"). */
export function uniqueQueuePrefix(): string {
  return `{kex-test-${randomBytes(5).toString("hex")}}`;
}

/**
 * Deletes every key under `prefix` (SCAN + UNLINK) on an open connection; returns how many. Refuses a
 * prefix shorter than 8 characters, which could reach keys that are not ours on a shared Redis.
 */
export async function deleteKeysUnder(redis: Redis, prefix: string): Promise<number> {
  if (prefix.length < 8) throw new Error(`refusing to delete the short prefix ${prefix}`);
  let cursor = "0";
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== "0");
  return deleted;
}

/** `deleteKeysUnder` on a connection of its own to `url` (default: the test Redis). */
export async function deleteRedisPrefix(prefix: string, url = TEST_REDIS_URL): Promise<number> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  redis.on("error", () => undefined);
  try {
    return await deleteKeysUnder(redis, prefix);
  } finally {
    redis.disconnect();
  }
}
