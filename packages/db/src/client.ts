import { PrismaPg } from "@prisma/adapter-pg";
import { Pool, type PoolClient, type QueryConfig, type QueryResultRow } from "pg";
import { PrismaClient, Prisma } from "./generated/client";
import type { Queryable } from "./queryable";

export { Prisma, PrismaClient };

/**
 * The database handle. Two ways in, one rule for which to use:
 * - `prisma`: the ORM of record, for every ordinary query (the functions in this package's top-level files);
 * - the handle itself (`query`, `transaction`): plain pg for the hot statements in `sql/*.ts` (Prisma 6's
 *   client engine costs about 350 µs of CPU for a one-row read where pg costs 80 µs; bench/FINDINGS.md).
 * Both share one pool, so they share its connections and its limit. Prisma's interactive transactions
 * are not used: a transaction is always `transaction(fn)`, and `fn` gets the same `Queryable` type the
 * pooled handle is.
 */
export interface Db extends Queryable {
  readonly prisma: PrismaClient;
  readonly pool: Pool;
  /** Runs `fn` in a transaction on one pooled connection: committed if it returns, rolled back if it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Closes Prisma and the pool. */
  close(): Promise<void>;
}

export interface DbOptions {
  /** Postgres connection string. */
  url: string;
  /** Connection pool size (default 10). */
  poolMax?: number;
  /** Fail a connection attempt after this long instead of hanging (default 5000 ms). */
  connectTimeoutMs?: number;
}

async function inTransaction<T>(pool: Pool, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  const client: PoolClient = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query("BEGIN");
    const result = await fn(client);
    await client.query("COMMIT");
    return result;
  } catch (err) {
    try {
      await client.query("ROLLBACK");
    } catch (rollbackErr) {
      broken = rollbackErr as Error; // the connection is dead: do not give it back to the pool
    }
    throw err;
  } finally {
    client.release(broken);
  }
}

export function createDb(options: DbOptions): Db {
  const pool = new Pool({
    connectionString: options.url,
    max: options.poolMax ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
  });
  // A Postgres restart kills every connection. Without these listeners, an idle or checked-out
  // client's 'error' event is unhandled and crashes the process; and a connection that dies inside a
  // transaction is never given back by Prisma (its ROLLBACK fails first), which would drain the pool
  // for good. So: log nothing here (the query that used it fails and is reported), and destroy a dead
  // checked-out client so the pool replaces it.
  pool.on("error", () => undefined);
  pool.on("connect", (client) => {
    client.on("error", () => {
      const release = (client as unknown as { release?: (err?: Error | boolean) => void }).release;
      try {
        release?.call(client, true);
      } catch {
        // already given back
      }
    });
  });
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  let closed: Promise<void> | null = null;
  return {
    prisma,
    pool,
    query: <R extends QueryResultRow>(config: QueryConfig) => pool.query<R>(config),
    transaction: (fn) => inTransaction(pool, fn),
    // Prisma's adapter leaves a pool it was given open: end it here, once.
    close: () => (closed ??= prisma.$disconnect().then(() => pool.end())),
  };
}

/** True when Postgres answers a trivial query. */
export async function pingDb(db: Db): Promise<boolean> {
  try {
    await db.query({ text: "SELECT 1" });
    return true;
  } catch {
    return false;
  }
}
