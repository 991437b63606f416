import { rows, type Queryable } from "../queryable";

/**
 * Remembers that a signed upstream callback was applied, so a second delivery of it is dropped. False when it
 * was already there (two deliveries of one message raced: the state machine made the second change nothing).
 */
export async function recordWebhookMessage(q: Queryable, args: { webhookKey: string; jobId: string; now: Date }): Promise<boolean> {
  const inserted = await rows<{ webhook_id: string }>(
    q,
    `INSERT INTO kling_webhook_messages (webhook_id, job_id, received_at) VALUES ($1, $2, $3) ON CONFLICT (webhook_id) DO NOTHING RETURNING webhook_id`,
    [args.webhookKey, args.jobId, args.now],
  );
  return inserted.length > 0;
}
