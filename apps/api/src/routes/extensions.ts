import { randomUUID } from "node:crypto";
import {
  BATCH_MAX_ITEMS,
  BatchCreatedSchema,
  BatchCreateSchema,
  BatchListSchema,
  BatchResourceSchema,
  ExtensionCreateSchema,
  JobEventListSchema,
  JobListSchema,
  JobResourceSchema,
  ListBatchesQuerySchema,
  ListExtensionsQuerySchema,
  toBatchResource,
  toJobEventResource,
  toJobResource,
} from "@kex/contract";
import { decodeCursor, encodeCursor, type Logger } from "@kex/core";
import {
  countQueued,
  createBatch,
  createJob,
  getBatchWithCounts,
  getJobForTenant,
  getJobEvents,
  listBatchesWithCounts,
  listJobs,
  type Db,
} from "@kex/db";
import type { AccountRegistry } from "@kex/core";
import { Router } from "express";
import { routeJobs } from "../account-routing";
import { authOf } from "../auth";
import { requireJsonBody } from "../body-parsing";
import { enqueueFairly } from "../enqueue";
import type { CheckedBatch } from "../body-checks";
import type { CallbackUrlGuard } from "../callback-urls";
import { ApiError, notFound, parseOr400, idParam } from "../errors";
import type { ApiMetrics } from "../metrics";
import { IdParams, TAGS, v1 } from "../openapi/operations";

export interface ExtensionRouteDeps {
  db: Db;
  /** Puts submit jobs on the queue. May fail (Redis down): the rows are stored and the sweeper enqueues them. */
  enqueue: (jobIds: readonly string[], priorities?: readonly number[]) => Promise<void>;
  /** For lines outside a request; request handlers log through `req.log` (it carries the request id). */
  logger: Logger;
  metrics: Pick<ApiMetrics, "jobsCreated">;
  /** The Kling accounts jobs are routed to. */
  accounts: AccountRegistry;
  /** Refuses callback URLs that point at internal addresses (400, rule `ssrf_blocked`); none = no check. */
  checkCallbackUrls?: CallbackUrlGuard;
}

export function extensionRoutes(deps: ExtensionRouteDeps): Router {
  const { db, metrics } = deps;
  const router = Router();

  router.post("/extensions", requireJsonBody, async (req, res) => {
    const input = parseOr400(ExtensionCreateSchema, req.body);
    await deps.checkCallbackUrls?.(input.callback_url ? [{ field: "callback_url", url: input.callback_url }] : []);
    const { tenantId } = authOf(res);
    const [account] = await routeJobs(db, deps.accounts, [
      { named: input.account === undefined ? undefined : { account: input.account, field: "account" }, videoId: input.video_id, videoField: "video_id" },
    ]);
    const job = await createJob(db, { input, tenantId, account: account! });
    metrics.jobsCreated.inc({ kind: "single" });
    await enqueueFairly(deps, tenantId, [job.id], req.log);
    req.log.info({ jobId: job.id }, "job created");
    res.status(202).json(toJobResource(job));
  });

  router.post("/batches", requireJsonBody, async (req, res) => {
    // Checked and encoded where it was parsed, in the parse worker when big (the batch rules name the check).
    const batch = req.body as CheckedBatch;
    await deps.checkCallbackUrls?.(batch.callbackUrls);
    const { tenantId } = authOf(res);
    const accounts = await routeJobs(db, deps.accounts, batch.routing);
    const jobIds = Array.from({ length: batch.items.count }, () => randomUUID());
    // The Redis enqueue runs next to the Postgres insert, not after it: each takes about as long as
    // the other for 10,000 jobs. A worker that picks a job before its row is committed hands it back
    // for a moment; if the insert fails, the request fails and those submits find no row and are dropped.
    const backlogBefore = await countQueued(db, tenantId);
    const [{ batch: created }] = await Promise.all([
      createBatch(db, { items: batch.items, callbackUrl: batch.callbackUrl, tenantId, jobIds, name: batch.name, metadata: batch.metadata, accounts }),
      enqueueFairly(deps, tenantId, jobIds, req.log, { backlogBefore }),
    ]);
    metrics.jobsCreated.inc({ kind: "batch" }, jobIds.length);
    req.log.info({ batchId: created.id, total: created.total }, "batch created");
    res.status(202).json({ id: created.id, total: created.total, jobs: jobIds });
  });

  router.get("/extensions", async (req, res) => {
    const query = parseOr400(ListExtensionsQuerySchema, req.query, "query string");
    const cursor = cursorOr400(query.cursor);
    const page = await listJobs(db, { tenantId: authOf(res).tenantId, status: query.status, batchId: query.batch_id, limit: query.limit, cursor });
    res.json({ data: page.jobs.map(toJobResource), next_cursor: page.next ? encodeCursor(page.next) : null });
  });

  router.get("/extensions/:id", async (req, res) => {
    const id = idParam(req, "extension");
    const job = await getJobForTenant(db, authOf(res).tenantId, id);
    if (!job) throw notFound("extension", id);
    res.json(toJobResource(job));
  });

  router.get("/extensions/:id/events", async (req, res) => {
    const id = idParam(req, "extension");
    const job = await getJobForTenant(db, authOf(res).tenantId, id);
    if (!job) throw notFound("extension", id);
    const events = await getJobEvents(db, id);
    res.json({ data: events.map(toJobEventResource) });
  });

  router.get("/batches", async (req, res) => {
    const query = parseOr400(ListBatchesQuerySchema, req.query, "query string");
    const page = await listBatchesWithCounts(db, { tenantId: authOf(res).tenantId, limit: query.limit, cursor: cursorOr400(query.cursor) });
    res.json({ data: page.batches, next_cursor: page.next ? encodeCursor(page.next) : null });
  });

  router.get("/batches/:id", async (req, res) => {
    const id = idParam(req, "batch");
    const found = await getBatchWithCounts(db, id, authOf(res).tenantId);
    if (!found) throw notFound("batch", id);
    res.json(toBatchResource(found.batch, found.counts));
  });

  return router;
}

/** A list cursor from the query string, or a 400 naming it. */
function cursorOr400(text: string | undefined) {
  const cursor = text === undefined ? undefined : decodeCursor(text);
  if (cursor === null) {
    throw new ApiError(400, "validation_failed", "invalid query string: cursor: not a cursor returned by this API", [
      { field: "cursor", rule: "invalid_cursor", message: "not a cursor returned by this API" },
    ]);
  }
  return cursor;
}

export const extensionOperations = [
  v1.post("/extensions", {
    operationId: "createExtension",
    summary: "Extend one video",
    tags: [TAGS.extensions],
    body: { schema: ExtensionCreateSchema },
    ok: { status: 202, description: "the job, stored and queued", schema: JobResourceSchema },
    errors: { 400: "or an unknown or disabled `account` (`rule: unknown_account`, `account_disabled`)", 409: "or `account_conflict`: `account` is not the account that produced `video_id`" },
  }),
  v1.get("/extensions", {
    operationId: "listExtensions",
    summary: "List jobs, newest first",
    description: "Cursor pagination: follow `next_cursor` until it is null.",
    tags: [TAGS.extensions],
    params: { query: ListExtensionsQuerySchema },
    ok: { status: 200, description: "one page of jobs", schema: JobListSchema },
    errors: { 400: "a bad filter, limit or cursor" },
  }),
  v1.get("/extensions/:id", {
    operationId: "getExtension",
    summary: "Get one job",
    tags: [TAGS.extensions],
    params: { path: IdParams },
    ok: { status: 200, description: "the job", schema: JobResourceSchema },
    errors: { 404: "no such job for this tenant" },
  }),
  v1.get("/extensions/:id/events", {
    operationId: "getExtensionEvents",
    summary: "The job's event log",
    description: "Every callback, poll and decision, oldest first, whether or not it changed anything.",
    tags: [TAGS.extensions],
    params: { path: IdParams },
    ok: { status: 200, description: "the events", schema: JobEventListSchema },
    errors: { 404: "no such job for this tenant" },
  }),
  v1.post("/batches", {
    operationId: "createBatch",
    summary: `Extend up to ${BATCH_MAX_ITEMS.toLocaleString("en")} videos at once`,
    description: "Validated all or nothing: a 400 names every bad item by index (`items.3.prompt`) and stores nothing.",
    tags: [TAGS.batches],
    body: { schema: BatchCreateSchema },
    ok: { status: 202, description: "the batch and its job ids, stored and queued", schema: BatchCreatedSchema },
    errors: { 400: "or an unknown or disabled account (`rule: unknown_account`, `account_disabled`)", 409: "or `account_conflict`: an item's account is not the one that produced its video" },
  }),
  v1.get("/batches", {
    operationId: "listBatches",
    summary: "List batches, newest first",
    description: "With their jobs counted by status, `name` and `metadata`. Cursor pagination: follow `next_cursor` until it is null.",
    tags: [TAGS.batches],
    params: { query: ListBatchesQuerySchema },
    ok: { status: 200, description: "one page of batches", schema: BatchListSchema },
    errors: { 400: "a bad limit or cursor" },
  }),
  v1.get("/batches/:id", {
    operationId: "getBatch",
    summary: "A batch's progress",
    tags: [TAGS.batches],
    params: { path: IdParams },
    ok: { status: 200, description: "the batch with its jobs counted by status", schema: BatchResourceSchema },
    errors: { 404: "no such batch for this tenant" },
  }),
];
