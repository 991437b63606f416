import { HealthSchema, ReadinessSchema } from "@kex/contract";
import type { AccountRegistry } from "@kex/core";
import { pingDb, type Db } from "@kex/db";
import type { QueueBackend } from "@kex/queue";
import { Router } from "express";
import { JSON_MEDIA, open, TAGS } from "../openapi/operations";

export interface HealthDeps {
  db: Db;
  /** The queue's store (Redis or Postgres) and the account pause kept in it. */
  queueBackend: QueueBackend;
  accounts: AccountRegistry;
}

export function healthRoutes(deps: HealthDeps): Router {
  const router = Router();
  /** Liveness: the process answers. */
  router.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  /**
   * Readiness: Postgres and the queue's store answer and some enabled upstream account is not paused
   * (one paused account among others leaves the rest submitting: it shows in `checks.accounts`).
   */
  router.get("/readyz", async (_req, res) => {
    const { queueBackend, accounts } = deps;
    const [postgres, queue] = await Promise.all([pingDb(deps.db), queueBackend.ping()]);
    const enabled = accounts.all().filter((a) => a.enabled || a.name === accounts.defaultName);
    const pauses = await Promise.all(enabled.map((a) => (queue ? queueBackend.pauses.current(a.name).catch(() => null) : null)));
    const checks = Object.fromEntries(
      enabled.map((a, i) => {
        const pause = pauses[i];
        return [a.name, pause ? { status: "paused" as const, code: pause.code, message: pause.message, until: pause.until } : ("ok" as const)];
      }),
    );
    const anyRunning = enabled.some((a, i) => a.enabled && !pauses[i]);
    const ready = postgres && queue && anyRunning;
    res.status(ready ? 200 : 503).json({
      status: ready ? "ready" : "not_ready",
      queue_backend: queueBackend.kind,
      checks: {
        postgres: postgres ? "ok" : "unreachable",
        queue: queue ? "ok" : "unreachable",
        upstream_account: checks[accounts.defaultName] ?? "ok",
        accounts: checks,
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
    summary: "Readiness: Postgres and the queue's store (Redis or Postgres) answer and not every enabled upstream account is paused",
    tags: [TAGS.ops],
    ok: { status: 200, description: "ready", schema: ReadinessSchema },
    also: { "503": { description: "not ready: `checks` says why", content: { [JSON_MEDIA]: { schema: ReadinessSchema } } } },
  }),
];
