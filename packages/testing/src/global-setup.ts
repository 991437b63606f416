import { Client } from "pg";
import { ensureTemplateDatabase, TEMPLATE_LOCK_KEY } from "./database";
import { TEST_DB_PREFIX, TEST_PG_ADMIN_URL, templateDatabaseName } from "./env";


function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Makes sure the migrated template database exists (built once per set of migrations, under a lock so
 * concurrent runs share it) and drops test databases left behind by runs that died.
 */
export default async function globalSetup(): Promise<void> {
  const template = templateDatabaseName();
  const admin = new Client({ connectionString: TEST_PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query("SELECT pg_advisory_lock($1)", [TEMPLATE_LOCK_KEY]);
    const { rows } = await admin.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE $1", [`${TEST_DB_PREFIX}%`]);
    const names = rows.map((r) => r.datname);
    for (const name of names) {
      const owner = /^kex_test_(\d+)_/.exec(name);
      const stale = owner ? !processAlive(Number(owner[1])) : name !== template && !name.startsWith(`${TEST_DB_PREFIX}tpl_`);
      const oldTemplate = name.startsWith(`${TEST_DB_PREFIX}tpl_`) && name !== template;
      if (stale || oldTemplate) await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => undefined);
    }
  } finally {
    await admin.query("SELECT pg_advisory_unlock($1)", [TEMPLATE_LOCK_KEY]).catch(() => undefined);
  }
  try {
    await ensureTemplateDatabase(admin);
  } finally {
    await admin.end();
  }
}
