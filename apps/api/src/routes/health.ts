import { pingDb, type Db } from "@kex/db";
import { pingRedis, type AccountPauseStore } from "@kex/queue";
import { Router } from "express";
import type { Redis } from "ioredis";

export interface HealthDeps {
  db: Db;
  redis: Redis;
  pauses: AccountPauseStore;
}

export function healthRoutes(deps: HealthDeps): Router {
  const router = Router();
  /** Liveness: the process answers. */
  router.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  /** Readiness: Postgres and Redis answer and the upstream account is not paused. */
  router.get("/readyz", async (_req, res) => {
    const [postgres, redis] = await Promise.all([pingDb(deps.db), pingRedis(deps.redis)]);
    const pause = redis ? await deps.pauses.current().catch(() => null) : null;
    const ready = postgres && redis && !pause;
    res.status(ready ? 200 : 503).json({
      status: ready ? "ready" : "not_ready",
      checks: {
        postgres: postgres ? "ok" : "unreachable",
        redis: redis ? "ok" : "unreachable",
        upstream_account: pause ? { status: "paused", code: pause.code, message: pause.message, until: pause.until } : "ok",
      },
    });
  });
  return router;
}
