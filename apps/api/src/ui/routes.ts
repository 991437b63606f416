import { IdParamSchema, ListExtensionsQuerySchema, toBatchResource, toJobEventResource, toJobResource } from "@kex/contract";
import { decodeCursor, encodeCursor, type ListCursor, type Logger } from "@kex/core";
import { getBatchWithCounts, getJob, getJobEvents, listBatchesWithCounts, listJobs, type Db } from "@kex/db";
import { Router, type ErrorRequestHandler, type Request, type RequestHandler } from "express";
import { z } from "zod";
import { requireBasicAuth } from "../auth";
import { ApiError, errorHandler, notFound, parseOr400 } from "../errors";
import { CLIENT_JS } from "./client";
import { batchesPage, batchPage, errorPage, extensionsPage, jobPage, withQuery } from "./views";

export interface UiRouteDeps {
  db: Db;
  /** The API token: the Basic-auth password of the pages (any username). */
  apiToken: string;
  logger: Logger;
}

export const UI_REALM = "kex";

/** Batches per page of /ui. */
const BATCHES_PAGE_SIZE = 50;

const CursorOnlyQuerySchema = z.strictObject({ cursor: z.string().min(1).max(200).optional() });
const BatchJobsQuerySchema = ListExtensionsQuerySchema.omit({ batch_id: true });

/**
 * Pages must not be framed, cached or leak their URLs, and may only run our own script: even if some
 * value escaped escaping, an injected inline script would not execute. Result videos come from upstream's
 * CDN, so media may load from any http(s) origin.
 */
const securityHeaders: RequestHandler = (_req, res, next) => {
  res.set({
    "Content-Security-Policy":
      "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; media-src http: https:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
  });
  next();
};

/** A form sends empty fields (`?status=&batch_id=`): they mean "any", not an invalid value. */
function withoutEmpty(query: Request["query"]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(query).filter(([, v]) => v !== ""));
}

function cursorOr400(value: string | undefined): ListCursor | undefined {
  if (value === undefined) return undefined;
  const cursor = decodeCursor(value);
  if (cursor === null) {
    throw new ApiError(400, "validation_failed", "invalid query string: cursor: not a cursor returned by this page", [
      { field: "cursor", rule: "invalid_cursor", message: "not a cursor returned by this page" },
    ]);
  }
  return cursor;
}

/** The page size when the query named one (kept in links), undefined for the default. */
const explicitLimit = (req: Request, parsed: number): number | undefined =>
  req.query.limit === undefined || req.query.limit === "" ? undefined : parsed;

/** Ids that are not uuids cannot exist: a 404 like any unknown id (never a database error). */
function idParam(req: Request, what: string): string {
  const id = String(req.params.id);
  if (!IdParamSchema.safeParse(id).success) throw notFound(what, id);
  return id;
}

/** The job fields the list pages update live (no user input: ids, statuses, counts, times). */
const jobRowJson = (j: ReturnType<typeof toJobResource>) => ({
  id: j.id,
  status: j.status,
  attempts: j.attempts,
  updated_at: j.updated_at,
  finished_at: j.finished_at,
});

/**
 * The status pages, mounted at /ui behind HTTP Basic auth: server-rendered HTML plus the small JSON
 * endpoints under /ui/api that app.js polls. Read-only.
 */
export function uiRoutes(deps: UiRouteDeps): Router {
  const { db } = deps;
  const router = Router();
  const send = (res: Parameters<RequestHandler>[1], page: string) => res.type("html").send(page);

  router.use(securityHeaders);
  // 401 + `WWW-Authenticate: Basic realm="kex"`, rendered as a page by the error handler below.
  router.use(requireBasicAuth(deps.apiToken, UI_REALM));

  router.get("/app.js", (_req, res) => {
    res.type("js").set("Cache-Control", "no-cache").send(CLIENT_JS);
  });

  // ---------- pages ----------

  router.get("/", async (req, res) => {
    const query = parseOr400(CursorOnlyQuerySchema, withoutEmpty(req.query), "query string");
    const page = await listBatchesWithCounts(db, { limit: BATCHES_PAGE_SIZE, cursor: cursorOr400(query.cursor) });
    send(
      res,
      batchesPage({
        base: req.baseUrl,
        batches: page.batches,
        next: page.next ? encodeCursor(page.next) : null,
        paged: query.cursor !== undefined,
        pollUrl: withQuery(`${req.baseUrl}/api/batches`, { cursor: query.cursor }),
      }),
    );
  });

  router.get("/batches/:id", async (req, res) => {
    const id = idParam(req, "batch");
    const query = parseOr400(BatchJobsQuerySchema, withoutEmpty(req.query), "query string");
    const cursor = cursorOr400(query.cursor);
    const found = await getBatchWithCounts(db, id);
    if (!found) throw notFound("batch", id);
    const page = await listJobs(db, { batchId: id, status: query.status, limit: query.limit, cursor });
    const limit = explicitLimit(req, query.limit);
    send(
      res,
      batchPage({
        base: req.baseUrl,
        batch: toBatchResource(found.batch, found.counts),
        jobs: page.jobs.map(toJobResource),
        status: query.status,
        limit,
        next: page.next ? encodeCursor(page.next) : null,
        paged: cursor !== undefined,
        pollUrl: `${req.baseUrl}/api/batches/${id}`,
        jobsPollUrl: withQuery(`${req.baseUrl}/api/extensions`, { batch_id: id, status: query.status, limit, cursor: query.cursor }),
      }),
    );
  });

  router.get("/extensions", async (req, res) => {
    const query = parseOr400(ListExtensionsQuerySchema, withoutEmpty(req.query), "query string");
    const cursor = cursorOr400(query.cursor);
    const page = await listJobs(db, { status: query.status, batchId: query.batch_id, limit: query.limit, cursor });
    const limit = explicitLimit(req, query.limit);
    send(
      res,
      extensionsPage({
        base: req.baseUrl,
        jobs: page.jobs.map(toJobResource),
        status: query.status,
        batchId: query.batch_id,
        limit,
        next: page.next ? encodeCursor(page.next) : null,
        paged: cursor !== undefined,
        jobsPollUrl: withQuery(`${req.baseUrl}/api/extensions`, {
          status: query.status,
          batch_id: query.batch_id,
          limit,
          cursor: query.cursor,
        }),
      }),
    );
  });

  router.get("/jobs/:id", async (req, res) => {
    const id = idParam(req, "job");
    const job = await getJob(db, id);
    if (!job) throw notFound("job", id);
    const events = await getJobEvents(db, id);
    send(
      res,
      jobPage({
        base: req.baseUrl,
        job: toJobResource(job),
        events: events.map(toJobEventResource),
        pollUrl: `${req.baseUrl}/api/jobs/${id}`,
      }),
    );
  });

  // ---------- JSON polled by app.js ----------

  router.get("/api/batches", async (req, res) => {
    const query = parseOr400(CursorOnlyQuerySchema, withoutEmpty(req.query), "query string");
    const page = await listBatchesWithCounts(db, { limit: BATCHES_PAGE_SIZE, cursor: cursorOr400(query.cursor) });
    res.json({ data: page.batches, next_cursor: page.next ? encodeCursor(page.next) : null });
  });

  router.get("/api/batches/:id", async (req, res) => {
    const id = idParam(req, "batch");
    const found = await getBatchWithCounts(db, id);
    if (!found) throw notFound("batch", id);
    res.json(toBatchResource(found.batch, found.counts));
  });

  router.get("/api/extensions", async (req, res) => {
    const query = parseOr400(ListExtensionsQuerySchema, withoutEmpty(req.query), "query string");
    const page = await listJobs(db, {
      status: query.status,
      batchId: query.batch_id,
      limit: query.limit,
      cursor: cursorOr400(query.cursor),
    });
    res.json({ data: page.jobs.map((j) => jobRowJson(toJobResource(j))), next_cursor: page.next ? encodeCursor(page.next) : null });
  });

  router.get("/api/jobs/:id", async (req, res) => {
    const id = idParam(req, "job");
    const job = await getJob(db, id);
    if (!job) throw notFound("job", id);
    res.json(jobRowJson(toJobResource(job)));
  });

  router.use((req, _res, next) => next(new ApiError(404, "route_not_found", `no page at ${req.baseUrl}${req.path}`)));
  router.use(uiErrorHandler(deps.logger));
  return router;
}

/**
 * Errors become answers in the API's one error middleware (status mapping, logging, 503 when Postgres is
 * down); for pages, its JSON body is rendered as an HTML error page instead. /ui/api keeps the JSON.
 */
function uiErrorHandler(logger: Logger): ErrorRequestHandler {
  const central = errorHandler(logger);
  return (err, req, res, next) => {
    if (!req.path.startsWith("/api/")) {
      res.json = ((body: { error: { code: string; message: string; details?: unknown } }) =>
        res.type("html").send(errorPage({ base: req.baseUrl, status: res.statusCode, ...body.error }))) as typeof res.json;
    }
    central(err, req, res, next);
  };
}
