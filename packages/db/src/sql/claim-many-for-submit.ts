import { DEFAULT_ACCOUNT } from "@kex/core";
import type { Db } from "../client";
import { prepared } from "../queryable";
import { accountSlotSql } from "../slot-rule";

export type ClaimOutcome = "claimed" | "no_slot" | "not_queued";

/** Serializes slot claims across every worker process (pg advisory lock key; any fixed number). */
const SLOT_LOCK_KEY = 7_391_001;

const CLAIM = `WITH cand AS (
    SELECT w.id FROM unnest($1::uuid[]) WITH ORDINALITY AS w(id, ord)
    JOIN jobs j ON j.id = w.id AND j.status = 'queued' AND j.account = $4
    ORDER BY w.ord LIMIT $3
  ), upd AS (
    UPDATE jobs SET status = 'submitting', updated_at = $2, external_task_id = COALESCE(external_task_id, jobs.id::text || '-1')
    FROM cand WHERE jobs.id = cand.id AND jobs.status = 'queued'
    RETURNING jobs.id
  ), ev AS (
    INSERT INTO job_events (job_id, source, type, from_status, to_status, at)
    SELECT id, 'worker', 'submit_started', 'queued', 'submitting', $2 FROM upd
  )
  SELECT w.id::text AS id, (u.id IS NOT NULL) AS claimed, j.status::text AS status
  FROM unnest($1::uuid[]) AS w(id) LEFT JOIN upd u ON u.id = w.id LEFT JOIN jobs j ON j.id = w.id`;

/**
 * Moves jobs of one account `queued → submitting` while that account's slots are free (`maxInFlight`,
 * 0 = no cap), in one transaction: one lock, one count, one update. Jobs of another account answer
 * `not_queued` (callers group claims by account). Jobs get the free slots in the order given; the rest
 * answer `no_slot` (still queued) or `not_queued`. The count and the claim run under one advisory
 * lock (one per account), so concurrent workers can never exceed an account's cap; a slot is "freed" simply by the job leaving
 * the slot statuses, so a dead worker cannot leak one. Its own transaction: the lock lasts until commit.
 */
export async function claimManyForSubmit(
  db: Db,
  args: { jobIds: readonly string[]; /** Default `default`. */ account?: string; maxInFlight: number; now?: Date },
): Promise<Map<string, ClaimOutcome>> {
  const now = args.now ?? new Date();
  const account = args.account ?? DEFAULT_ACCOUNT;
  const ids = [...new Set(args.jobIds)];
  const result = await db.transaction(async (tx) => {
    let free: number | null = null;
    if (args.maxInFlight > 0) {
      await tx.query(prepared(`SELECT pg_advisory_xact_lock($1::int, hashtext($2))`, [SLOT_LOCK_KEY, account]));
      const { rows: used } = await tx.query<{ n: number }>(
        prepared(`SELECT count(*)::int AS n FROM jobs WHERE ${accountSlotSql(1)}`, [account]),
      );
      free = Math.max(0, args.maxInFlight - (used[0]?.n ?? 0));
    }
    return (await tx.query<{ id: string; claimed: boolean; status: string | null }>(prepared(CLAIM, [ids, now, free, account]))).rows;
  });
  return new Map(result.map((r) => [r.id, r.claimed ? "claimed" : r.status === "queued" ? "no_slot" : "not_queued"]));
}
