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

/**
 * A fresh, migrated database of the test's own (a copy of the template made by global setup). Its
 * name carries this process's pid, so a later run can drop it if this one dies.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `${TEST_DB_PREFIX}${process.pid}_${randomBytes(4).toString("hex")}`;
  const url = databaseUrl(name);
  await createDatabaseFromTemplate(url, databaseUrl(templateDatabaseName()));
  return { name, url, drop: () => dropDatabase(url) };
}
