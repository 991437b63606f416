import { createLogger, JOB_CATALOG, submitBackoffMs, type Account, type Logger, type SubmitPayload } from "@kex/core";
import { countInFlightByAccount, createDb, type Db } from "@kex/db";
import { Engine, ReconcilerSystem, SubmitSystem, SweeperSystem, type WorkerResources } from "@kex/engine";
import { createKlingClient, type KlingClient } from "@kex/kling";
import { createMetricsRegistry, type Registry } from "@kex/metrics";
import { createQueueBackend, createSubmitQueue, enqueueSubmits, queueBackendSettings, type AnyWorker, type QueueBackendKind } from "@kex/queue";
import type { WorkerConfig } from "./config";
import { createWorkerMetrics, instrumentKlingClient, registerWorkerGauges } from "./metrics";
import { DEFAULT_METRICS_PORT, startWorkerMetricsServer, type RunningMetricsServer } from "./metrics-server";
import { createWebhookDispatcher, type WebhookDispatcher } from "./webhook-dispatcher";

export interface RunningWorker {
  worker: AnyWorker<SubmitPayload>;
  /** Where its queue lives (QUEUE_BACKEND). */
  queueBackend: QueueBackendKind;
  db: Db;
  /** Run a sweep or reconcile now (tests, operators); `now` defaults to the clock. */
  maintenance: { sweep(now?: Date): ReturnType<SweeperSystem["sweep"]>; reconcile(now?: Date): ReturnType<ReconcilerSystem["reconcile"]> };
  /** Sends outbound webhooks from Postgres (runOnce: tests, operators). */
  webhooks: WebhookDispatcher;
  /** Base URL of this worker's /metrics and /healthz server; null when it has none (METRICS_PORT=off, or the default port was taken). */
  metricsUrl: string | null;
  /** Stops taking jobs, lets active submits finish (or hands them back), closes connections. */
  close(): Promise<void>;
}

/** The upstream client of one account (its base URL, prefix and credentials). */
export function klingClientForAccount(account: Account, timeoutMs: number): KlingClient {
  if (!account.auth) throw new Error(`account "${account.name}" has no credentials`);
  return createKlingClient({ baseUrl: account.baseUrl, pathPrefix: account.pathPrefix, auth: account.auth, timeoutMs });
}

/** The `default` account's client (the single-account configuration). */
export function klingClientFromConfig(config: WorkerConfig): KlingClient {
  return klingClientForAccount(config.accounts.get(config.accounts.defaultName)!, config.KLING_HTTP_TIMEOUT_MS);
}

/** Wires clients together and starts the submit worker. Everything it opens, `close()` closes. */
export async function startWorker(config: WorkerConfig, options: { logger?: Logger; registry?: Registry } = {}): Promise<RunningWorker> {
  const secrets = [config.CALLBACK_SECRET, ...config.accounts.secrets()].filter((s): s is string => Boolean(s));
  const logger = options.logger ?? createLogger({ name: "worker", level: config.LOG_LEVEL, secrets });
  const registry = options.registry ?? createMetricsRegistry();
  const metrics = createWorkerMetrics(registry);
  const db = createDb({ url: config.DATABASE_URL, poolMax: config.DATABASE_POOL_MAX });
  let backend;
  try {
    backend = await createQueueBackend(
      queueBackendSettings(config, { onError: (err) => logger.warn({ err: err.message, backend: config.QUEUE_BACKEND }, "queue backend error") }),
    );
  } catch (err) {
    await db.close();
    throw err;
  }
  const queue = createSubmitQueue(backend);
  const pauses = backend.pauses;
  let closing = false;

  // One client per account, each counted under its account's name.
  const clients = new Map(
    config.accounts
      .all()
      .map((a) => [a.name, instrumentKlingClient(klingClientForAccount(a, config.KLING_HTTP_TIMEOUT_MS), metrics, a.name)]),
  );
  const resources: WorkerResources = {
    db,
    queue,
    queueStates: backend,
    enqueue: (jobIds) => enqueueSubmits(queue, jobIds),
    accounts: config.accounts,
    upstream: (account) => clients.get(account),
    pauses,
    metrics,
    logger,
    clock: () => new Date(),
  };
  const engine = new Engine(resources);
  const submits = new SubmitSystem(
    resources,
    engine,
    {
      slotPollMs: config.SLOT_POLL_MS,
      maxSlotWaiters: Math.max(0, config.WORKER_CONCURRENCY - 1),
      accountPauseMs: config.ACCOUNT_PAUSE_MS,
      missingRowGraceMs: 60_000,
      publicBaseUrl: config.PUBLIC_BASE_URL,
      callbackSecret: config.CALLBACK_SECRET,
    },
    () => closing,
  );

  const worker = backend.createWorker<SubmitPayload>(JOB_CATALOG.submit.queue, submits.process, {
    concurrency: config.WORKER_CONCURRENCY,
    // BullMQ renews the lock every lockRenewTime while the processor runs, and an upstream call
    // (KLING_HTTP_TIMEOUT_MS) ends inside the lock even if no renewal lands during it (config.ts).
    // A dead worker's submits are back in the queue lockDuration + stalledInterval after its death
    // at the latest: the shorter both, the sooner another worker resumes them.
    lockDuration: config.LOCK_DURATION_MS,
    lockRenewTime: config.LOCK_RENEW_MS,
    stalledInterval: config.STALLED_INTERVAL_MS,
    maxStalledCount: 5,
    ...JOB_CATALOG.submit.worker,
    settings: { backoffStrategy: (attemptsMade: number) => submitBackoffMs(attemptsMade) },
  });
  worker.on("failed", (job, err) => {
    logger.warn({ jobId: job?.data.jobId, attemptsMade: job?.attemptsMade, err: err.message }, "submit attempt failed");
  });
  worker.on("error", (err) => logger.error({ err: err.message }, "worker error"));
  await worker.waitUntilReady();

  // Safety nets: job schedulers run each once per interval across every worker process. Every
  // process re-asserts the schedulers on a timer, so they come back after the queue loses its data.
  const sweeper = new SweeperSystem(resources, { sweepMinAgeMs: config.SWEEP_MIN_AGE_MS, sweepBatch: config.SWEEP_BATCH });
  const reconciler = new ReconcilerSystem(resources, engine, {
    reconcileAfterMs: config.RECONCILE_AFTER_MS,
    reconcileMinAfterMs: config.RECONCILE_MIN_AFTER_MS,
    reconcileBatch: config.RECONCILE_BATCH,
    reconcileRps: config.RECONCILE_RPS,
    reconcileIntervalMs: config.RECONCILE_INTERVAL_MS,
    taskDeadlineMs: config.TASK_DEADLINE_MS,
  });
  const maintenance: RunningWorker["maintenance"] = { sweep: (now) => sweeper.sweep(now), reconcile: (now) => reconciler.reconcile(now) };
  const { maintenance: m } = JOB_CATALOG;
  const maintenanceQueue = backend.createQueue(m.queue, { defaultJobOptions: m.options });
  const maintenanceWorker = backend.createWorker(
    m.queue,
    async (job) => (job.name === m.jobs.sweep ? maintenance.sweep() : maintenance.reconcile()),
    {
      concurrency: 1,
      lockDuration: config.LOCK_DURATION_MS,
      lockRenewTime: config.LOCK_RENEW_MS,
      stalledInterval: config.STALLED_INTERVAL_MS,
    },
  );
  maintenanceWorker.on("failed", (job, err) => logger.error({ task: job?.name, err: err.message }, "maintenance run failed"));
  maintenanceWorker.on("error", (err) => logger.error({ err: err.message }, "maintenance worker error"));
  const assertSchedulers = async () => {
    try {
      await maintenanceQueue.upsertJobScheduler(m.jobs.sweep, { every: config.SWEEP_INTERVAL_MS }, { name: m.jobs.sweep, data: {} });
      await maintenanceQueue.upsertJobScheduler(m.jobs.reconcile, { every: config.RECONCILE_INTERVAL_MS }, { name: m.jobs.reconcile, data: {} });
    } catch (err) {
      logger.warn({ err: (err as Error).message }, "could not register maintenance schedulers; will retry");
    }
  };
  await assertSchedulers();
  const healTimer = setInterval(() => void assertSchedulers(), Math.min(config.SWEEP_INTERVAL_MS, 30_000));
  healTimer.unref();
  registerWorkerGauges(registry, {
    countInFlight: () => countInFlightByAccount(db),
    limits: Object.fromEntries(config.accounts.all().map((a) => [a.name, a.maxInFlight])),
    queues: [queue, maintenanceQueue],
  });
  const webhooks = createWebhookDispatcher({
    db,
    logger,
    metrics,
    settings: {
      pollMs: config.WEBHOOK_POLL_MS,
      concurrency: config.WEBHOOK_CONCURRENCY,
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
      retryScheduleMs: config.WEBHOOK_RETRY_SCHEDULE_MS,
      allowPrivateUrls: config.ALLOW_PRIVATE_WEBHOOK_URLS,
    },
  });
  webhooks.start();
  let metricsServer: RunningMetricsServer | null = null;
  const running: RunningWorker = {
    worker,
    queueBackend: backend.kind,
    db,
    maintenance,
    webhooks,
    metricsUrl: null,
    async close() {
      closing = true;
      clearInterval(healTimer);
      await metricsServer?.close();
      await Promise.all([worker.close(), maintenanceWorker.close(), webhooks.close()]);
      await maintenanceQueue.close();
      await queue.close();
      await backend.close();
      await db.close();
      logger.info("worker stopped");
    },
  };
  try {
    metricsServer = await startWorkerMetricsServer({
      registry,
      host: config.METRICS_HOST,
      port: config.METRICS_PORT === "off" ? null : (config.METRICS_PORT ?? DEFAULT_METRICS_PORT),
      portIsDefault: config.METRICS_PORT === undefined,
      healthy: () => !closing && worker.isRunning(),
      logger,
    });
  } catch (err) {
    await running.close();
    throw err;
  }
  running.metricsUrl = metricsServer?.url ?? null;
  logger.info(
    {
      queueBackend: backend.kind,
      concurrency: config.WORKER_CONCURRENCY,
      accounts: config.accounts.all().map((a) => ({ name: a.name, maxInFlight: a.maxInFlight, enabled: a.enabled })),
      metrics: running.metricsUrl && `${running.metricsUrl}/metrics`,
    },
    "worker started",
  );
  return running;
}
