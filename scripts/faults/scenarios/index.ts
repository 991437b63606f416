// Every scenario, in the order they run. A scenario's position (from 1) names its database and seeds its
// sandbox, its video ids and its random choices, so the order is part of what FAULTS_SEED repeats.
import type { Scenario } from "../types";
import { workerSigkill } from "./1-worker-sigkill";
import { twoWorkers } from "./2a-two-workers";
import { fourWorkers } from "./2b-four-workers";
import { redisPrefixFlush } from "./3a-redis-prefix-flush";
import { redisFlushall } from "./3b-redis-flushall";
import { redisRestart } from "./3c-redis-restart";
import { postgresRestart } from "./4-postgres-restart";
import { hostileUpstream } from "./5-hostile-upstream";
import { accountPaused } from "./6-account-paused";
import { callbackLoss } from "./7-callback-loss";

export const SCENARIOS: Scenario[] = [
  workerSigkill,
  twoWorkers,
  fourWorkers,
  redisPrefixFlush,
  redisFlushall,
  redisRestart,
  postgresRestart,
  hostileUpstream,
  accountPaused,
  callbackLoss,
];
