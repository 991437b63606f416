import { randomUUID } from "node:crypto";
import { rows, type Queryable } from "../queryable";

/** One outbound webhook to send (an outbox row). */
export interface NewDelivery {
  tenantId: string;
  jobId: string | null;
  batchId: string | null;
  eventType: string;
  /** One delivery per key, ever: a second insert with the same key is ignored. */
  dedupeKey: string;
  url: string;
  /** The event `{type, timestamp, data}`, sent as the body on every attempt. */
  payload: unknown;
}

const INSERT_DELIVERIES = `INSERT INTO webhook_deliveries (id, tenant_id, job_id, batch_id, event_type, dedupe_key, url, payload, next_attempt_at)
  SELECT d.id, d.tenant_id, d.job_id, d.batch_id, d.event_type, d.dedupe_key, d.url, d.payload::jsonb, $9
  FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[])
    AS d(id, tenant_id, job_id, batch_id, event_type, dedupe_key, url, payload)
  ON CONFLICT (dedupe_key) DO NOTHING`;

/**
 * Queues outbound webhooks, due at `now`, in one statement. Called in the transaction that made them
 * necessary: writing them with the state change is what makes delivery lossless (transactional outbox).
 */
export async function insertDeliveries(q: Queryable, deliveries: readonly NewDelivery[], now: Date): Promise<void> {
  if (deliveries.length === 0) return;
  await rows(q, INSERT_DELIVERIES, [
    deliveries.map(() => randomUUID()),
    deliveries.map((d) => d.tenantId),
    deliveries.map((d) => d.jobId),
    deliveries.map((d) => d.batchId),
    deliveries.map((d) => d.eventType),
    deliveries.map((d) => d.dedupeKey),
    deliveries.map((d) => d.url),
    deliveries.map((d) => JSON.stringify(d.payload)),
    now,
  ]);
}
