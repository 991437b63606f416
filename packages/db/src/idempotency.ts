import { Prisma, type Db } from "./client";
import type { IdempotencyKey } from "./generated/client";

/** Prisma's error for an insert that hit a unique constraint. */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string })?.code === "P2002";
}

export type IdempotencyClaim = { kind: "claimed" } | { kind: "existing"; row: IdempotencyKey };

/**
 * Claims a key for a request (a `pending` row); if the tenant already used it, returns that row.
 * An expired row, or a `pending` one older than `abandonAfterMs` (its request died), is taken over.
 */
export async function claimIdempotencyKey(
  db: Db,
  args: { tenantId: string; key: string; requestHash: string; ttlMs: number; abandonAfterMs: number; now?: Date },
): Promise<IdempotencyClaim> {
  const now = args.now ?? new Date();
  const data = { tenantId: args.tenantId, key: args.key, requestHash: args.requestHash, status: "pending", createdAt: now, expiresAt: new Date(now.getTime() + args.ttlMs) };
  for (let round = 0; round < 3; round++) {
    try {
      await db.prisma.idempotencyKey.create({ data });
      return { kind: "claimed" };
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
    const row = await db.prisma.idempotencyKey.findUnique({ where: { tenantId_key: { tenantId: args.tenantId, key: args.key } } });
    if (!row) continue;
    const abandoned = row.status === "pending" && row.createdAt.getTime() < now.getTime() - args.abandonAfterMs;
    if (row.expiresAt > now && !abandoned) return { kind: "existing", row };
    // Take over: only if it is still the row we saw.
    const { count } = await db.prisma.idempotencyKey.updateMany({
      where: { tenantId: args.tenantId, key: args.key, createdAt: row.createdAt },
      data: { ...data, responseStatus: null, responseBody: Prisma.DbNull },
    });
    if (count === 1) return { kind: "claimed" };
  }
  throw new Error(`idempotency key ${args.key}: contended; giving up`);
}

export async function completeIdempotencyKey(db: Db, args: { tenantId: string; key: string; status: number; body: unknown }): Promise<void> {
  await db.prisma.idempotencyKey.updateMany({
    where: { tenantId: args.tenantId, key: args.key, status: "pending" },
    data: { status: "done", responseStatus: args.status, responseBody: args.body as Prisma.InputJsonValue },
  });
}

/** Forgets a claim whose request failed on our side (5xx), so the client's retry runs again. */
export async function releaseIdempotencyKey(db: Db, args: { tenantId: string; key: string }): Promise<void> {
  await db.prisma.idempotencyKey.deleteMany({ where: { tenantId: args.tenantId, key: args.key, status: "pending" } });
}

export async function purgeExpiredIdempotencyKeys(db: Db, now = new Date()): Promise<number> {
  const { count } = await db.prisma.idempotencyKey.deleteMany({ where: { expiresAt: { lt: now } } });
  return count;
}
