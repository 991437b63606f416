// Machine-wide faults for the fault suite: restarting the local Redis and Postgres, a real FLUSHALL.
// Scripts only. Everything here restores what it breaks, and the `ensure…Up` helpers are meant for
// `finally` blocks.
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { promisify } from "node:util";
import { postgresAnswers, redisAnswers, waitFor } from "@kex/testing";
import { Redis } from "ioredis";

const run = promisify(execFile);

// The probes live in @kex/testing (jest's global setup uses them too).
export { postgresAnswers, redisAnswers };

/** The Redis start command CI uses (.ci/run): no persistence, loopback only. */
const REDIS_START = ["--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379", "--save", "", "--appendonly", "no"];

function redisPort(url: string): number {
  return Number(new URL(url).port || 6379);
}

/** Polls `check` every 200 ms until it holds; fails saying `what` did not happen within `timeoutMs`. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  await waitFor(async () => ((await check()) ? true : undefined), { timeoutMs, intervalMs: 200, what });
}

/** `redis-cli shutdown nosave`, then the CI start command; resolves once Redis answers PONG again. */
export async function restartRedis(url: string): Promise<{ downMs: number }> {
  const port = String(redisPort(url));
  const started = Date.now();
  // The connection drops when the server exits, so redis-cli may report an error: that is the point.
  await run("redis-cli", ["-h", "127.0.0.1", "-p", port, "shutdown", "nosave"]).catch(() => undefined);
  await until("redis to stop", async () => !(await redisAnswers(url)), 15_000);
  await run(
    "redis-server",
    REDIS_START.map((a) => (a === "6379" ? port : a)),
  );
  await until("redis to answer PONG after the restart", () => redisAnswers(url), 30_000);
  return { downMs: Date.now() - started };
}

/** Starts Redis the CI way if it does not answer (for `finally`). */
export async function ensureRedisUp(url: string): Promise<void> {
  if (await redisAnswers(url)) return;
  const port = String(redisPort(url));
  await run(
    "redis-server",
    REDIS_START.map((a) => (a === "6379" ? port : a)),
  ).catch(() => undefined);
  await until("redis to come back", () => redisAnswers(url), 30_000);
}

/** A real FLUSHALL: every key of every database on this Redis. */
export async function flushAllRedis(url: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  redis.on("error", () => undefined);
  try {
    await redis.flushall();
  } finally {
    redis.disconnect();
  }
}

function postgresVersion(): string {
  const versions = readdirSync("/etc/postgresql").sort();
  if (!versions[0]) throw new Error("no cluster under /etc/postgresql");
  return versions[0];
}

/** `pg_ctlcluster <version> main restart`; resolves once Postgres answers again. */
export async function restartPostgres(databaseUrl: string): Promise<{ downMs: number }> {
  const started = Date.now();
  await run("pg_ctlcluster", ["--skip-systemctl-redirect", postgresVersion(), "main", "restart"]);
  await until("postgres to answer after the restart", () => postgresAnswers(databaseUrl), 60_000);
  return { downMs: Date.now() - started };
}

/** Starts the local cluster if Postgres does not answer (for `finally`). */
export async function ensurePostgresUp(databaseUrl: string): Promise<void> {
  if (await postgresAnswers(databaseUrl)) return;
  await run("pg_ctlcluster", ["--skip-systemctl-redirect", postgresVersion(), "main", "start"]).catch(() => undefined);
  await until("postgres to come back", () => postgresAnswers(databaseUrl), 60_000);
}
