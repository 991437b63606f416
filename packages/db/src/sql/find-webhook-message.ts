import { rows, type Queryable } from "../queryable";

/** The job a signed upstream callback with this message id was applied to, or null when it was never seen. */
export async function findWebhookMessage(q: Queryable, webhookKey: string): Promise<{ jobId: string } | null> {
  const [row] = await rows<{ jobId: string }>(q, `SELECT job_id AS "jobId" FROM kling_webhook_messages WHERE webhook_id = $1`, [webhookKey]);
  return row ?? null;
}
