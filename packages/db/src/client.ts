import { PrismaPg } from "@prisma/adapter-pg";
import { Pool } from "pg";
import { PrismaClient, Prisma } from "./generated/client";
import { registerPool } from "./sql";

export { Prisma };
export type Db = PrismaClient;
/** A client or an open transaction: repository functions accept either. */
export type DbOrTx = PrismaClient | Prisma.TransactionClient;

export interface DbOptions {
  /** Postgres connection string. */
  url: string;
  /** Connection pool size (default 10). */
  poolMax?: number;
  /** Fail a connection attempt after this long instead of hanging (default 5000 ms). */
  connectTimeoutMs?: number;
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
  const db = new PrismaClient({ adapter: new PrismaPg(pool) });
  registerPool(db, pool);
  return db;
}

/** True when Postgres answers a trivial query. */
export async function pingDb(db: Db): Promise<boolean> {
  try {
    await db.$queryRaw`SELECT 1`;
    return true;
  } catch {
    return false;
  }
}
