import { flushAllRedis } from "../../lib/machine";
import { ALLOW_FLUSHALL, REDIS_URL } from "../settings";
import type { Scenario } from "../types";
import { redisFault, skipWithoutRedisQueue } from "./shared";

export const redisFlushall: Scenario = {
  key: "3b-redis-flushall",
  title: "Redis FLUSHALL mid-run",
  workers: 1,
  skip: skipWithoutRedisQueue ?? (ALLOW_FLUSHALL ? undefined : "set FAULTS_ALLOW_FLUSHALL=1 (or CI=true) to flush the whole Redis"),
  allowedFailureCodes: ["task_failed"],
  fault: redisFault(async () => {
    await flushAllRedis(REDIS_URL);
    return "FLUSHALL";
  }),
  checks: (_ctx, a) => [
    { name: "the sweeper re-enqueued jobs after the flush", ok: a.sweeperRequeues > 0, detail: String(a.sweeperRequeues) },
  ],
};
