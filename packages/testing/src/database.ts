import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { Client } from "pg";
import { REPO_ROOT, TEST_DB_PREFIX, TEST_PG_ADMIN_URL, databaseUrl, templateDatabaseName } from "./env";

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** The name in a database URL's path. */
export function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

/** The same server's `postgres` database, from which databases are created and dropped. */
export function adminUrl(url: string): string {
  const admin = new URL(url);
  admin.pathname = "/postgres";
  return admin.toString();
}

const quoted = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Runs `fn` on a connection to the server's `postgres` database (default: the test server's). */
async function admin<T>(fn: (client: Client) => Promise<T>, serverUrl = TEST_PG_ADMIN_URL): Promise<T> {
  const client = new Client({ connectionString: adminUrl(serverUrl), connectionTimeoutMillis: 5000 });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Drops the database `url` names, disconnecting whoever still uses it. */
export async function dropDatabase(url: string): Promise<void> {
  await admin((c) => c.query(`DROP DATABASE IF EXISTS ${quoted(databaseName(url))} WITH (FORCE)`), url);
}

/** Creates the database `url` names as a copy of a migrated template (much faster than migrating each one). */
export async function createDatabaseFromTemplate(url: string, templateUrl: string): Promise<void> {
  await admin((c) => c.query(`CREATE DATABASE ${quoted(databaseName(url))} TEMPLATE ${quoted(databaseName(templateUrl))}`), url);
}

/** Creates the database `url` names unless it exists. */
export async function createDatabaseIfMissing(url: string): Promise<void> {
  const name = databaseName(url);
  await admin(async (c) => {
    const { rowCount } = await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (!rowCount) await c.query(`CREATE DATABASE ${quoted(name)}`);
  }, url);
}

/** `prisma migrate deploy` on the database `url` names. */
export function migrateDatabase(url: string): void {
  execFileSync(
    path.join(REPO_ROOT, "node_modules/.bin/prisma"),
    ["migrate", "deploy", "--config", path.join(REPO_ROOT, "prisma/prisma.config.ts")],
    { cwd: REPO_ROOT, env: { ...process.env, DATABASE_URL: url }, stdio: "pipe" },
  );
}

/** Serializes template builds across processes (global setups and `ensureTemplateDatabase`). */
export const TEMPLATE_LOCK_KEY = 7_391_777;

/**
 * Builds the migrated template database unless it exists, under an advisory lock so concurrent runs
 * build it once. `client` is connected to the server's `postgres` database.
 */
export async function ensureTemplateDatabase(client: Client, serverUrl = TEST_PG_ADMIN_URL): Promise<void> {
  const template = templateDatabaseName();
  await client.query("SELECT pg_advisory_lock($1)", [TEMPLATE_LOCK_KEY]);
  try {
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [template]);
    if (rowCount) return;
    const building = `${template}_build`;
    await client.query(`DROP DATABASE IF EXISTS ${quoted(building)} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${quoted(building)}`);
    migrateDatabase(databaseUrl(building, serverUrl));
    await client.query(`ALTER DATABASE ${quoted(building)} RENAME TO ${quoted(template)}`);
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [TEMPLATE_LOCK_KEY]).catch(() => undefined);
  }
}

/**
 * A fresh, migrated database of the test's own (a copy of the template made by global setup). Its
 * name carries this process's pid, so a later run can drop it if this one dies. When the template is
 * gone (a concurrent run with other migrations dropped it as stale), it is built again.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `${TEST_DB_PREFIX}${process.pid}_${randomBytes(4).toString("hex")}`;
  const url = databaseUrl(name);
  const template = databaseUrl(templateDatabaseName());
  for (let attempt = 1; ; attempt++) {
    try {
      await createDatabaseFromTemplate(url, template);
      return { name, url, drop: () => dropDatabase(url) };
    } catch (err) {
      // 3D000: the template database does not exist.
      if ((err as { code?: string }).code !== "3D000" || attempt >= 3) throw err;
      await admin((c) => ensureTemplateDatabase(c));
    }
  }
}
