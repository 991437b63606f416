import { randomUUID } from "node:crypto";
import {
  decideTransition,
  isTerminal,
  type ExtensionCreate,
  type JobEventInput,
  type JobStatus,
  type ListCursor,
  type NoChangeReason,
} from "@kex/core";
import { Prisma, type Db, type DbOrTx } from "./client";
import type { Batch, EventSource, Job } from "./generated/client";
import { recordJobFinished } from "./outbox";
import type { StatusCounts } from "./resources";

/** Statuses whose job holds an account slot upstream (kling-api.md: from `submitted` until finished). */
const SLOT_SQL = Prisma.sql`(status IN ('submitting', 'submitted', 'processing')
  OR (status = 'canceled' AND upstream_status IN ('submitted', 'processing')))`;

/** Serializes slot claims across every worker process (pg advisory lock key; any fixed number). */
const SLOT_LOCK_KEY = 7_391_001;

export interface NewJob {
  input: ExtensionCreate;
  /** Owner; the built-in default tenant when omitted. */
  tenantId?: string;
  batchId?: string;
  /** Default callback when the item names none (a batch's callback_url). */
  callbackUrl?: string;
}

function jobRow(job: NewJob, id: string): Prisma.JobCreateManyInput {
  const { input } = job;
  return {
    id,
    ...(job.tenantId ? { tenantId: job.tenantId } : {}),
    batchId: job.batchId ?? null,
    videoId: input.video_id,
    prompt: input.prompt,
    negativePrompt: input.negative_prompt ?? null,
    cfgScale: input.cfg_scale ?? null,
    callbackUrl: input.callback_url ?? job.callbackUrl ?? null,
    metadata: (input.metadata as Prisma.InputJsonValue | undefined) ?? Prisma.DbNull,
  };
}

/** Inserts one job and its `created` event in one transaction. */
export async function createJob(db: Db, job: NewJob): Promise<Job> {
  const id = randomUUID();
  return db.$transaction(async (tx) => {
    const row = await tx.job.create({ data: jobRow(job, id) as Prisma.JobUncheckedCreateInput });
    await tx.jobEvent.create({ data: { jobId: id, source: "api", type: "created", toStatus: "queued" } });
    return row;
  });
}

/**
 * Inserts a batch and all its jobs in one transaction (all or nothing), with a constant number of
 * round trips whatever the size: one multi-row insert for jobs, one INSERT … SELECT for their events.
 */
export async function createBatch(
  db: Db,
  args: { items: ExtensionCreate[]; callbackUrl?: string; tenantId?: string },
): Promise<{ batch: Batch; jobIds: string[] }> {
  const batchId = randomUUID();
  const jobIds = args.items.map(() => randomUUID());
  const batch = await db.$transaction(
    async (tx) => {
      const created = await tx.batch.create({
        data: { id: batchId, total: args.items.length, callbackUrl: args.callbackUrl ?? null, ...(args.tenantId ? { tenantId: args.tenantId } : {}) },
      });
      await tx.job.createMany({
        data: args.items.map((input, i) =>
          jobRow({ input, batchId, callbackUrl: args.callbackUrl, tenantId: args.tenantId }, jobIds[i]!),
        ),
      });
      await tx.$executeRaw`INSERT INTO job_events (job_id, source, type, to_status)
        SELECT id, 'api', 'created', 'queued' FROM jobs WHERE batch_id = ${batchId}::uuid`;
      return created;
    },
    { timeout: 60_000 },
  );
  return { batch, jobIds };
}

/** The job if it belongs to this tenant; another tenant's job is indistinguishable from a missing one. */
export function getJobForTenant(db: DbOrTx, tenantId: string, id: string): Promise<Job | null> {
  return db.job.findFirst({ where: { id, tenantId } });
}

/** Jobs of this tenant still waiting for submission (its backlog, for fair-share priorities). */
export async function countQueued(db: DbOrTx, tenantId: string): Promise<number> {
  return db.job.count({ where: { tenantId, status: "queued" } });
}

export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string })?.code === "P2002";
}

export function getJob(db: DbOrTx, id: string): Promise<Job | null> {
  return db.job.findUnique({ where: { id } });
}

export function getJobEvents(db: DbOrTx, jobId: string) {
  return db.jobEvent.findMany({ where: { jobId }, orderBy: { id: "asc" } });
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
export async function listJobs(db: DbOrTx, args: ListJobsArgs): Promise<{ jobs: Job[]; next: ListCursor | null }> {
  const where: Prisma.JobWhereInput = {
    ...(args.tenantId ? { tenantId: args.tenantId } : {}),
    ...(args.status ? { status: args.status } : {}),
    ...(args.batchId ? { batchId: args.batchId } : {}),
    ...(args.cursor
      ? {
          OR: [
            { createdAt: { lt: args.cursor.createdAt } },
            { createdAt: args.cursor.createdAt, id: { lt: args.cursor.id } },
          ],
        }
      : {}),
  };
  const rows = await db.job.findMany({
    where,
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: args.limit + 1,
  });
  const jobs = rows.slice(0, args.limit);
  const last = jobs[jobs.length - 1];
  return { jobs, next: rows.length > args.limit && last ? { createdAt: last.createdAt, id: last.id } : null };
}

export function emptyCounts(): StatusCounts {
  return { queued: 0, submitting: 0, submitted: 0, processing: 0, succeeded: 0, failed: 0, canceled: 0 };
}

export async function getBatchWithCounts(
  db: DbOrTx,
  id: string,
  tenantId?: string,
): Promise<{ batch: Batch; counts: StatusCounts } | null> {
  const batch = await db.batch.findFirst({ where: { id, ...(tenantId ? { tenantId } : {}) } });
  if (!batch) return null;
  const groups = await db.job.groupBy({ by: ["status"], where: { batchId: id }, _count: { _all: true } });
  const counts = emptyCounts();
  for (const g of groups) counts[g.status] = g._count._all;
  return { batch, counts };
}

/** How many account slots are held right now, as Postgres sees it. */
export async function countInFlight(db: DbOrTx): Promise<number> {
  const [row] = await db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM jobs WHERE ${SLOT_SQL}`;
  return Number(row?.n ?? 0);
}

export type ClaimOutcome = "claimed" | "no_slot" | "not_queued";

/**
 * Moves a job `queued → submitting` only if an account slot is free (`maxInFlight`, 0 = no cap). The
 * count and the claim run under one advisory lock, so concurrent workers can never exceed the cap; the
 * slot is "freed" simply by the job leaving the slot statuses, so a dead worker cannot leak one.
 */
export async function claimForSubmit(
  db: Db,
  args: { jobId: string; maxInFlight: number; now?: Date },
): Promise<ClaimOutcome> {
  const now = args.now ?? new Date();
  return db.$transaction(async (tx) => {
    let claimed: number;
    if (args.maxInFlight > 0) {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${SLOT_LOCK_KEY})`;
      claimed = await tx.$executeRaw`UPDATE jobs SET status = 'submitting', updated_at = ${now},
          external_task_id = COALESCE(external_task_id, id::text || '-1')
        WHERE id = ${args.jobId}::uuid AND status = 'queued'
          AND (SELECT count(*) FROM jobs WHERE ${SLOT_SQL}) < ${args.maxInFlight}`;
    } else {
      claimed = await tx.$executeRaw`UPDATE jobs SET status = 'submitting', updated_at = ${now},
          external_task_id = COALESCE(external_task_id, id::text || '-1')
        WHERE id = ${args.jobId}::uuid AND status = 'queued'`;
    }
    if (claimed === 1) {
      await tx.jobEvent.create({
        data: { jobId: args.jobId, source: "worker", type: "submit_started", fromStatus: "queued", toStatus: "submitting", at: now },
      });
      return "claimed";
    }
    const job = await tx.job.findUnique({ where: { id: args.jobId }, select: { status: true } });
    return job?.status === "queued" ? "no_slot" : "not_queued";
  });
}

/** Counts one upstream create call on a job that is `submitting`. Null if the job moved on meanwhile. */
export async function recordSubmitAttempt(db: Db, jobId: string, now = new Date()): Promise<Job | null> {
  const { count } = await db.job.updateMany({
    where: { id: jobId, status: "submitting" },
    data: { attempts: { increment: 1 }, updatedAt: now },
  });
  return count === 1 ? getJob(db, jobId) : null;
}

export interface RecordEventArgs {
  jobId: string;
  source: EventSource;
  type: string;
  from?: JobStatus | null;
  to?: JobStatus | null;
  detail?: string | null;
  payload?: unknown;
  at?: Date;
}

export async function recordEvent(db: DbOrTx, e: RecordEventArgs): Promise<void> {
  await db.jobEvent.create({
    data: {
      jobId: e.jobId,
      source: e.source,
      type: e.type,
      fromStatus: e.from ?? null,
      toStatus: e.to ?? null,
      detail: e.detail ?? null,
      payload: e.payload === undefined ? Prisma.DbNull : (e.payload as Prisma.InputJsonValue),
      at: e.at,
    },
  });
}

export type ApplyResult =
  | { outcome: "not_found" }
  /** `followUps`: jobs this change created (the next step of a chain), to enqueue now that it is committed. */
  | { outcome: "changed"; from: JobStatus; to: JobStatus; job: Job; followUps: string[] }
  | { outcome: "unchanged"; reason: NoChangeReason; job: Job };

export interface ApplyEventArgs {
  jobId: string;
  event: JobEventInput;
  source: EventSource;
  /** Raw payload kept in the event log (a callback body, an upstream answer). */
  payload?: unknown;
  detail?: string;
  now?: Date;
  /**
   * Extra columns to write with the change. Called with the row as read and the target status (null
   * when the status does not change: return fields that must still be recorded, e.g. the upstream
   * status of a canceled job, or an empty object).
   */
  patch?: (job: Job, to: JobStatus | null) => Prisma.JobUpdateManyMutationInput;
}

/**
 * Applies one event through the state machine: reads the row, decides, writes the change with a
 * guarded update (`where status = what we read`) and appends to the event log, in one transaction.
 * A concurrent change makes the guard miss; then it reads again and decides again.
 */
export async function applyJobEvent(db: Db, args: ApplyEventArgs): Promise<ApplyResult> {
  const now = args.now ?? new Date();
  for (let round = 0; round < 10; round++) {
    const job = await getJob(db, args.jobId);
    if (!job) return { outcome: "not_found" };
    const decision = decideTransition(job.status, args.event);
    const to = decision.change ? decision.to : null;
    const data: Prisma.JobUpdateManyMutationInput = { ...(args.patch?.(job, to) ?? {}) };
    if (to) {
      data.status = to;
      if (isTerminal(to) && !job.finishedAt) data.finishedAt = now;
    }
    const writes = Object.keys(data).length > 0;
    if (writes) data.updatedAt = now;
    let followUps: string[] = [];
    const applied = await db.$transaction(async (tx) => {
      if (writes) {
        const { count } = await tx.job.updateMany({ where: { id: job.id, status: job.status }, data });
        if (count === 0) return false;
        if (to && isTerminal(to)) followUps = await recordJobFinished(tx, job.id, to, now);
      }
      await recordEvent(tx, {
        jobId: job.id,
        source: args.source,
        type: args.event.type === "upstream_status" ? `upstream_${args.event.status}` : args.event.type,
        from: job.status,
        to,
        detail: decision.change ? args.detail : (args.detail ? `${decision.reason}: ${args.detail}` : decision.reason),
        payload: args.payload,
        at: now,
      });
      return true;
    });
    if (!applied) continue;
    const fresh = writes ? ((await getJob(db, job.id)) ?? job) : job;
    return decision.change
      ? { outcome: "changed", from: job.status, to: decision.to, job: fresh, followUps }
      : { outcome: "unchanged", reason: decision.reason, job: fresh };
  }
  throw new Error(`job ${args.jobId}: state kept changing under us; giving up after 10 rounds`);
}

/** Ids of jobs that should be in the submit queue: `queued`, or `submitting` (a submit may have died). */
export async function findJobsToEnqueue(db: DbOrTx, args: { limit: number; olderThan: Date; afterId?: string }) {
  return db.job.findMany({
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

/**
 * Jobs whose upstream task should have told us something by now: in `submitted`/`processing` (or
 * canceled while upstream still runs the task, which still holds a slot), unchanged and unpolled for
 * `staleFor`. Least recently looked at first, so polling rotates through them.
 */
export async function findJobsToReconcile(db: DbOrTx, args: { staleBefore: Date; limit: number }) {
  return db.$queryRaw<Array<{ id: string; upstream_task_id: string; status: JobStatus }>>`
    SELECT id, upstream_task_id, status FROM jobs
    WHERE upstream_task_id IS NOT NULL
      AND (status IN ('submitted', 'processing') OR (status = 'canceled' AND upstream_status IN ('submitted', 'processing')))
      AND updated_at < ${args.staleBefore}
      AND (polled_at IS NULL OR polled_at < ${args.staleBefore})
    ORDER BY COALESCE(polled_at, updated_at) ASC
    LIMIT ${args.limit}`;
}

export async function markPolled(db: DbOrTx, jobId: string, now: Date): Promise<void> {
  await db.job.updateMany({ where: { id: jobId }, data: { polledAt: now } });
}

/** Jobs upstream accepted before `submittedBefore` that still have no final answer. */
export function findOverdueJobs(db: DbOrTx, args: { submittedBefore: Date; limit: number }) {
  return db.job.findMany({
    where: { status: { in: ["submitted", "processing"] }, submittedAt: { lt: args.submittedBefore } },
    orderBy: { submittedAt: "asc" },
    take: args.limit,
    select: { id: true },
  });
}
