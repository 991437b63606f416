import { createHash } from "node:crypto";
import type { QueryConfig, QueryResult, QueryResultRow } from "pg";

/**
 * The one connection type every raw-SQL operation (`sql/*.ts`) takes: the pooled handle (`Db`, each
 * statement on any free connection) or an open transaction (`Db.transaction`'s argument, every
 * statement on one connection). Both are plain pg, so what runs never depends on which was passed.
 */
export interface Queryable {
  query<R extends QueryResultRow>(config: QueryConfig): Promise<QueryResult<R>>;
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

/** Runs one statement as a named statement and returns its rows. Counts are cast `::int` in the SQL (pg returns bigint as a string). */
export async function rows<R extends QueryResultRow>(q: Queryable, text: string, values: unknown[] = []): Promise<R[]> {
  return (await q.query<R>(prepared(text, values))).rows;
}
