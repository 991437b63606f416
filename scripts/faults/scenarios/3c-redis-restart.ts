import { restartRedis } from "../../lib/machine";
import { REDIS_URL, secs } from "../settings";
import type { Scenario } from "../types";
import { redisFault, skipWithoutRedisQueue } from "./shared";

export const redisRestart: Scenario = {
  key: "3c-redis-restart",
  title: "Redis restarted mid-run (shutdown nosave, start again: all data gone)",
  workers: 1,
  skip: skipWithoutRedisQueue,
  allowedFailureCodes: ["task_failed"],
  fault: redisFault(async (ctx) => {
    const { downMs } = await restartRedis(REDIS_URL);
    ctx.facts["redis down"] = secs(downMs);
    return `Redis restarted (down ${secs(downMs)})`;
  }),
  checks: (_ctx, a) => [
    { name: "the sweeper re-enqueued jobs after the restart", ok: a.sweeperRequeues > 0, detail: String(a.sweeperRequeues) },
  ],
};
