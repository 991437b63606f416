import { deleteRedisPrefix } from "@kex/testing";
import { REDIS_URL } from "../settings";
import type { Scenario } from "../types";
import { redisFault, skipWithoutRedisQueue } from "./shared";

export const redisPrefixFlush: Scenario = {
  key: "3a-redis-prefix-flush",
  title: "Redis wiped mid-run (every key of the orchestrator's QUEUE_PREFIX, SCAN+DEL)",
  workers: 1,
  skip: skipWithoutRedisQueue,
  allowedFailureCodes: ["task_failed"],
  fault: redisFault(async (ctx) => `deleted ${await deleteRedisPrefix(ctx.prefix, REDIS_URL)} keys under ${ctx.prefix}`),
  checks: (_ctx, a) => [
    { name: "the sweeper re-enqueued jobs after the wipe", ok: a.sweeperRequeues > 0, detail: String(a.sweeperRequeues) },
  ],
};
