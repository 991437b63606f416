import { rows, type Queryable } from "../queryable";

/** Inside the caller's transaction: a delivery's attempt count and schedule, locked until the transaction ends. Null if it does not exist. */
export async function lockDelivery(tx: Queryable, deliveryId: string): Promise<{ attempts: number; status: string; nextAttemptAt: Date } | null> {
  const [row] = await rows<{ attempts: number; status: string; nextAttemptAt: Date }>(
    tx,
    `SELECT attempts, status, next_attempt_at AS "nextAttemptAt" FROM webhook_deliveries WHERE id = $1::uuid FOR UPDATE`,
    [deliveryId],
  );
  return row ?? null;
}
