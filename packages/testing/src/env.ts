import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

// Where tests find Postgres and Redis. Tests never touch the demo's database: each test file gets a
// database of its own, copied from a migrated template. When no Postgres answers at TEST_PG_ADMIN_URL,
// jest's global setup starts an embedded one and sets TEST_PG_ADMIN_URL to it for the test workers;
// when no Redis answers, it sets TEST_QUEUE_BACKEND=postgres (see global-setup.ts).
export const TEST_PG_ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
export const TEST_DB_PREFIX = "kex_test_";

/**
 * Which queue backend the tests run on: `TEST_QUEUE_BACKEND=redis` (default) or `postgres` (BullMQ's
 * Postgres backend, in each test's own database). Tests about Redis itself are skipped on postgres.
 */
export const TEST_QUEUE_BACKEND: "redis" | "postgres" = (() => {
  const value = process.env.TEST_QUEUE_BACKEND ?? "redis";
  if (value !== "redis" && value !== "postgres") throw new Error(`TEST_QUEUE_BACKEND must be redis or postgres, not ${JSON.stringify(value)}`);
  return value;
})();

export const REPO_ROOT = path.resolve(__dirname, "../../..");

/**
 * The template's name carries a hash of the migrations, so concurrent test runs share one template
 * and a changed migration gets a new one.
 */
export function templateDatabaseName(): string {
  const dir = path.join(REPO_ROOT, "prisma/migrations");
  const hash = createHash("sha256");
  for (const entry of readdirSync(dir).sort()) {
    const file = path.join(dir, entry, "migration.sql");
    try {
      hash.update(entry).update(readFileSync(file));
    } catch {
      // not a migration folder
    }
  }
  return `${TEST_DB_PREFIX}tpl_${hash.digest("hex").slice(0, 12)}`;
}

/** The URL of database `name` on the test server (or on `server`). */
export function databaseUrl(name: string, server = TEST_PG_ADMIN_URL): string {
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Log level of the apps that tests start in-process (`TEST_LOG_LEVEL=info` to see their lines). */
export const TEST_LOG_LEVEL = process.env.TEST_LOG_LEVEL ?? "silent";

/**
 * The environment a test hands to a child process it starts (the CLI, an app), before its own
 * overrides: this process's, which carries what global setup chose (TEST_PG_ADMIN_URL,
 * TEST_QUEUE_BACKEND), plus QUEUE_BACKEND for an app that reads it.
 */
export function childProcessEnv(overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, QUEUE_BACKEND: TEST_QUEUE_BACKEND, ...overrides };
}
