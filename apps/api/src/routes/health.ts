import { HealthSchema, ReadinessSchema } from "@kex/contract";
import { pingDb, type Db } from "@kex/db";
import type { QueueBackend } from "@kex/queue";
import { Router } from "express";
import { JSON_MEDIA, open, TAGS } from "../openapi/operations";

export interface HealthDeps {
  db: Db;
  /** The queue's store (Redis or Postgres) and the account pause kept in it. */
  queueBackend: QueueBackend;
}

export function healthRoutes(deps: HealthDeps): Router {
  const router = Router();
  /** Liveness: the process answers. */
  router.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  /** Readiness: Postgres and the queue's store answer and the upstream account is not paused. */
  router.get("/readyz", async (_req, res) => {
    const { queueBackend } = deps;
    const [postgres, queue] = await Promise.all([pingDb(deps.db), queueBackend.ping()]);
    const pause = queue ? await queueBackend.pauses.current().catch(() => null) : null;
    const ready = postgres && queue && !pause;
    res.status(ready ? 200 : 503).json({
      status: ready ? "ready" : "not_ready",
      queue_backend: queueBackend.kind,
      checks: {
        postgres: postgres ? "ok" : "unreachable",
        queue: queue ? "ok" : "unreachable",
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
    summary: "Readiness: Postgres and the queue's store (Redis or Postgres) answer and the upstream account is not paused",
    tags: [TAGS.ops],
    ok: { status: 200, description: "ready", schema: ReadinessSchema },
    also: { "503": { description: "not ready: `checks` says why", content: { [JSON_MEDIA]: { schema: ReadinessSchema } } } },
  }),
];
