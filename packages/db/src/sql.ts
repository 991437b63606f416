import { createHash } from "node:crypto";
import type { Pool, PoolClient, QueryConfig, QueryResultRow } from "pg";
import type { Db, DbOrTx } from "./client";
import type { Job } from "./generated/client";

/**
 * Plain `pg` for the hot paths (status GET, callbacks, claims, ingest). Prisma 6's client engine
 * compiles every query on the main thread with no plan cache: a one-row read costs about 350 µs of
 * CPU through Prisma and 80 µs here (bench/FINDINGS.md). Everything else stays on Prisma.
 *
 * The pool is the one the Prisma adapter uses, so both share the same connections and limits.
 */
const pools = new WeakMap<object, Pool>();

export function registerPool(db: Db, pool: Pool): void {
  pools.set(db, pool);
}

/** The pool behind a client made by `createDb`; undefined for an open Prisma transaction. */
export function poolOf(db: DbOrTx): Pool | undefined {
  return pools.get(db);
}

export function requirePool(db: Db): Pool {
  const pool = pools.get(db);
  if (!pool) throw new Error("this Db was not made by createDb: no pg pool registered for it");
  return pool;
}

/**
 * A named (server-side prepared) statement: Postgres parses and plans it once per connection instead
 * of on every call. The name is derived from the text, so one text always has one name.
 */
const names = new Map<string, string>();
export function prepared(text: string, values: unknown[]): QueryConfig {
  let name = names.get(text);
  if (!name) {
    name = `kex_${createHash("sha1").update(text).digest("hex").slice(0, 20)}`;
    if (names.size < 10_000) names.set(text, name);
  }
  return { name, text, values };
}

export async function queryRows<R extends QueryResultRow>(db: Db, text: string, values: unknown[]): Promise<R[]> {
  return (await requirePool(db).query<R>(prepared(text, values))).rows;
}

/**
 * One way to run a parameterized statement, whether on a pooled pg connection (in a transaction or
 * not) or inside a Prisma transaction, so code that must run in either place is written once. Write
 * counts as `::int` (pg returns bigint counts as strings, Prisma as BigInt).
 */
export type Sql = <R extends QueryResultRow>(text: string, values?: unknown[]) => Promise<R[]>;

export const sqlOfClient =
  (client: Pick<PoolClient, "query">): Sql =>
  async <R extends QueryResultRow>(text: string, values: unknown[] = []) =>
    (await client.query<R>(prepared(text, values))).rows;

export const sqlOfTx =
  (tx: DbOrTx): Sql =>
  <R extends QueryResultRow>(text: string, values: unknown[] = []) =>
    tx.$queryRawUnsafe<R[]>(text, ...values);

/** Runs `fn` in a transaction on one pooled connection: committed if it returns, rolled back if it throws. */
export async function inTransaction<T>(db: Db, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await requirePool(db).connect();
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

/** Job fields and their columns, in the shape Prisma returns (`Job`). */
export const JOB_COLUMN: { readonly [K in keyof Job]-?: string } = {
  id: "id",
  tenantId: "tenant_id",
  batchId: "batch_id",
  chainId: "chain_id",
  stepIndex: "step_index",
  status: "status",
  videoId: "video_id",
  prompt: "prompt",
  negativePrompt: "negative_prompt",
  cfgScale: "cfg_scale",
  callbackUrl: "callback_url",
  metadata: "metadata",
  externalTaskId: "external_task_id",
  upstreamTaskId: "upstream_task_id",
  upstreamStatus: "upstream_status",
  attempts: "attempts",
  resultVideoId: "result_video_id",
  resultUrl: "result_url",
  resultDuration: "result_duration",
  errorCode: "error_code",
  errorMessage: "error_message",
  createdAt: "created_at",
  updatedAt: "updated_at",
  submittedAt: "submitted_at",
  polledAt: "polled_at",
  finishedAt: "finished_at",
};

/** `SELECT` list that makes pg return rows shaped exactly like Prisma's `Job`. */
export const JOB_SELECT = Object.entries(JOB_COLUMN)
  .map(([field, column]) => (field === column ? column : `${column} AS "${field}"`))
  .join(", ");

/** Casts for columns whose type pg cannot infer from a text parameter. */
const COLUMN_CAST: Partial<Record<keyof Job, string>> = { status: "::job_status", metadata: "::jsonb" };

/**
 * `SET` assignments for plain column values (what `applyJobEvent` patches write), numbered from
 * `$firstParam`. Refuses anything that is not a plain value: an operation like `{ increment: 1 }`
 * has no place on these paths.
 */
export function setClause(data: Record<string, unknown>, firstParam: number): { sql: string; values: unknown[] } {
  const parts: string[] = [];
  const values: unknown[] = [];
  for (const [field, value] of Object.entries(data)) {
    if (value === undefined) continue;
    const column = JOB_COLUMN[field as keyof Job];
    if (!column || field === "id") throw new Error(`setClause: not a writable job field: ${field}`);
    if (value !== null && typeof value === "object" && !(value instanceof Date)) throw new Error(`setClause: ${field} must be a plain value`);
    values.push(value);
    parts.push(`${column} = $${firstParam + values.length - 1}${COLUMN_CAST[field as keyof Job] ?? ""}`);
  }
  return { sql: parts.join(", "), values };
}
