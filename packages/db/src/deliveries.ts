import type { DeliveryStatus } from "@kex/contract";
import type { Db } from "./client";
import type { WebhookAttempt, WebhookDelivery } from "./generated/client";
import { lockDelivery } from "./sql/lock-delivery";
import { recordDeliveryAttemptRow } from "./sql/record-delivery-attempt";

/**
 * Outbound webhook deliveries: Postgres is their queue. Rows are written (`sql/insert-deliveries.ts`)
 * in the transaction that finished the job; the worker's dispatcher claims due rows,
 * sends them and records every attempt here. Nothing about them lives in Redis.
 */

/** Longest error text kept per attempt (and in `last_error`). */
export const DELIVERY_ERROR_MAX_CHARS = 500;

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
  return db.transaction(async (tx) => {
    const row = await lockDelivery(tx, deliveryId);
    if (!row) return null;
    const attempt = row.attempts + 1;
    const logged = { deliveryId, attempt, at: result.startedAt, statusCode: result.statusCode, latencyMs: Math.max(0, Math.round(result.latencyMs)), error };
    let outcome: RecordedAttempt;
    if (result.ok) {
      outcome = { attempt, status: "delivered", nextAttemptAt: null };
      await recordDeliveryAttemptRow(tx, { ...logged, status: "delivered", nextAttemptAt: null, deliveredAt: now, lastError: null });
    } else if (row.status === "delivered") {
      outcome = { attempt, status: "delivered", nextAttemptAt: null };
      await recordDeliveryAttemptRow(tx, { ...logged, status: "delivered", nextAttemptAt: null, deliveredAt: null });
    } else if (attempt < retryScheduleMs.length) {
      const scheduled = new Date(now.getTime() + retryScheduleMs[attempt]!);
      // Claiming pushed next_attempt_at past now (the lease): a time at or before now means a redelivery asked for it meanwhile.
      const rearmed = row.status === "pending" && row.nextAttemptAt.getTime() <= now.getTime();
      const nextAttemptAt = rearmed && row.nextAttemptAt < scheduled ? row.nextAttemptAt : scheduled;
      outcome = { attempt, status: "pending", nextAttemptAt };
      await recordDeliveryAttemptRow(tx, { ...logged, status: "pending", nextAttemptAt, deliveredAt: null, lastError: error });
    } else {
      outcome = { attempt, status: "failed", nextAttemptAt: null };
      await recordDeliveryAttemptRow(tx, { ...logged, status: "failed", nextAttemptAt: null, deliveredAt: null, lastError: error });
    }
    return outcome;
  });
}

export type DeliveryWithAttempts = WebhookDelivery & { attemptLog: WebhookAttempt[] };

const withAttempts = { attemptLog: { orderBy: { id: "asc" as const } } };

/** A job's deliveries (its `extension.*` events), oldest first, each with its attempts. */
export function listJobDeliveries(db: Db, tenantId: string, jobId: string): Promise<DeliveryWithAttempts[]> {
  return db.prisma.webhookDelivery.findMany({ where: { tenantId, jobId }, include: withAttempts, orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
}

/** A batch's own deliveries (`batch.completed`); its jobs' events are listed per job. */
export function listBatchDeliveries(db: Db, tenantId: string, batchId: string): Promise<DeliveryWithAttempts[]> {
  return db.prisma.webhookDelivery.findMany({ where: { tenantId, batchId, jobId: null }, include: withAttempts, orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
}

export function getDeliveryForTenant(db: Db, tenantId: string, id: string): Promise<DeliveryWithAttempts | null> {
  return db.prisma.webhookDelivery.findFirst({ where: { id, tenantId }, include: withAttempts });
}

/**
 * Re-arms a delivery of this tenant, whatever its status: `pending`, due now. Its attempt history
 * and count stay; if the new attempt fails, retries continue from where the schedule stood (none
 * when it was used up). Null if the tenant has no such delivery.
 */
export async function redeliverDelivery(db: Db, tenantId: string, id: string, now = new Date()): Promise<DeliveryWithAttempts | null> {
  const { count } = await db.prisma.webhookDelivery.updateMany({ where: { id, tenantId }, data: { status: "pending", nextAttemptAt: now } });
  return count === 1 ? getDeliveryForTenant(db, tenantId, id) : null;
}
