import { toBatchResource, type BatchResource } from "@kex/contract";
import type { ListCursor } from "@kex/core";
import type { Db } from "./client";
import { emptyCounts } from "./status-counts";

/**
 * Newest batches first with their per-status counts, keyset-paginated on (created_at, id) like `listJobs`.
 * `tenantId`: only that tenant's batches (the public API); none = every tenant's (the status pages).
 */
export async function listBatchesWithCounts(
  db: Db,
  args: { limit: number; cursor?: ListCursor; tenantId?: string },
): Promise<{ batches: BatchResource[]; next: ListCursor | null }> {
  const rows = await db.prisma.batch.findMany({
    where: {
      ...(args.tenantId ? { tenantId: args.tenantId } : {}),
      ...(args.cursor
        ? {
            OR: [{ createdAt: { lt: args.cursor.createdAt } }, { createdAt: args.cursor.createdAt, id: { lt: args.cursor.id } }],
          }
        : {}),
    },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: args.limit + 1,
  });
  const page = rows.slice(0, args.limit);
  const counts = new Map(page.map((b) => [b.id, emptyCounts()]));
  if (page.length > 0) {
    // One grouped count for the whole page (index jobs(batch_id, status)), not one query per batch.
    const groups = await db.prisma.job.groupBy({
      by: ["batchId", "status"],
      where: { batchId: { in: page.map((b) => b.id) } },
      _count: { _all: true },
    });
    for (const g of groups) {
      const c = g.batchId ? counts.get(g.batchId) : undefined;
      if (c) c[g.status] = g._count._all;
    }
  }
  const last = page[page.length - 1];
  return {
    batches: page.map((b) => toBatchResource(b, counts.get(b.id)!)),
    next: rows.length > args.limit && last ? { createdAt: last.createdAt, id: last.id } : null,
  };
}
