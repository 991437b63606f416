import { createPostgresBackend, quoteSchemaName, runMigrations, withBackend, type Processor, type QueueOptions, type WorkerOptions } from "bullmq";
import { Client, Pool } from "pg";
import { RateLimiterPostgres, type RateLimiterAbstract } from "rate-limiter-flexible";
import { PostgresAccountPauseStore } from "./account-pause";
import type { AnyQueue, AnyWorker, QueueBackend, QueueJobState, RateLimiterSettings } from "./backend";

export interface PostgresBackendSettings {
  /** The database the queue lives in (QUEUE_DATABASE_URL, else DATABASE_URL). */
  url: string;
  prefix: string;
  /** Connections per queue or worker (each BullMQ object owns a pool, plus one LISTEN connection per worker). */
  poolMax?: number;
  onError?: (err: Error) => void;
}

/**
 * The Postgres schema a queue prefix lives in. BullMQ's Postgres backend ignores `prefix` (a Redis
 * keyspace notion): its namespace is the schema. So the prefix names the schema: `{kex}` →
 * `kex_queue`, a test's `{kex-test-ab12}` → `kex_test_ab12_queue`.
 */
export function queueSchemaName(prefix: string): string {
  const base = prefix
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "_")
    .replace(/^_+|_+$/g, "");
  if (!base) throw new Error(`queue prefix ${JSON.stringify(prefix)} gives no usable Postgres schema name`);
  const name = /^[a-z_]/.test(base) ? `${base}_queue` : `q_${base}_queue`;
  if (name.length > 63) throw new Error(`queue prefix ${JSON.stringify(prefix)} is too long for a Postgres schema name (${name})`);
  return name;
}

/** `queueSchemaName(prefix)`, double-quoted for SQL. */
export function quoteQueueSchema(prefix: string): string {
  return quoteSchemaName(queueSchemaName(prefix));
}

const PgClasses = withBackend(createPostgresBackend);

/** How long a new connection may take before a call fails (a call must never hang on a dead server). */
const CONNECT_TIMEOUT_MS = 5000;

/**
 * BullMQ on Postgres (BullMQ 6's backend, `createPostgresBackend`), in its own schema. `start()`
 * runs BullMQ's migrations (`runMigrations`, serialized by its advisory lock, so many processes may
 * start at once) and creates our two tables beside BullMQ's: the account pause and the rate-limit
 * counters. Nothing here connects to Redis.
 */
export class PostgresBackend implements QueueBackend {
  readonly kind = "postgres" as const;
  readonly prefix: string;
  readonly schema: string;
  readonly pauses: PostgresAccountPauseStore;
  /** Our own small pool: pause, rate limit, readiness and the sweeper's lookups. */
  private readonly pool: Pool;
  private readonly quotedSchema: string;

  private constructor(private readonly settings: PostgresBackendSettings) {
    this.prefix = settings.prefix;
    this.schema = queueSchemaName(settings.prefix);
    this.quotedSchema = quoteSchemaName(this.schema);
    this.pool = new Pool({ connectionString: settings.url, max: 3, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, keepAlive: true });
    this.pool.on("error", (err) => settings.onError?.(err));
    this.pauses = new PostgresAccountPauseStore(this.pool, this.quotedSchema);
  }

  /** Migrates the schema (BullMQ's and ours) and returns the backend. */
  static async start(settings: PostgresBackendSettings): Promise<PostgresBackend> {
    const backend = new PostgresBackend(settings);
    try {
      await backend.migrate();
    } catch (err) {
      await backend.pool.end().catch(() => undefined);
      throw err;
    }
    return backend;
  }

  private async migrate(): Promise<void> {
    const client = new Client({ connectionString: this.settings.url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    client.on("error", () => undefined);
    await client.connect();
    try {
      await runMigrations(client, this.schema);
      await client.query(PostgresAccountPauseStore.createTableSql(this.quotedSchema));
      // The table RateLimiterPostgres would create itself (created here so its constructor never races it).
      await client.query(`CREATE TABLE IF NOT EXISTS ${this.quotedSchema}.kex_rate_limit (key varchar(255) PRIMARY KEY, points integer NOT NULL DEFAULT 0, expire bigint)`);
    } catch (err) {
      // Concurrent starters may race on CREATE TABLE IF NOT EXISTS (a unique violation on pg_type).
      if ((err as { code?: string }).code !== "23505") throw err;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** What each BullMQ object connects with: its own pool, pinned to the schema. */
  private get connection() {
    return {
      connectionString: this.settings.url,
      schema: this.schema,
      max: this.settings.poolMax ?? 4,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      keepAlive: true,
    };
  }

  createQueue<D>(name: string, opts: Omit<QueueOptions, "connection" | "prefix"> = {}): AnyQueue<D> {
    return new PgClasses.Queue<D>(name, { ...(opts as QueueOptions<never>), connection: this.connection }) as unknown as AnyQueue<D>;
  }

  createWorker<D>(name: string, processor: Processor<D>, opts: Omit<WorkerOptions, "connection" | "prefix"> = {}): AnyWorker<D> {
    return new PgClasses.Worker<D>(name, processor, { ...(opts as WorkerOptions<never>), connection: this.connection }) as unknown as AnyWorker<D>;
  }

  rateLimiter(settings: RateLimiterSettings): RateLimiterAbstract {
    return new RateLimiterPostgres({
      storeClient: this.pool,
      schemaName: this.schema,
      tableName: "kex_rate_limit",
      tableCreated: true,
      keyPrefix: settings.keyPrefix,
      points: settings.points,
      duration: settings.durationSec,
      insuranceLimiter: settings.insuranceLimiter,
    });
  }

  acceptsWrites(): boolean {
    return true;
  }

  async ping(): Promise<boolean> {
    try {
      await this.pool.query("SELECT 1");
      return true;
    } catch {
      return false;
    }
  }

  /**
   * One query instead of one per job: the same rule as BullMQ's `get_state.sql` (a waiting job with
   * a priority is "prioritized"); a contract test checks it against `getJobState` on both backends.
   */
  async jobStates(queue: AnyQueue, ids: readonly string[]): Promise<QueueJobState[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.pool.query<{ id: string; state: string; priority: number }>(
      `SELECT id, state, priority FROM ${this.quotedSchema}.job WHERE queue = $1 AND id = ANY($2::text[])`,
      [queue.name, ids],
    );
    const byId = new Map(rows.map((r) => [r.id, (r.state === "waiting" && Number(r.priority) > 0 ? "prioritized" : r.state) as QueueJobState]));
    return ids.map((id) => byId.get(id) ?? "unknown");
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
