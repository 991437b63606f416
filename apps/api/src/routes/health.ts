import { HealthSchema, ReadinessSchema } from "@kex/contract";
import { pingDb, type Db } from "@kex/db";
import { pingRedis, type AccountPauseStore } from "@kex/queue";
import { Router } from "express";
import type { Redis } from "ioredis";
import { JSON_MEDIA, open, TAGS } from "../openapi/operations";

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

export const healthOperations = [
  open.get("/healthz", {
    operationId: "health",
    summary: "Liveness",
    tags: [TAGS.ops],
    ok: { status: 200, description: "the process answers", schema: HealthSchema },
  }),
  open.get("/readyz", {
    operationId: "readiness",
    summary: "Readiness: Postgres and Redis answer and the upstream account is not paused",
    tags: [TAGS.ops],
    ok: { status: 200, description: "ready", schema: ReadinessSchema },
    also: { "503": { description: "not ready: `checks` says why", content: { [JSON_MEDIA]: { schema: ReadinessSchema } } } },
  }),
];
