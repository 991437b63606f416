import { Client } from "pg";
import { createQueueBackend, quoteQueueSchema, queueSchemaName, type QueueBackend, type QueueBackendKind, type QueueBackendSettings } from "@kex/queue";
import { TEST_QUEUE_BACKEND, TEST_REDIS_URL } from "./env";
import { deleteRedisPrefix, uniqueQueuePrefix } from "./redis";

/** An isolated queue for one test on the chosen backend (TEST_QUEUE_BACKEND): a unique prefix, and on Postgres its own schema. */
export interface TestQueue {
  kind: QueueBackendKind;
  prefix: string;
  /** The variables an api or worker config needs to use this queue (beside its DATABASE_URL). */
  env: { QUEUE_BACKEND: QueueBackendKind; QUEUE_PREFIX: string; REDIS_URL?: string; QUEUE_DATABASE_URL?: string };
  settings: QueueBackendSettings;
  /** A backend of the test's own on this queue (the caller closes it). */
  open(): Promise<QueueBackend>;
  /** Loses every queued job, as a Redis flush or a lost queue schema would (Postgres keeps the truth). */
  wipe(): Promise<void>;
  /** Removes what the queue left behind (the Redis keys, or the schema). */
  cleanup(): Promise<void>;
}

/**
 * A queue of the test's own. On Postgres it lives in `databaseUrl` (the test's database), in the
 * schema its unique prefix names, so nothing is shared with another test even on one database.
 */
export function createTestQueue(options: { databaseUrl: string; kind?: QueueBackendKind }): TestQueue {
  const kind = options.kind ?? TEST_QUEUE_BACKEND;
  const prefix = uniqueQueuePrefix();
  const settings: QueueBackendSettings =
    kind === "redis" ? { kind, prefix, redisUrl: TEST_REDIS_URL } : { kind, prefix, databaseUrl: options.databaseUrl, poolMax: 4 };
  const env: TestQueue["env"] =
    kind === "redis"
      ? { QUEUE_BACKEND: kind, QUEUE_PREFIX: prefix, REDIS_URL: TEST_REDIS_URL }
      : { QUEUE_BACKEND: kind, QUEUE_PREFIX: prefix, QUEUE_DATABASE_URL: options.databaseUrl };
  const onSchema = async (sql: (schema: string) => Promise<unknown>, client: Client) => {
    await client.connect();
    try {
      await sql(quoteQueueSchema(prefix));
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  const pg = () => {
    const client = new Client({ connectionString: options.databaseUrl, connectionTimeoutMillis: 5000 });
    client.on("error", () => undefined);
    return client;
  };
  return {
    kind,
    prefix,
    env,
    settings,
    open: () => createQueueBackend(settings),
    async wipe() {
      if (kind === "redis") {
        await deleteRedisPrefix(prefix);
        return;
      }
      const client = pg();
      await onSchema(async () => {
        const { rows } = await client.query<{ name: string }>(
          "SELECT quote_ident(table_name) AS name FROM information_schema.tables WHERE table_schema = $1 AND table_name <> 'migration' AND table_name NOT LIKE 'kex\\_%'",
          [queueSchemaName(prefix)],
        );
        if (rows.length > 0) await client.query(`TRUNCATE ${rows.map((r) => `${quoteQueueSchema(prefix)}.${r.name}`).join(", ")}`);
      }, client);
    },
    async cleanup() {
      if (kind === "redis") {
        await deleteRedisPrefix(prefix);
        return;
      }
      const client = pg();
      // The test's database may already be gone (dropped first): nothing left to remove then.
      await onSchema((schema) => client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`), client).catch(() => undefined);
    },
  };
}

/**
 * `describe` for tests about Redis itself (its keys, its outage). On another backend the suite is
 * skipped with one line naming why.
 */
export function describeOnRedisBackend(name: string, why: string, fn: () => void): void {
  if (TEST_QUEUE_BACKEND === "redis") {
    describe(name, fn);
    return;
  }
  process.stderr.write(`skipped "${name}" on TEST_QUEUE_BACKEND=${TEST_QUEUE_BACKEND}: ${why}\n`);
  describe.skip(name, fn);
}

/** `it` for one test about Redis itself; skipped with one line naming why on another backend. */
export function itOnRedisBackend(name: string, why: string, fn: () => Promise<unknown>, timeoutMs?: number): void {
  if (TEST_QUEUE_BACKEND === "redis") {
    it(name, fn, timeoutMs);
    return;
  }
  process.stderr.write(`skipped "${name}" on TEST_QUEUE_BACKEND=${TEST_QUEUE_BACKEND}: ${why}\n`);
  it.skip(name, fn, timeoutMs);
}
