// Machine-wide faults for the fault suite: restarting the local Redis and Postgres, wiping a queue
// prefix, dropping a database. Scripts only. Everything here restores what it breaks, and the
// `ensure…Up` helpers are meant for `finally` blocks.
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { Client } from "pg";

const run = promisify(execFile);

/** The Redis start command CI uses (.ci/run): no persistence, loopback only. */
const REDIS_START = ["--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379", "--save", "", "--appendonly", "no"];

function redisPort(url: string): number {
  return Number(new URL(url).port || 6379);
}

/** True when Redis answers PING within two seconds. */
export async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    return (await redis.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(200);
  }
  throw new Error(`${what} within ${timeoutMs} ms`);
}

/** `redis-cli shutdown nosave`, then the CI start command; resolves once Redis answers PONG again. */
export async function restartRedis(url: string): Promise<{ downMs: number }> {
  const port = String(redisPort(url));
  const started = Date.now();
  // The connection drops when the server exits, so redis-cli may report an error: that is the point.
  await run("redis-cli", ["-h", "127.0.0.1", "-p", port, "shutdown", "nosave"]).catch(() => undefined);
  await waitFor("redis did not stop", async () => !(await redisAnswers(url)), 15_000);
  await run(
    "redis-server",
    REDIS_START.map((a) => (a === "6379" ? port : a)),
  );
  await waitFor("redis did not answer PONG after the restart", () => redisAnswers(url), 30_000);
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
  await waitFor("redis did not come back", () => redisAnswers(url), 30_000);
}

/** Deletes every key under a queue prefix (what a flush does to one orchestrator). Returns how many. */
export async function deleteRedisPrefix(url: string, prefix: string): Promise<number> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  redis.on("error", () => undefined);
  let deleted = 0;
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
  return deleted;
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

function adminUrl(databaseUrl: string): string {
  const admin = new URL(databaseUrl);
  admin.pathname = "/postgres";
  return admin.toString();
}

/** True when Postgres answers `SELECT 1` within two seconds. */
export async function postgresAnswers(databaseUrl: string): Promise<boolean> {
  const client = new Client({ connectionString: adminUrl(databaseUrl), connectionTimeoutMillis: 2000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
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
  await waitFor("postgres did not answer after the restart", () => postgresAnswers(databaseUrl), 60_000);
  return { downMs: Date.now() - started };
}

/** Starts the local cluster if Postgres does not answer (for `finally`). */
export async function ensurePostgresUp(databaseUrl: string): Promise<void> {
  if (await postgresAnswers(databaseUrl)) return;
  await run("pg_ctlcluster", ["--skip-systemctl-redirect", postgresVersion(), "main", "start"]).catch(() => undefined);
  await waitFor("postgres did not come back", () => postgresAnswers(databaseUrl), 60_000);
}

/** Drops a database, disconnecting whoever still uses it. */
export async function dropDatabase(databaseUrl: string): Promise<void> {
  const name = decodeURIComponent(new URL(databaseUrl).pathname.slice(1));
  const client = new Client({ connectionString: adminUrl(databaseUrl), connectionTimeoutMillis: 5000 });
  client.on("error", () => undefined);
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name.replace(/"/g, '""')}" WITH (FORCE)`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates a database as a copy of a migrated template (much faster than migrating each one). */
export async function createDatabaseFromTemplate(databaseUrl: string, templateUrl: string): Promise<void> {
  const quote = (url: string) => `"${decodeURIComponent(new URL(url).pathname.slice(1)).replace(/"/g, '""')}"`;
  const client = new Client({ connectionString: adminUrl(databaseUrl), connectionTimeoutMillis: 5000 });
  client.on("error", () => undefined);
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${quote(databaseUrl)} TEMPLATE ${quote(templateUrl)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
