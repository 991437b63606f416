import type { AccountRegistry, Logger } from "@kex/core";
import type { Db } from "@kex/db";
import type { Engine } from "@kex/engine";
import type { Registry } from "@kex/metrics";
import type { AnyQueue, QueueBackend } from "@kex/queue";
import express, { type Express } from "express";
import { authenticate, requireBasicAuth } from "./auth";
import { authFailureThrottle } from "./auth-throttle";
import { batchBodyLimits, jsonBody, SINGLE_BODY_LIMITS } from "./body-parsing";
import { errorHandler, notFoundRoute } from "./errors";
import { idempotency } from "./idempotency";
import type { ApiMetrics } from "./metrics";
import { createOpenApiDocument, openApiRoutes } from "./openapi";
import { tenantRateLimit } from "./rate-limit";
import { requestLogging } from "./request-logging";
import { callbackUrlGuard } from "./callback-urls";
import { accountRoutes } from "./routes/accounts";
import { cancelRoutes } from "./routes/cancel";
import { chainRoutes } from "./routes/chains";
import { deliveryRoutes } from "./routes/deliveries";
import { extensionRoutes } from "./routes/extensions";
import { healthRoutes } from "./routes/health";
import { keyRoutes } from "./routes/keys";
import { metricsRoutes } from "./routes/metrics";
import { queueDashboard } from "./routes/queue-dashboard";
import { webhookRoutes } from "./routes/webhooks";
import { uiRoutes } from "./ui";

export interface AppDeps {
  db: Db;
  /** Every change of a job's state goes through it. */
  engine: Engine;
  /** The queue's store (Redis or Postgres): readiness, the account pause, the rate-limit counters. */
  queueBackend: QueueBackend;
  /** `priorities[i]`: the job's position in its tenant's backlog (fair share). */
  enqueue: (jobIds: readonly string[], priorities?: readonly number[]) => Promise<void>;
  logger: Logger;
  /** The Kling accounts: routing at submission, `GET /v1/accounts`, readiness. */
  accounts: AccountRegistry;
  /** This process's Prometheus registry (served at /metrics) and the metrics recorded into it. */
  registry: Registry;
  metrics: ApiMetrics;
  /** Queues shown by the dashboard at /admin/queues. */
  dashboardQueues: readonly AnyQueue[];
  /** `bodyLimitBytes`: the largest batch body, after decompression; other bodies have fixed limits (body-parsing.ts). */
  /** `webhookSecrets`: the Kling account's Standard Webhooks secrets; empty = callbacks need not be signed. */
  settings: { apiToken: string; callbackSecret: string; webhookSecrets?: readonly string[]; bodyLimitBytes: number; rateLimitPerSec: number; authFailuresPerMinute: number; keyCacheMs: number; allowPrivateWebhookUrls?: boolean };
}

/** The HTTP app, built from its dependencies (tests build their own). */
export function createApp(deps: AppDeps): Express {
  const app = express();
  const batchLimits = batchBodyLimits(deps.settings.bodyLimitBytes);
  app.disable("x-powered-by");
  app.set("query parser", "simple");
  app.use(requestLogging(deps.logger, { secrets: [deps.settings.apiToken, deps.settings.callbackSecret, ...(deps.settings.webhookSecrets ?? [])] }));
  app.use(healthRoutes({ db: deps.db, queueBackend: deps.queueBackend, accounts: deps.accounts }));
  app.use(metricsRoutes(deps.registry));
  app.use(openApiRoutes(createOpenApiDocument()));
  // Before every check of credentials, so an address that keeps guessing costs nothing more.
  app.use(["/v1", "/ui", "/admin/queues"], authFailureThrottle({ failuresPerMinute: deps.settings.authFailuresPerMinute }));
  app.use("/admin/queues", requireBasicAuth(deps.settings.apiToken, "kex admin"), queueDashboard(deps.dashboardQueues, "/admin/queues"));
  // No body parser here: the callback handler checks the URL token before it reads the body.
  app.use(
    "/webhooks",
    webhookRoutes({ db: deps.db, engine: deps.engine, callbackSecret: deps.settings.callbackSecret, webhookSecrets: deps.settings.webhookSecrets ?? [], metrics: deps.metrics }),
  );
  app.use(
    "/v1",
    authenticate({ db: deps.db, apiToken: deps.settings.apiToken, logger: deps.logger, cacheMs: deps.settings.keyCacheMs }),
    tenantRateLimit({ backend: deps.queueBackend, perSecond: deps.settings.rateLimitPerSec, logger: deps.logger }),
    jsonBody((req) => (req.method === "POST" && req.path === "/batches" ? batchLimits : SINGLE_BODY_LIMITS)),
    // Secrets shown once (a new key) are not kept: a replay shows them as null.
    idempotency({ db: deps.db, ttlMs: 24 * 3600_000, redact: ["key", "api_key"] }),
    keyRoutes({ db: deps.db, logger: deps.logger }),
    extensionRoutes({
      db: deps.db,
      enqueue: deps.enqueue,
      logger: deps.logger,
      metrics: deps.metrics,
      accounts: deps.accounts,
      checkCallbackUrls: callbackUrlGuard({ allowPrivate: deps.settings.allowPrivateWebhookUrls ?? false }),
    }),
    cancelRoutes({ db: deps.db, engine: deps.engine }),
    chainRoutes({ db: deps.db, engine: deps.engine, enqueue: deps.enqueue, logger: deps.logger, accounts: deps.accounts, checkCallbackUrls: callbackUrlGuard({ allowPrivate: deps.settings.allowPrivateWebhookUrls ?? false }) }),
    deliveryRoutes({ db: deps.db, logger: deps.logger }),
    accountRoutes({ db: deps.db, accounts: deps.accounts, pauses: deps.queueBackend.pauses }),
  );
  app.use("/ui", uiRoutes({ db: deps.db, apiToken: deps.settings.apiToken, logger: deps.logger }));
  app.use(notFoundRoute);
  app.use(errorHandler(deps.logger));
  return app;
}
