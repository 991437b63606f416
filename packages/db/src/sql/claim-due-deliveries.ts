import { rows, type Queryable } from "../queryable";

export interface ClaimedDelivery {
  id: string;
  tenantId: string;
  jobId: string | null;
  batchId: string | null;
  eventType: string;
  url: string;
  /** The stored event `{type, timestamp, data}`: sent as the body, byte for byte the same on every attempt. */
  payload: unknown;
  /** Attempts made before this one. */
  attempts: number;
}

/**
 * Claims up to `limit` due deliveries (`pending`, `next_attempt_at <= now`, oldest first) by pushing
 * their `next_attempt_at` to `now + leaseMs` in the same statement. `FOR UPDATE SKIP LOCKED` means
 * concurrent dispatchers (several worker processes) never claim the same row; the lease means a row
 * whose dispatcher died mid-send becomes due again by itself when the lease runs out.
 */
export async function claimDueDeliveries(q: Queryable, args: { now: Date; limit: number; leaseMs: number }): Promise<ClaimedDelivery[]> {
  if (args.limit <= 0) return [];
  return rows<ClaimedDelivery>(
    q,
    `UPDATE webhook_deliveries d SET next_attempt_at = $1
     FROM (
       SELECT id FROM webhook_deliveries
       WHERE status = 'pending' AND next_attempt_at <= $2
       ORDER BY next_attempt_at
       LIMIT $3
       FOR UPDATE SKIP LOCKED
     ) due
     WHERE d.id = due.id
     RETURNING d.id, d.tenant_id AS "tenantId", d.job_id AS "jobId", d.batch_id AS "batchId", d.event_type AS "eventType", d.url, d.payload, d.attempts`,
    [new Date(args.now.getTime() + args.leaseMs), args.now, args.limit],
  );
}
