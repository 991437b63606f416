import type { DeliveryStatus } from "@kex/contract";
import type { Db, DbOrTx } from "./client";
import type { WebhookAttempt, WebhookDelivery } from "./generated/client";

/**
 * Outbound webhook deliveries: Postgres is their queue. Rows are written by the outbox
 * (`outbox.ts`) in the transaction that finished the job; the worker's dispatcher claims due rows,
 * sends them and records every attempt here. Nothing about them lives in Redis.
 */

/** Longest error text kept per attempt (and in `last_error`). */
export const DELIVERY_ERROR_MAX_CHARS = 500;

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
export async function claimDueDeliveries(db: DbOrTx, args: { now: Date; limit: number; leaseMs: number }): Promise<ClaimedDelivery[]> {
  if (args.limit <= 0) return [];
  const leaseUntil = new Date(args.now.getTime() + args.leaseMs);
  const rows = await db.$queryRaw<
    Array<{ id: string; tenant_id: string; job_id: string | null; batch_id: string | null; event_type: string; url: string; payload: unknown; attempts: number }>
  >`
    UPDATE webhook_deliveries d SET next_attempt_at = ${leaseUntil}
    FROM (
      SELECT id FROM webhook_deliveries
      WHERE status = 'pending' AND next_attempt_at <= ${args.now}
      ORDER BY next_attempt_at
      LIMIT ${args.limit}
      FOR UPDATE SKIP LOCKED
    ) due
    WHERE d.id = due.id
    RETURNING d.id, d.tenant_id, d.job_id, d.batch_id, d.event_type, d.url, d.payload, d.attempts`;
  return rows.map((r) => ({
    id: r.id,
    tenantId: r.tenant_id,
    jobId: r.job_id,
    batchId: r.batch_id,
    eventType: r.event_type,
    url: r.url,
    payload: r.payload,
    attempts: Number(r.attempts),
  }));
}

export interface DeliveryAttemptResult {
  /** A 2xx came back. */
  ok: boolean;
  /** The response's status, null when there was none (timeout, refused, blocked destination). */
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  /** When the attempt started (the attempt row's `at`). */
  startedAt: Date;
}

export interface RecordedAttempt {
  attempt: number;
  status: DeliveryStatus;
  /** When the next attempt is due; null once delivered or failed. */
  nextAttemptAt: Date | null;
}

function truncate(text: string | null): string | null {
  if (text === null) return null;
  return text.length > DELIVERY_ERROR_MAX_CHARS ? `${text.slice(0, DELIVERY_ERROR_MAX_CHARS - 1)}…` : text;
}

/**
 * Records one attempt and moves the delivery on: `delivered` on success; after a failure, `pending`
 * again at `now + retryScheduleMs[attempts made]`, or `failed` when the schedule is used up
 * (`retryScheduleMs[0]` is the delay of the first attempt, so the schedule's length is the number of
 * attempts). The row is locked while this runs. A failure never undoes a `delivered` written by a
 * concurrent send, and a redelivery requested while this attempt was in flight keeps its earlier time.
 * Null if the delivery no longer exists.
 */
export async function recordDeliveryAttempt(
  db: Db,
  args: { deliveryId: string; result: DeliveryAttemptResult; retryScheduleMs: readonly number[]; now: Date },
): Promise<RecordedAttempt | null> {
  const { deliveryId, result, retryScheduleMs, now } = args;
  const error = truncate(result.error);
  return db.$transaction(async (tx) => {
    const [row] = await tx.$queryRaw<Array<{ attempts: number; status: string; next_attempt_at: Date }>>`
      SELECT attempts, status, next_attempt_at FROM webhook_deliveries WHERE id = ${deliveryId}::uuid FOR UPDATE`;
    if (!row) return null;
    const attempt = Number(row.attempts) + 1;
    let outcome: RecordedAttempt;
    if (result.ok) {
      outcome = { attempt, status: "delivered", nextAttemptAt: null };
      await tx.webhookDelivery.update({ where: { id: deliveryId }, data: { attempts: attempt, status: "delivered", deliveredAt: now, lastError: null } });
    } else if (row.status === "delivered") {
      outcome = { attempt, status: "delivered", nextAttemptAt: null };
      await tx.webhookDelivery.update({ where: { id: deliveryId }, data: { attempts: attempt } });
    } else if (attempt < retryScheduleMs.length) {
      const scheduled = new Date(now.getTime() + retryScheduleMs[attempt]!);
      // Claiming pushed next_attempt_at past now (the lease): a time at or before now means a redelivery asked for it meanwhile.
      const rearmed = row.status === "pending" && row.next_attempt_at.getTime() <= now.getTime();
      const nextAttemptAt = rearmed && row.next_attempt_at < scheduled ? row.next_attempt_at : scheduled;
      outcome = { attempt, status: "pending", nextAttemptAt };
      await tx.webhookDelivery.update({ where: { id: deliveryId }, data: { attempts: attempt, status: "pending", nextAttemptAt, lastError: error } });
    } else {
      outcome = { attempt, status: "failed", nextAttemptAt: null };
      await tx.webhookDelivery.update({ where: { id: deliveryId }, data: { attempts: attempt, status: "failed", lastError: error } });
    }
    await tx.webhookAttempt.create({
      data: { deliveryId, at: result.startedAt, attempt, statusCode: result.statusCode, latencyMs: Math.max(0, Math.round(result.latencyMs)), error },
    });
    return outcome;
  });
}

export type DeliveryWithAttempts = WebhookDelivery & { attemptLog: WebhookAttempt[] };

const withAttempts = { attemptLog: { orderBy: { id: "asc" as const } } };

/** A job's deliveries (its `extension.*` events), oldest first, each with its attempts. */
export function listJobDeliveries(db: DbOrTx, tenantId: string, jobId: string): Promise<DeliveryWithAttempts[]> {
  return db.webhookDelivery.findMany({ where: { tenantId, jobId }, include: withAttempts, orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
}

/** A batch's own deliveries (`batch.completed`); its jobs' events are listed per job. */
export function listBatchDeliveries(db: DbOrTx, tenantId: string, batchId: string): Promise<DeliveryWithAttempts[]> {
  return db.webhookDelivery.findMany({ where: { tenantId, batchId, jobId: null }, include: withAttempts, orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
}

export function getDeliveryForTenant(db: DbOrTx, tenantId: string, id: string): Promise<DeliveryWithAttempts | null> {
  return db.webhookDelivery.findFirst({ where: { id, tenantId }, include: withAttempts });
}

/**
 * Re-arms a delivery of this tenant, whatever its status: `pending`, due now. Its attempt history
 * and count stay; if the new attempt fails, retries continue from where the schedule stood (none
 * when it was used up). Null if the tenant has no such delivery.
 */
export async function redeliverDelivery(db: DbOrTx, tenantId: string, id: string, now = new Date()): Promise<DeliveryWithAttempts | null> {
  const { count } = await db.webhookDelivery.updateMany({ where: { id, tenantId }, data: { status: "pending", nextAttemptAt: now } });
  return count === 1 ? getDeliveryForTenant(db, tenantId, id) : null;
}
