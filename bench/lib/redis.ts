// Redis memory figures (the bench's own keys only; cleaning a prefix is deleteKeysUnder of @kex/testing).
import type { Redis } from "ioredis";

export async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info("memory");
  const m = /^used_memory:(\d+)/m.exec(info);
  if (!m) throw new Error("INFO memory has no used_memory");
  return Number(m[1]);
}

/**
 * A cross-check of the used_memory delta (which other users of a shared Redis can disturb): MEMORY
 * USAGE of a sample of job hashes, plus the wait list / prioritized set and the events stream, per waiting job.
 */
export async function keyMemoryPerJob(redis: Redis, args: { prefix: string; queue: string; sampleIds: string[]; waiting: number }): Promise<{ jobHashBytes: number; perJobBytes: number }> {
  const base = `${args.prefix}:${args.queue}`;
  let sum = 0;
  let n = 0;
  for (const id of args.sampleIds) {
    const bytes = (await redis.call("MEMORY", "USAGE", `${base}:${id}`, "SAMPLES", "0")) as number | null;
    if (bytes) {
      sum += bytes;
      n++;
    }
  }
  const jobHashBytes = n > 0 ? sum / n : 0;
  // Waiting jobs sit in `wait` (a list) or, with a priority, in `prioritized` (a sorted set).
  let shared = 0;
  for (const key of ["wait", "prioritized", "events"]) {
    shared += ((await redis.call("MEMORY", "USAGE", `${base}:${key}`, "SAMPLES", "0")) as number | null) ?? 0;
  }
  const perJobBytes = args.waiting > 0 ? jobHashBytes + shared / args.waiting : 0;
  return { jobHashBytes, perJobBytes };
}
