import { z } from "zod";
import { AccountsConfigError, loadAccountRegistry } from "@kex/core";
import { assertWebhookSecret } from "@kex/kling";
import { DEFAULT_QUEUE_PREFIX, QUEUE_BACKENDS } from "@kex/queue";

const optionalString = z.preprocess((v) => (v === "" ? undefined : v), z.string().optional());

/**
 * `KLING_WEBHOOK_SECRETS`: the default account's Standard Webhooks secrets (`whsec_…`, from Kling's console),
 * space- or comma-separated: two during a rotation. Empty or unset: callbacks are not required to be signed.
 */
const WebhookSecretsSchema = z
  .string()
  .default("")
  .transform((value, ctx) => {
    const secrets = value.split(/[\s,]+/).filter((s) => s.length > 0);
    secrets.forEach((secret, index) => {
      try {
        assertWebhookSecret(secret);
      } catch (err) {
        // The message names the position, never the value: this is a secret.
        ctx.addIssue({ code: "custom", message: `secret ${index + 1}: ${(err as Error).message}` });
      }
    });
    return secrets;
  });

/** API settings, parsed once at startup from the environment (the only place that reads it). */
export const ApiConfigSchema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    HOST: z.string().default("127.0.0.1"),
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
    /** Bearer token clients send on /v1/*. */
    API_TOKEN: z.string().min(16, "must be at least 16 characters"),
    /** HMAC key for upstream callback URL tokens; the worker must have the same. */
    CALLBACK_SECRET: z.string().min(16, "must be at least 16 characters"),
    /**
     * Standard Webhooks secrets of the (default) Kling account: with one set, every upstream callback must carry a
     * valid signature by one of them, on top of the URL token. Space- or comma-separated, e.g. old and new while
     * a secret is rotated. Unset: no signature is required.
     */
    KLING_WEBHOOK_SECRETS: WebhookSecretsSchema,
    /**
     * Largest batch body in bytes after decompression, written like `64mb`, `512kb` or `1048576` (a 10,000-item
     * batch with long prompts is ~50 MB). Other bodies have fixed limits: 1 MB, and 64 KB for callbacks.
     */
    BODY_LIMIT: z
      .string()
      .default("64mb")
      .transform((value, ctx) => {
        const match = /^\s*(\d+)\s*(b|kb|mb|gb)?\s*$/i.exec(value);
        if (!match) {
          ctx.addIssue({ code: "custom", message: "must be a size such as 64mb, 512kb or a number of bytes" });
          return z.NEVER;
        }
        const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(match[2] ?? "b").toLowerCase() as "b" | "kb" | "mb" | "gb"];
        return Number(match[1]) * unit;
      }),
    /** Longest a request waits for Redis to take its jobs before answering anyway (the sweeper enqueues them later). */
    ENQUEUE_TIMEOUT_MS: z.coerce.number().int().min(10).default(30_000),
    /** Requests per second per tenant on /v1 (counted in Redis, shared by every API process); 0 = no limit. */
    API_RATE_LIMIT_PER_SEC: z.coerce.number().int().min(0).default(100),
    /** Failed authentications (bearer key, Basic auth) per client address per minute before it is answered 429; 0 = no limit. */
    AUTH_FAILURES_PER_MIN: z.coerce.number().int().min(0).default(20),
    /** How long a verified API key is trusted before it is looked up again (a revocation takes effect within this). */
    API_KEY_CACHE_MS: z.coerce.number().int().min(0).default(5000),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    /** "true" accepts callback_url destinations on loopback, private, link-local and metadata addresses (tests, local demos). */
    ALLOW_PRIVATE_WEBHOOK_URLS: z
      .enum(["true", "false"])
      .default("false")
      .transform((v) => v === "true"),
    /**
     * The Kling accounts, as the worker has them (the same KLING_ACCOUNTS_FILE, or the same single-account
     * variables): the api routes jobs to them and shows them. It never calls upstream, so credentials are
     * optional here.
     */
    KLING_ACCOUNTS_FILE: optionalString,
    KLING_BASE_URL: z.string().url().default("http://127.0.0.1:4010"),
    KLING_PATH_PREFIX: z.string().default("/kling"),
    KLING_MAX_IN_FLIGHT: z.coerce.number().int().min(0).default(10),
    KLING_API_KEY: optionalString,
    KLING_ACCESS_KEY: optionalString,
    KLING_SECRET_KEY: optionalString,
  })
  .transform((c, ctx) => {
    try {
      return { ...c, accounts: loadAccountRegistry({ file: c.KLING_ACCOUNTS_FILE, env: c, requireCredentials: false, callbackSecrets: c.KLING_WEBHOOK_SECRETS }) };
    } catch (err) {
      if (!(err instanceof AccountsConfigError)) throw err;
      ctx.addIssue({ code: "custom", path: ["KLING_ACCOUNTS_FILE"], message: err.message });
      return z.NEVER;
    }
  });
export type ApiConfig = z.infer<typeof ApiConfigSchema>;

/** Parses the environment or stops the process with a message naming every bad variable. */
export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const parsed = ApiConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new Error(`invalid api configuration:\n${lines.join("\n")}`);
  }
  return parsed.data;
}
