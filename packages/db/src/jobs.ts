import type { JobStatus, ListCursor } from "@kex/core";
import type { Db, Prisma } from "./client";
import type { Batch } from "./generated/client";
import type { StatusCounts } from "@kex/contract";
import { emptyCounts } from "./status-counts";

/** Jobs of this tenant still waiting for submission (its backlog, for fair-share priorities). */
export async function countQueued(db: Db, tenantId: string): Promise<number> {
  return db.prisma.job.count({ where: { tenantId, status: "queued" } });
}

export function getJobEvents(db: Db, jobId: string) {
  return db.prisma.jobEvent.findMany({ where: { jobId }, orderBy: { id: "asc" } });
}

export interface ListJobsArgs {
  /** Only this tenant's jobs (omit for all: operators' views). */
  tenantId?: string;
  status?: JobStatus;
  batchId?: string;
  limit: number;
  cursor?: ListCursor;
}

/** Newest first, keyset pagination on (created_at, id): no duplicates or gaps while rows are added. */
export async function listJobs(db: Db, args: ListJobsArgs) {
  const where: Prisma.JobWhereInput = {
    ...(args.tenantId ? { tenantId: args.tenantId } : {}),
    ...(args.status ? { status: args.status } : {}),
    ...(args.batchId ? { batchId: args.batchId } : {}),
    ...(args.cursor
      ? {
          OR: [{ createdAt: { lt: args.cursor.createdAt } }, { createdAt: args.cursor.createdAt, id: { lt: args.cursor.id } }],
        }
      : {}),
  };
  const rows = await db.prisma.job.findMany({
    where,
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: args.limit + 1,
  });
  const jobs = rows.slice(0, args.limit);
  const last = jobs[jobs.length - 1];
  const next: ListCursor | null = rows.length > args.limit && last ? { createdAt: last.createdAt, id: last.id } : null;
  return { jobs, next };
}

export async function getBatchWithCounts(db: Db, id: string, tenantId?: string): Promise<{ batch: Batch; counts: StatusCounts } | null> {
  const batch = await db.prisma.batch.findFirst({ where: { id, ...(tenantId ? { tenantId } : {}) } });
  if (!batch) return null;
  const groups = await db.prisma.job.groupBy({ by: ["status"], where: { batchId: id }, _count: { _all: true } });
  const counts = emptyCounts();
  for (const g of groups) counts[g.status] = g._count._all;
  return { batch, counts };
}

/** Ids of jobs that should be in the submit queue: `queued`, or `submitting` (a submit may have died). */
export async function findJobsToEnqueue(db: Db, args: { limit: number; olderThan: Date; afterId?: string }) {
  return db.prisma.job.findMany({
    where: {
      status: { in: ["queued", "submitting"] },
      updatedAt: { lt: args.olderThan },
      ...(args.afterId ? { id: { gt: args.afterId } } : {}),
    },
    orderBy: { id: "asc" },
    take: args.limit,
    select: { id: true, status: true, tenantId: true, createdAt: true },
  });
}

export async function markPolled(db: Db, jobId: string, now: Date): Promise<void> {
  await db.prisma.job.updateMany({ where: { id: jobId }, data: { polledAt: now } });
}

/** Jobs upstream accepted before `submittedBefore` that still have no final answer. */
export function findOverdueJobs(db: Db, args: { submittedBefore: Date; limit: number }) {
  return db.prisma.job.findMany({
    where: { status: { in: ["submitted", "processing"] }, submittedAt: { lt: args.submittedBefore } },
    orderBy: { submittedAt: "asc" },
    take: args.limit,
    select: { id: true },
  });
}
