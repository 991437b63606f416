import { rows, type Queryable } from "../queryable";

export interface DeliveryAttemptRow {
  deliveryId: string;
  /** The attempt's number, which is also the delivery's new attempt count. */
  attempt: number;
  /** The delivery's status after this attempt. */
  status: string;
  /** When the next attempt is due; null keeps the stored time. */
  nextAttemptAt: Date | null;
  /** When it was delivered; null keeps the stored value. */
  deliveredAt: Date | null;
  /** The delivery's last error: a value (null clears it) or undefined to keep it. */
  lastError?: string | null;
  /** The attempt itself. */
  at: Date;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
}

/** Moves a delivery on and logs the attempt, in one statement. */
export async function recordDeliveryAttemptRow(q: Queryable, a: DeliveryAttemptRow): Promise<void> {
  await rows(
    q,
    `WITH upd AS (
       UPDATE webhook_deliveries SET attempts = $2, status = $3,
         next_attempt_at = COALESCE($4, next_attempt_at),
         delivered_at = COALESCE($5, delivered_at),
         last_error = CASE WHEN $6::boolean THEN $7 ELSE last_error END
       WHERE id = $1::uuid RETURNING id
     )
     INSERT INTO webhook_attempts (delivery_id, at, attempt, status_code, latency_ms, error)
     SELECT id, $8, $2, $9, $10, $11 FROM upd`,
    [a.deliveryId, a.attempt, a.status, a.nextAttemptAt, a.deliveredAt, a.lastError !== undefined, a.lastError ?? null, a.at, a.statusCode, a.latencyMs, a.error],
  );
}
