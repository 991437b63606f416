import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createLogger, JOB_CATALOG, type Logger } from "@kex/core";
import { createDb, type Db } from "@kex/db";
import { Engine } from "@kex/engine";
import { createMetricsRegistry, type Registry } from "@kex/metrics";
import { createQueueBackend, createSubmitQueue, enqueueSubmits, queueBackendSettings } from "@kex/queue";
import { createApp } from "./app";
import type { ApiConfig } from "./config";
import { createApiMetrics } from "./metrics";

export interface RunningApi {
  url: string;
  server: Server;
  db: Db;
  /** The job lifecycle as this api applies it (callbacks, cancels). */
  engine: Engine;
  close(): Promise<void>;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Wires clients together and listens. Everything it opens, `close()` closes. */
export async function startApi(config: ApiConfig, options: { logger?: Logger; registry?: Registry } = {}): Promise<RunningApi> {
  const logger = options.logger ?? createLogger({ name: "api", level: config.LOG_LEVEL, secrets: [config.API_TOKEN, config.CALLBACK_SECRET, ...config.KLING_WEBHOOK_SECRETS, ...config.accounts.secrets()] });
  const registry = options.registry ?? createMetricsRegistry();
  const db = createDb({ url: config.DATABASE_URL, poolMax: config.DATABASE_POOL_MAX });
  // Fail fast: while Redis is down, requests must not hang; the rows are kept and swept later.
  let backend;
  try {
    backend = await createQueueBackend(
      queueBackendSettings(config, { failFast: true, poolMax: 4, onError: (err) => logger.warn({ err: err.message, backend: config.QUEUE_BACKEND }, "queue backend error") }),
    );
  } catch (err) {
    await db.close();
    throw err;
  }
  const queue = createSubmitQueue(backend);
  queue.on("error", (err) => logger.warn({ err: err.message }, "queue error"));
  // Only read by the dashboard; the worker owns the maintenance schedulers.
  const maintenanceQueue = backend.createQueue(JOB_CATALOG.maintenance.queue);
  maintenanceQueue.on("error", (err) => logger.warn({ err: err.message }, "queue error"));
  const enqueue = async (ids: readonly string[], priorities?: readonly number[]) => {
    // While the queue's store is down, don't wait for it: the rows are stored and the sweeper enqueues them.
    if (!backend.acceptsWrites()) throw new Error(`the ${backend.kind} queue backend is not connected`);
    await withTimeout(enqueueSubmits(queue, ids, priorities), config.ENQUEUE_TIMEOUT_MS, "enqueue");
  };
  const metrics = createApiMetrics(registry);
  const engine = new Engine({ db, enqueue: (ids) => enqueue(ids), metrics, logger, clock: () => new Date() });
  const app = createApp({
    db,
    engine,
    queueBackend: backend,
    enqueue,
    logger,
    accounts: config.accounts,
    registry,
    metrics,
    dashboardQueues: [queue, maintenanceQueue],
    settings: {
      apiToken: config.API_TOKEN,
      callbackSecret: config.CALLBACK_SECRET,
      webhookSecrets: config.KLING_WEBHOOK_SECRETS,
      bodyLimitBytes: config.BODY_LIMIT,
      rateLimitPerSec: config.API_RATE_LIMIT_PER_SEC,
      authFailuresPerMinute: config.AUTH_FAILURES_PER_MIN,
      keyCacheMs: config.API_KEY_CACHE_MS,
      allowPrivateWebhookUrls: config.ALLOW_PRIVATE_WEBHOOK_URLS,
    },
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.PORT, config.HOST, () => resolve(s));
    s.once("error", reject);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.HOST}:${port}`;
  logger.info({ url, queueBackend: backend.kind }, "api listening");
  return {
    url,
    server,
    db,
    engine,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await Promise.all([queue.close(), maintenanceQueue.close()]);
      await backend.close();
      await db.close();
      logger.info("api stopped");
    },
  };
}
