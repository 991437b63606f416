import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client } from "pg";
import { ensureTemplateDatabase, TEMPLATE_LOCK_KEY } from "./database";
import { startEmbeddedPostgres, type RunningEmbeddedPostgres } from "./embedded-postgres";
import { TEST_DB_PREFIX, TEST_PG_ADMIN_URL, TEST_REDIS_URL, templateDatabaseName } from "./env";
import { postgresAnswers, redisAnswers } from "./probe";


function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A template another checkout's migrations built is kept while it was used within this time. */
const TEMPLATE_UNUSED_MS = 6 * 3_600_000;
const USED_AT = "kex test template, last used at ";

/** When each test template was last used (its database comment, written by every global setup). */
async function templatesLastUsed(admin: Client): Promise<Map<string, number>> {
  const { rows } = await admin.query<{ datname: string; comment: string | null }>(
    "SELECT datname, shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname LIKE $1",
    [`${TEST_DB_PREFIX}tpl_%`],
  );
  const used = new Map<string, number>();
  for (const r of rows) {
    const at = r.comment?.startsWith(USED_AT) ? Number(r.comment.slice(USED_AT.length)) : NaN;
    if (Number.isFinite(at)) {
      used.set(r.datname, at);
    } else {
      // A template from before comments were written may be another run's: its clock starts now.
      used.set(r.datname, Date.now());
      await admin.query(`COMMENT ON DATABASE "${r.datname}" IS '${USED_AT}${Date.now()}'`).catch(() => undefined);
    }
  }
  return used;
}

/** What global setup started, for global teardown (both run in jest's main process). */
export const EMBEDDED_HANDLE = Symbol.for("kex.testing.embeddedPostgres");
type WithHandle = typeof globalThis & { [EMBEDDED_HANDLE]?: { server: RunningEmbeddedPostgres; root: string } };

const hostOf = (url: string) => new URL(url).host;

/**
 * An embedded Postgres in a temporary directory, stopped and deleted by global teardown, or on SIGINT,
 * SIGTERM and SIGHUP (then the signal is raised again), and at the latest when this process exits.
 */
async function startTestPostgres(): Promise<string> {
  const root = mkdtempSync(path.join(os.tmpdir(), "kex-test-pg-"));
  // As root the server runs as the OS user postgres, which must be able to enter this directory.
  chmodSync(root, 0o755);
  const server = await startEmbeddedPostgres({ dataDir: path.join(root, "pg"), fast: true });
  (globalThis as WithHandle)[EMBEDDED_HANDLE] = { server, root };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      void stopTestPostgres().finally(() => process.kill(process.pid, signal));
    });
  }
  return server.url;
}

/** Stops the embedded Postgres global setup started, if it did, and deletes its files. */
export async function stopTestPostgres(): Promise<void> {
  const handle = (globalThis as WithHandle)[EMBEDDED_HANDLE];
  if (!handle) return;
  delete (globalThis as WithHandle)[EMBEDDED_HANDLE];
  await handle.server.stop();
  rmSync(handle.root, { recursive: true, force: true });
}

/**
 * Chooses the test services: Postgres at TEST_PG_ADMIN_URL, else an embedded one (its URL exported as
 * TEST_PG_ADMIN_URL); Redis at TEST_REDIS_URL, else TEST_QUEUE_BACKEND=postgres. Jest starts its
 * workers after global setup, with this process's environment, so they see both. Says what it chose
 * in one line when it is not the default.
 */
async function chooseTestServices(): Promise<string> {
  const notes: string[] = [];
  let adminUrl = TEST_PG_ADMIN_URL;
  const [pg, redis] = await Promise.all([postgresAnswers(adminUrl), process.env.TEST_QUEUE_BACKEND ? true : redisAnswers(TEST_REDIS_URL)]);
  if (!pg) {
    adminUrl = await startTestPostgres();
    process.env.TEST_PG_ADMIN_URL = adminUrl;
    notes.push(`no Postgres at ${hostOf(TEST_PG_ADMIN_URL)}: embedded Postgres on ${hostOf(adminUrl)}`);
  }
  if (!redis) {
    process.env.TEST_QUEUE_BACKEND = "postgres";
    notes.push(`no Redis at ${hostOf(TEST_REDIS_URL)}: TEST_QUEUE_BACKEND=postgres`);
  }
  if (notes.length > 0) process.stdout.write(`\ntest services: ${notes.join("; ")}\n`);
  return adminUrl;
}

/**
 * Chooses the test services (above), makes sure the migrated template database exists (built once per
 * set of migrations, under a lock so concurrent runs share it) and drops test databases left behind by
 * runs that died.
 */
export default async function globalSetup(): Promise<void> {
  const adminUrl = await chooseTestServices();
  const template = templateDatabaseName();
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query("SELECT pg_advisory_lock($1)", [TEMPLATE_LOCK_KEY]);
    const { rows } = await admin.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE $1", [`${TEST_DB_PREFIX}%`]);
    const names = rows.map((r) => r.datname);
    const lastUsed = await templatesLastUsed(admin);
    for (const name of names) {
      const owner = /^kex_test_(\d+)_/.exec(name);
      const isTemplate = name.startsWith(`${TEST_DB_PREFIX}tpl_`);
      const stale = owner ? !processAlive(Number(owner[1])) : name !== template && !isTemplate;
      // Another set of migrations (another checkout's run, maybe still going) owns a template of its
      // own: it is dropped only once nobody has used it for TEMPLATE_UNUSED_MS.
      const oldTemplate = isTemplate && name !== template && !name.endsWith("_build") && Date.now() - (lastUsed.get(name) ?? 0) > TEMPLATE_UNUSED_MS;
      if (stale || oldTemplate) await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => undefined);
    }
  } finally {
    await admin.query("SELECT pg_advisory_unlock($1)", [TEMPLATE_LOCK_KEY]).catch(() => undefined);
  }
  try {
    await ensureTemplateDatabase(admin, adminUrl);
    await admin.query(`COMMENT ON DATABASE "${template}" IS '${USED_AT}${Date.now()}'`);
  } finally {
    await admin.end();
  }
}
