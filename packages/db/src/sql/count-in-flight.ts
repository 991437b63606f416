import { rows, type Queryable } from "../queryable";
import { SLOT_SQL } from "../slot-rule";

/** How many account slots are held right now, as Postgres sees it. */
export async function countInFlight(q: Queryable): Promise<number> {
  const [row] = await rows<{ n: number }>(q, `SELECT count(*)::int AS n FROM jobs WHERE ${SLOT_SQL}`);
  return row?.n ?? 0;
}
