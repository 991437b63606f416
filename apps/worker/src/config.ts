import { z } from "zod";
import { AccountsConfigError, loadAccountRegistry } from "@kex/core";
import { DEFAULT_QUEUE_PREFIX, QUEUE_BACKENDS } from "@kex/queue";

const optionalString = z.preprocess((v) => (v === "" ? undefined : v), z.string().optional());

/** Worker settings, parsed once at startup from the environment (the only place that reads it). */
export const WorkerConfigSchema = z
  .object({
    DATABASE_URL: z.string().url().default("postgresql://postgres@127.0.0.1:5432/kling_orchestrator"),
    DATABASE_POOL_MAX: z.coerce.number().int().min(1).default(10),
    /** Where the queue lives: "redis" (BullMQ on Redis) or "postgres" (BullMQ's Postgres backend; no Redis at all). */
    QUEUE_BACKEND: z.enum(QUEUE_BACKENDS).default("redis"),
    /** Redis, for QUEUE_BACKEND=redis only (never connected to with postgres). */
    REDIS_URL: z.string().url().default("redis://127.0.0.1:6379"),
    /** The Postgres queue's database, for QUEUE_BACKEND=postgres; unset = DATABASE_URL's. */
    QUEUE_DATABASE_URL: z.preprocess((v) => (v === "" ? undefined : v), z.string().url().optional()),
    /** QUEUE_BACKEND=postgres: connections per BullMQ queue or worker (a worker process holds ~3 such pools plus DATABASE_POOL_MAX; see docs/queue-backends.md). */
    QUEUE_POOL_MAX: z.coerce.number().int().min(1).max(100).optional(),
    QUEUE_PREFIX: z.string().min(1).default(DEFAULT_QUEUE_PREFIX),
    /**
     * A JSON file of Kling accounts (README, "Accounts"). Unset: the single-account variables below
     * make the one account `default`.
     */
    KLING_ACCOUNTS_FILE: optionalString,
    /** Where upstream lives. Defaults to the local sandbox in proxy mode. */
    KLING_BASE_URL: z.string().url().default("http://127.0.0.1:4010"),
    /** "/kling" for the proxy (api.chainhub.tech), "" for the official API. */
    KLING_PATH_PREFIX: z.string().default("/kling"),
    /** Proxy mode: the static bearer key. */
    KLING_API_KEY: optionalString,
    /** Official mode: both set → JWT auth (HS256, 30 min). */
    KLING_ACCESS_KEY: optionalString,
    KLING_SECRET_KEY: optionalString,
    KLING_HTTP_TIMEOUT_MS: z.coerce.number().int().min(100).default(20_000),
    /** The `default` account's parallel-task limit (shared by all its keys); 0 = no cap. */
    KLING_MAX_IN_FLIGHT: z.coerce.number().int().min(0).default(10),
    /** Base URL at which upstream can reach our webhook receiver (apps/api). */
    PUBLIC_BASE_URL: z.string().url().default("http://127.0.0.1:3000"),
    /** HMAC key for callback URL tokens; the api must have the same. */
    CALLBACK_SECRET: z.string().min(16, "must be at least 16 characters"),
    WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(16),
    /** How often a submit waiting for a free slot looks again. */
    SLOT_POLL_MS: z.coerce.number().int().min(10).default(250),
    /** How long submissions stop after 1100-1102 (account exception / arrears / resource pack). */
    ACCOUNT_PAUSE_MS: z.coerce.number().int().min(1000).default(5 * 60_000),
    /**
     * BullMQ lock on an active submit, renewed every LOCK_RENEW_MS while it runs. A killed worker's
     * submits are taken over once their lock has expired and a stalled check (STALLED_INTERVAL_MS) saw
     * it: within LOCK_DURATION_MS + STALLED_INTERVAL_MS (27 s by default).
     */
    LOCK_DURATION_MS: z.coerce.number().int().min(1000).default(22_000),
    /** How often a worker renews the locks of its active submits. */
    LOCK_RENEW_MS: z.coerce.number().int().min(100).default(2_000),
    /** How often workers look for submits whose lock expired (their worker died) and put them back. */
    STALLED_INTERVAL_MS: z.coerce.number().int().min(100).default(5_000),
    /** How often the sweeper re-enqueues jobs missing from the queue (after a Redis flush, say). */
    SWEEP_INTERVAL_MS: z.coerce.number().int().min(100).default(15_000),
    /** Jobs younger than this are left alone by the sweeper (the API is still enqueueing them). */
    SWEEP_MIN_AGE_MS: z.coerce.number().int().min(0).default(10_000),
    SWEEP_BATCH: z.coerce.number().int().min(1).default(20_000),
    /** How often the reconciler runs (a run with nothing due costs a few queries). */
    RECONCILE_INTERVAL_MS: z.coerce.number().int().min(100).default(5_000),
    /**
     * A running task is polled once it is overdue against how long the account's recent tasks took
     * (their 90th percentile; half their median while callbacks are seen missing), but never sooner
     * than RECONCILE_MIN_AFTER_MS and never later than RECONCILE_AFTER_MS after upstream accepted it
     * or it was last polled. RECONCILE_AFTER_MS also applies until enough recent tasks are known.
     */
    RECONCILE_AFTER_MS: z.coerce.number().int().min(0).default(120_000),
    RECONCILE_MIN_AFTER_MS: z.coerce.number().int().min(0).default(5_000),
    /** Upstream queries per reconcile run, and per second. */
    RECONCILE_BATCH: z.coerce.number().int().min(1).default(100),
    RECONCILE_RPS: z.coerce.number().min(0.1).default(10),
    /** A task with no final answer this long after upstream accepted it fails the job (upstream_timeout). */
    TASK_DEADLINE_MS: z.coerce.number().int().min(1000).default(60 * 60_000),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    /**
     * Port of the worker's /metrics and /healthz server: a number (0 = any free port) or "off". Unset =
     * 9464, and then a port already taken (several workers on one host) only logs a warning.
     */
    METRICS_PORT: z.preprocess(
      (v) => (v === "" ? undefined : v),
      z
        .union([z.literal("off"), z.coerce.number().int().min(0).max(65535)], { error: 'must be a port number (0 = any free port) or "off"' })
        .optional(),
    ),
    /** Interface the metrics server listens on (0.0.0.0 to let Prometheus in from elsewhere). */
    METRICS_HOST: z.string().default("127.0.0.1"),
    /** Outbound webhooks: how often the dispatcher looks in Postgres for due deliveries. */
    WEBHOOK_POLL_MS: z.coerce.number().int().min(10).default(500),
    /** Webhook requests in flight at once per worker process. */
    WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(10),
    /** One webhook request, connect to last byte; longer counts as a failed attempt. */
    WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
    /** Delay before each attempt, comma-separated ms: the first (0 = at once), then after each failure; its length is the number of attempts. */
    WEBHOOK_RETRY_SCHEDULE_MS: z
      .preprocess(
        (v) => (typeof v === "string" ? v.split(",").map((s) => s.trim()).filter((s) => s !== "") : v),
        z.array(z.coerce.number().int().min(0)).min(1, "must list at least one delay (ms)"),
      )
      .default([0, 5_000, 5 * 60_000, 30 * 60_000, 2 * 3_600_000, 5 * 3_600_000, 10 * 3_600_000]),
    /** "true" lets webhooks go to loopback, private, link-local and metadata addresses (tests, local demos). */
    ALLOW_PRIVATE_WEBHOOK_URLS: z.enum(["true", "false"]).default("false").transform((v) => v === "true"),
  })
  .superRefine((c, ctx) => {
    const jwt = Boolean(c.KLING_ACCESS_KEY) || Boolean(c.KLING_SECRET_KEY);
    if (c.KLING_ACCOUNTS_FILE) {
      for (const name of ["KLING_API_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY"] as const) {
        if (c[name])
          ctx.addIssue({
            code: "custom",
            path: [name],
            message: "credentials go in KLING_ACCOUNTS_FILE when it is set, not in both places",
          });
      }
    } else if (jwt && !(c.KLING_ACCESS_KEY && c.KLING_SECRET_KEY)) {
      ctx.addIssue({
        code: "custom",
        path: ["KLING_ACCESS_KEY"],
        message: "set both KLING_ACCESS_KEY and KLING_SECRET_KEY (official API) or neither",
      });
    } else if (!jwt && !c.KLING_API_KEY) {
      ctx.addIssue({
        code: "custom",
        path: ["KLING_API_KEY"],
        message: "set KLING_API_KEY (proxy) or KLING_ACCESS_KEY + KLING_SECRET_KEY (official API), or KLING_ACCOUNTS_FILE",
      });
    }
    // A renewal may be up to LOCK_RENEW_MS away when an upstream call starts: the lock must still
    // outlive the call if no renewal lands during it.
    if (c.LOCK_DURATION_MS - c.LOCK_RENEW_MS < c.KLING_HTTP_TIMEOUT_MS) {
      ctx.addIssue({
        code: "custom",
        path: ["LOCK_DURATION_MS"],
        message: "must be at least KLING_HTTP_TIMEOUT_MS + LOCK_RENEW_MS, so an upstream call never outlives the job lock",
      });
    }
  })
  .transform((c, ctx) => {
    // The accounts registry: from the file, or the account `default` from the KLING_* variables.
    try {
      return { ...c, accounts: loadAccountRegistry({ file: c.KLING_ACCOUNTS_FILE, env: c, requireCredentials: true }) };
    } catch (err) {
      if (!(err instanceof AccountsConfigError)) throw err;
      ctx.addIssue({ code: "custom", path: [c.KLING_ACCOUNTS_FILE ? "KLING_ACCOUNTS_FILE" : "KLING_API_KEY"], message: err.message });
      return z.NEVER;
    }
  });
export type WorkerConfig = z.infer<typeof WorkerConfigSchema>;

/** Parses the environment or stops the process with a message naming every bad variable. */
export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const parsed = WorkerConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new Error(`invalid worker configuration:\n${lines.join("\n")}`);
  }
  return parsed.data;
}
