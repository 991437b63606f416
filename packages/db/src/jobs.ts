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
import { batchCallbackUrl, recordFinishedJobSql, recordJobFinished } from "./outbox";
import { DEFAULT_TENANT_ID } from "./tenants";
import { inTransaction, JOB_SELECT, poolOf, prepared, queryRows, requirePool, setClause, sqlOfClient, type Sql } from "./sql";
import type { StatusCounts } from "./resources";

/** Statuses whose job holds an account slot upstream (docs/upstream-api.md#the-parallel-task-limit: from `submitted` until finished). */
const SLOT_CONDITION = `(status IN ('submitting', 'submitted', 'processing')
  OR (status = 'canceled' AND upstream_status IN ('submitted', 'processing')))`;
const SLOT_SQL = Prisma.raw(SLOT_CONDITION);

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
 * Inserts a batch and all its jobs in one transaction (all or nothing), in three statements whatever
 * the size: the batch, the jobs from column arrays (`INSERT … SELECT FROM unnest(…)`), their events.
 * Plain pg: Prisma's `createMany` of 10,000 rows costs about 3 s of CPU, this about 0.06 s.
 * `jobIds` lets the caller know (and enqueue) the ids before the insert commits.
 */
export async function createBatch(
  db: Db,
  args: { items: ExtensionCreate[]; callbackUrl?: string; tenantId?: string; jobIds?: string[] },
): Promise<{ batch: Batch; jobIds: string[] }> {
  const batchId = randomUUID();
  const jobIds = args.jobIds ?? args.items.map(() => randomUUID());
  if (jobIds.length !== args.items.length) throw new Error("createBatch: one job id per item");
  const columns = {
    video: [] as string[],
    prompt: [] as string[],
    negative: [] as Array<string | null>,
    cfg: [] as Array<number | null>,
    callback: [] as Array<string | null>,
    metadata: [] as Array<string | null>,
  };
  for (const item of args.items) {
    columns.video.push(item.video_id);
    columns.prompt.push(item.prompt);
    columns.negative.push(item.negative_prompt ?? null);
    columns.cfg.push(item.cfg_scale ?? null);
    columns.callback.push(item.callback_url ?? args.callbackUrl ?? null);
    columns.metadata.push(item.metadata === undefined ? null : JSON.stringify(item.metadata));
  }
  return inTransaction(db, async (client) => {
    const { rows } = await client.query<Batch>(
      `INSERT INTO batches (id, tenant_id, total, callback_url) VALUES ($1, $2, $3, $4)
       RETURNING id, tenant_id AS "tenantId", total, callback_url AS "callbackUrl", created_at AS "createdAt"`,
      [batchId, args.tenantId ?? DEFAULT_TENANT_ID, args.items.length, args.callbackUrl ?? null],
    );
    const batch = rows[0]!;
    await client.query(
      `INSERT INTO jobs (id, tenant_id, batch_id, video_id, prompt, negative_prompt, cfg_scale, callback_url, metadata)
       SELECT j.id, $2, $3, j.video_id, j.prompt, j.negative_prompt, j.cfg_scale, j.callback_url, j.metadata::jsonb
       FROM unnest($1::uuid[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::text[], $9::text[])
         AS j(id, video_id, prompt, negative_prompt, cfg_scale, callback_url, metadata)`,
      [jobIds, batch.tenantId, batchId, columns.video, columns.prompt, columns.negative, columns.cfg, columns.callback, columns.metadata],
    );
    await client.query(`INSERT INTO job_events (job_id, source, type, to_status) SELECT unnest($1::uuid[]), 'api', 'created', 'queued'`, [
      jobIds,
    ]);
    return { batch, jobIds };
  });
}

/** The job if it belongs to this tenant; another tenant's job is indistinguishable from a missing one. */
export async function getJobForTenant(db: DbOrTx, tenantId: string, id: string): Promise<Job | null> {
  const pool = poolOf(db);
  if (!pool) return db.job.findFirst({ where: { id, tenantId } });
  const { rows } = await pool.query<Job>(prepared(`SELECT ${JOB_SELECT} FROM jobs WHERE id = $1 AND tenant_id = $2`, [id, tenantId]));
  return rows[0] ?? null;
}

/** Jobs of this tenant still waiting for submission (its backlog, for fair-share priorities). */
export async function countQueued(db: DbOrTx, tenantId: string): Promise<number> {
  return db.job.count({ where: { tenantId, status: "queued" } });
}

export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string })?.code === "P2002";
}

export async function getJob(db: DbOrTx, id: string): Promise<Job | null> {
  const pool = poolOf(db);
  if (!pool) return db.job.findUnique({ where: { id } });
  const { rows } = await pool.query<Job>(prepared(`SELECT ${JOB_SELECT} FROM jobs WHERE id = $1`, [id]));
  return rows[0] ?? null;
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
          OR: [{ createdAt: { lt: args.cursor.createdAt } }, { createdAt: args.cursor.createdAt, id: { lt: args.cursor.id } }],
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
export async function claimForSubmit(db: Db, args: { jobId: string; maxInFlight: number; now?: Date }): Promise<ClaimOutcome> {
  const outcomes = await claimManyForSubmit(db, { jobIds: [args.jobId], maxInFlight: args.maxInFlight, now: args.now });
  return outcomes.get(args.jobId) ?? "not_queued";
}

/**
 * `claimForSubmit` for many jobs in one transaction: one lock, one count, one update. Jobs get the
 * free slots in the order given; the rest answer `no_slot` (still queued) or `not_queued`. A worker
 * coalesces its concurrent claims into this (apps/worker ClaimBatcher), so a claim costs a share of
 * one lock and one commit instead of one each.
 */
export async function claimManyForSubmit(
  db: Db,
  args: { jobIds: readonly string[]; maxInFlight: number; now?: Date },
): Promise<Map<string, ClaimOutcome>> {
  const now = args.now ?? new Date();
  const ids = [...new Set(args.jobIds)];
  const rows = await inTransaction(db, async (client) => {
    let free: number | null = null;
    if (args.maxInFlight > 0) {
      await client.query(prepared(`SELECT pg_advisory_xact_lock($1)`, [SLOT_LOCK_KEY]));
      const { rows: used } = await client.query<{ n: number }>(prepared(`SELECT count(*)::int AS n FROM jobs WHERE ${SLOT_CONDITION}`, []));
      free = Math.max(0, args.maxInFlight - (used[0]?.n ?? 0));
    }
    const { rows: result } = await client.query<{ id: string; claimed: boolean; status: string | null }>(
      prepared(
        `WITH cand AS (
         SELECT w.id FROM unnest($1::uuid[]) WITH ORDINALITY AS w(id, ord)
         JOIN jobs j ON j.id = w.id AND j.status = 'queued'
         ORDER BY w.ord LIMIT $3
       ), upd AS (
         UPDATE jobs SET status = 'submitting', updated_at = $2, external_task_id = COALESCE(external_task_id, jobs.id::text || '-1')
         FROM cand WHERE jobs.id = cand.id AND jobs.status = 'queued'
         RETURNING jobs.id
       ), ev AS (
         INSERT INTO job_events (job_id, source, type, from_status, to_status, at)
         SELECT id, 'worker', 'submit_started', 'queued', 'submitting', $2 FROM upd
       )
       SELECT w.id::text AS id, (u.id IS NOT NULL) AS claimed, j.status::text AS status
       FROM unnest($1::uuid[]) AS w(id) LEFT JOIN upd u ON u.id = w.id LEFT JOIN jobs j ON j.id = w.id`,
        [ids, now, free],
      ),
    );
    return result;
  });
  return new Map(rows.map((r) => [r.id, r.claimed ? "claimed" : r.status === "queued" ? "no_slot" : "not_queued"]));
}

/** Counts one upstream create call on a job that is `submitting`. Null if the job moved on meanwhile. */
export async function recordSubmitAttempt(db: Db, jobId: string, now = new Date()): Promise<Job | null> {
  const [row] = await queryRows<Job>(
    db,
    `UPDATE jobs SET attempts = attempts + 1, updated_at = $2 WHERE id = $1 AND status = 'submitting' RETURNING ${JOB_SELECT}`,
    [jobId, now],
  );
  return row ?? null;
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

const EVENT_INSERT = `INSERT INTO job_events (job_id, source, type, from_status, to_status, detail, payload, at)
  VALUES ($1, $2::event_source, $3, $4::job_status, $5::job_status, $6, $7::jsonb, $8)`;

function eventValues(e: RecordEventArgs): unknown[] {
  return [
    e.jobId,
    e.source,
    e.type,
    e.from ?? null,
    e.to ?? null,
    e.detail ?? null,
    e.payload === undefined ? null : JSON.stringify(e.payload),
    e.at ?? new Date(),
  ];
}

export async function recordEvent(db: DbOrTx, e: RecordEventArgs): Promise<void> {
  const pool = poolOf(db);
  if (pool) {
    await pool.query(prepared(EVENT_INSERT, eventValues(e)));
    return;
  }
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
  /** The row as the caller just read it, to save the first read (it is re-read if it changed meanwhile). */
  current?: Job;
}

/**
 * The guarded update and its event in one statement (one round trip, atomic, no transaction held
 * open across event-loop turns), returning the row as written; none when the guard missed.
 */
async function updateWithEvent(sql: Sql, job: Job, data: Record<string, unknown>, event: RecordEventArgs): Promise<Job | null> {
  const set = setClause(data, 3);
  const e = eventValues(event).slice(1);
  const first = 3 + set.values.length;
  const text = `WITH upd AS (
      UPDATE jobs SET ${set.sql} WHERE id = $1 AND status = $2::job_status RETURNING ${JOB_SELECT}
    ), ev AS (
      INSERT INTO job_events (job_id, source, type, from_status, to_status, detail, payload, at)
      SELECT id, $${first}::event_source, $${first + 1}, $${first + 2}::job_status, $${first + 3}::job_status, $${first + 4}, $${first + 5}::jsonb, $${first + 6} FROM upd
    )
    SELECT * FROM upd`;
  const [row] = await sql<Job>(text, [job.id, job.status, ...set.values, ...e]);
  return row ?? null;
}

/** Whether a job reaching a final status queues an outbound webhook (its own, or its batch's). */
async function needsOutbox(db: Db, job: Job): Promise<boolean> {
  return Boolean(job.callbackUrl) || (job.batchId !== null && (await batchCallbackUrl(db, job.batchId)) !== null);
}

/**
 * Applies one event through the state machine: reads the row, decides, writes the change with a
 * guarded update (`where status = what we read`) and appends to the event log, atomically.
 * A concurrent change makes the guard miss; then it reads again and decides again.
 *
 * Changes that do not finish the job (most callbacks) are one statement on plain pg; a change to a
 * final status also writes the outbox and may start a chain's next step, in one Prisma transaction.
 */
export async function applyJobEvent(db: Db, args: ApplyEventArgs): Promise<ApplyResult> {
  const now = args.now ?? new Date();
  for (let round = 0; round < 10; round++) {
    const job = round === 0 && args.current ? args.current : await getJob(db, args.jobId);
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
    const event: RecordEventArgs = {
      jobId: job.id,
      source: args.source,
      type: args.event.type === "upstream_status" ? `upstream_${args.event.status}` : args.event.type,
      from: job.status,
      to,
      detail: decision.change ? args.detail : args.detail ? `${decision.reason}: ${args.detail}` : decision.reason,
      payload: args.payload,
      at: now,
    };
    let followUps: string[] = [];
    let fresh: Job | null = job;
    if (!writes) {
      await recordEvent(db, event);
    } else if (!(to && isTerminal(to)) || (!job.chainId && !(await needsOutbox(db, job)))) {
      // One statement is atomic by itself: no transaction, one round trip.
      fresh = await updateWithEvent(sqlOfClient(requirePool(db)), job, data, event);
    } else if (!job.chainId) {
      // A final status: the change, its event, the outbox rows, in one short pg transaction.
      fresh = await inTransaction(db, async (client) => {
        const sql = sqlOfClient(client);
        const row = await updateWithEvent(sql, job, data, event);
        if (row) await recordFinishedJobSql(sql, row, to, now);
        return row;
      });
    } else {
      // A chain step may start the next one: that stays on Prisma (chains are few).
      fresh = await db.$transaction(async (tx) => {
        const { count } = await tx.job.updateMany({ where: { id: job.id, status: job.status }, data });
        if (count === 0) return null;
        followUps = await recordJobFinished(tx, job.id, to, now);
        await recordEvent(tx, event);
        return tx.job.findUniqueOrThrow({ where: { id: job.id } });
      });
    }
    if (!fresh) continue;
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
