import { rows, type Queryable } from "../queryable";
import { SLOT_SQL } from "../slot-rule";

/** How many account slots are held right now, over every account, as Postgres sees it. */
export async function countInFlight(q: Queryable): Promise<number> {
  const [row] = await rows<{ n: number }>(q, `SELECT count(*)::int AS n FROM jobs WHERE ${SLOT_SQL}`);
  return row?.n ?? 0;
}

/** Slots held right now per account (accounts holding none are absent). */
export async function countInFlightByAccount(q: Queryable): Promise<Map<string, number>> {
  const found = await rows<{ account: string; n: number }>(
    q,
    `SELECT account, count(*)::int AS n FROM jobs WHERE ${SLOT_SQL} GROUP BY account`,
  );
  return new Map(found.map((r) => [r.account, r.n]));
}
