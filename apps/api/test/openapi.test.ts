import SwaggerParser from "@apidevtools/swagger-parser";
import { callbackToken } from "@kex/core";
import { claimManyForSubmit, createJob } from "@kex/db";
import { CHROMIUM_ARGS, CHROMIUM_PATH, describeWithBrowser } from "@kex/testing";
import Ajv2020, { type ValidateFunction } from "ajv/dist/2020";
import addFormats from "ajv-formats";
import type { Express } from "express";
import { chromium } from "playwright-core";
import request from "supertest";
import { auth, CALLBACK_SECRET, startApiHarness, validItem, type ApiHarness } from "./helpers";
import { sendRaw, type RawAnswer } from "./raw-http";

/**
 * The OpenAPI document at /openapi.json against the app itself: every route the app registers is
 * described (and nothing else is), and real answers, success and error, validate against the schema
 * the document gives for their path, method and status.
 */

/** Routes that are not the API: operator pages (HTML, Basic auth) and the /docs page's own files. */
const NOT_API = [/^\/ui(\/|$)/, /^\/admin\/queues(\/|$)/, /^\/docs\/\{file\}$/];

type Method = "get" | "post" | "put" | "patch" | "delete";
interface OpenApiOperation {
  security?: Record<string, string[]>[];
  parameters?: { in: string; name: string; required?: boolean }[];
  responses: Record<string, { content?: Record<string, { schema: unknown }>; headers?: Record<string, { required?: boolean }> }>;
}
interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Partial<Record<Method, OpenApiOperation>>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
}

let h: ApiHarness;
let doc: OpenApiDocument;
beforeAll(async () => {
  // No rate limit here (the burst of requests below would trip it); a second API tests the 429.
  h = await startApiHarness({ API_RATE_LIMIT_PER_SEC: "0", API_KEY_CACHE_MS: "0" });
  const res = await request(h.api.url).get("/openapi.json");
  expect(res.status).toBe(200);
  doc = res.body;
});
afterAll(() => h.close());

// ---------------------------------------------------------------------------------------------
// The routes the app registers, from Express's own router (`listRoutes`, router 2.3+)

interface ListedRoute {
  path: string | RegExp;
  methods?: string[];
  router?: ListingRouter;
}
interface ListingRouter {
  listRoutes(): ListedRoute[];
}

function joinPath(prefix: string, path: string): string {
  const joined = `${prefix}/${path}`.replace(/\/+/g, "/");
  return joined.length > 1 ? joined.replace(/\/$/, "") : joined;
}

/** `METHOD /path/{param}` for every route of the router and of the routers mounted in it. */
function registeredRoutes(router: ListingRouter, prefix = ""): string[] {
  const out: string[] = [];
  for (const route of router.listRoutes()) {
    if (typeof route.path !== "string") throw new Error(`a route with a RegExp path (${route.path}) cannot be compared with the document`);
    const path = joinPath(prefix, route.path);
    if (route.router) {
      out.push(...registeredRoutes(route.router, path));
      continue;
    }
    const methods = route.methods ?? [];
    for (const method of methods) {
      // Express answers HEAD for every GET by itself.
      if (method === "HEAD" && methods.includes("GET")) continue;
      out.push(`${method} ${path.replace(/:(\w+)/g, "{$1}")}`);
    }
  }
  return out;
}

function documentedRoutes(): string[] {
  return Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
}

describe("the document", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info.title).toBeTruthy();
    expect(doc.info.version).toBeTruthy();
    // Throws with the first problem (structure, $refs, duplicate operationIds, path parameters).
    await SwaggerParser.validate(structuredClone(doc) as never);
  });

  it("describes every route the app registers, and only those", () => {
    const app = h.api.server.listeners("request")[0] as Express;
    const registered = registeredRoutes(app.router as unknown as ListingRouter).filter(
      (route) => !NOT_API.some((re) => re.test(route.split(" ")[1]!)),
    );
    expect(registered).toContain("POST /v1/extensions"); // the walk found the mounted routers
    const documented = documentedRoutes();
    expect({ undocumented: registered.filter((r) => !documented.includes(r)) }).toEqual({ undocumented: [] });
    expect({ notInTheApp: documented.filter((r) => !registered.includes(r)) }).toEqual({ notInTheApp: [] });
    expect(new Set(registered).size).toBe(registered.length);
  });

  it("asks for the bearer token on every /v1 operation and on nothing else; documents the callback token", () => {
    expect(doc.components.securitySchemes.bearer).toEqual(expect.objectContaining({ type: "http", scheme: "bearer" }));
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        expect([method, path, op.security]).toEqual([method, path, path.startsWith("/v1/") ? [{ bearer: [] }] : []]);
        if (path.startsWith("/v1/")) expect(Object.keys(op.responses)).toContain("401");
      }
    }
    const callback = doc.paths["/webhooks/kling/{jobId}"]!.post!;
    expect(callback.parameters).toContainEqual(expect.objectContaining({ in: "query", name: "token", required: true }));
  });

  it("lists the answers of the shared edge: 400/413/415 wherever a body is read, 400 for a path parameter, 429 on /v1", () => {
    const missing: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item) as [string, OpenApiOperation & { requestBody?: unknown }][]) {
        const statuses = Object.keys(op.responses);
        const want = new Set([
          // Every /v1 request's body is read when one is sent; the callback reads its body too.
          ...(op.requestBody || path.startsWith("/v1/") ? ["400", "413", "415"] : []),
          // A path segment that is not valid percent-encoding.
          ...(path.includes("{") ? ["400"] : []),
          // The tenant's rate, and the throttle on failed authentication.
          ...(path.startsWith("/v1/") ? ["429"] : []),
        ]);
        for (const status of want) if (!statuses.includes(status)) missing.push(`${method.toUpperCase()} ${path} ${status}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it("is served as it is generated, and without a key", async () => {
    const res = await request(h.api.url).get("/openapi.json");
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    const { createOpenApiDocument } = await import("../src/openapi");
    expect(res.body).toEqual(JSON.parse(JSON.stringify(createOpenApiDocument())));
  });
});

describe("GET /docs", () => {
  it("renders the document with Swagger UI served from this server only (no CDN)", async () => {
    const page = await request(h.api.url).get("/docs");
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toMatch(/^text\/html/);
    const urls = [...page.text.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(urls.length).toBeGreaterThanOrEqual(3);
    for (const url of urls) expect(url).toMatch(/^\/[^/]/); // same origin: nothing to fetch elsewhere
    const types: string[] = [];
    for (const url of urls) {
      const asset = await request(h.api.url).get(url).buffer(true);
      expect([url, asset.status]).toEqual([url, 200]);
      expect(Number(asset.headers["content-length"] ?? asset.body?.length ?? asset.text.length)).toBeGreaterThan(0);
      types.push(String(asset.headers["content-type"]));
    }
    expect(types.some((t) => t.startsWith("text/css"))).toBe(true);
    expect(types.filter((t) => /javascript/.test(t)).length).toBeGreaterThanOrEqual(2);
    const init = await request(h.api.url).get("/docs/init.js");
    expect(init.text).toContain('"/openapi.json"');
    expect(init.text).toContain("validatorUrl: null"); // Swagger UI's default validator badge is an online service
    expect((await request(h.api.url).get("/docs/package.json")).status).toBe(404);
  });
});

describeWithBrowser("GET /docs in headless Chromium", () => {
  it("shows every operation, with no request leaving this server and no script error (CSP included)", async () => {
    const browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: CHROMIUM_ARGS,
    });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      const elsewhere: string[] = [];
      page.on("console", (message) => {
        if (message.type() === "error" || message.type() === "warning") problems.push(message.text());
      });
      page.on("pageerror", (error) => problems.push(error.message));
      page.on("request", (req) => {
        if (!req.url().startsWith(`${h.api.url}/`) && !req.url().startsWith("data:")) elsewhere.push(req.url());
      });
      await page.goto(`${h.api.url}/docs`);
      await page.waitForSelector(".opblock", { timeout: 20_000 });
      const operations = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
      expect(await page.locator(".opblock").count()).toBe(operations);
      expect({ problems, elsewhere }).toEqual({ problems: [], elsewhere: [] });
    } finally {
      await browser.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Real answers against the document

const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
let componentsAdded = false;
const validators = new Map<string, ValidateFunction>();
/** `method path` → statuses seen and validated. */
const seen = new Map<string, Set<number>>();

/** The document's schemas refer to `#/components/schemas/X`; ajv gets them as one schema of `$defs`. */
const toAjvRefs = (schema: unknown): object =>
  JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', '"components#/$defs/'));

function validatorFor(key: string, schema: unknown): ValidateFunction {
  if (!componentsAdded) {
    ajv.addSchema({ $id: "components", $defs: toAjvRefs(doc.components.schemas) });
    componentsAdded = true;
  }
  let validate = validators.get(key);
  if (!validate) {
    validate = ajv.compile(toAjvRefs(schema));
    validators.set(key, validate);
  }
  return validate;
}

/** Fails unless the document has this status for this operation, with this media type, and the body fits its schema. */
function expectDocumented(method: Method, path: string, res: request.Response): void {
  const op = doc.paths[path]?.[method];
  if (!op) throw new Error(`${method.toUpperCase()} ${path} is not in the document`);
  const response = op.responses[String(res.status)];
  if (!response)
    throw new Error(
      `${method.toUpperCase()} ${path} answered ${res.status}, a status the document does not list: ${res.text.slice(0, 300)}`,
    );
  const media = String(res.headers["content-type"] ?? "")
    .split(";")[0]!
    .trim();
  const content = response.content?.[media];
  if (!content)
    throw new Error(
      `${method.toUpperCase()} ${path} ${res.status}: answered ${media}, the document lists ${Object.keys(response.content ?? {})}`,
    );
  for (const [name, header] of Object.entries(response.headers ?? {})) {
    if (header.required) expect([name, res.headers[name.toLowerCase()]]).toEqual([name, expect.any(String)]);
  }
  if (media === "application/json") {
    const validate = validatorFor(`${method} ${path} ${res.status} ${media}`, content.schema);
    if (!validate(res.body)) {
      throw new Error(
        `${method.toUpperCase()} ${path} ${res.status}: the body does not fit the document:\n${ajv.errorsText(validate.errors, { separator: "\n" })}\n${JSON.stringify(res.body).slice(0, 1000)}`,
      );
    }
  }
  const key = `${method} ${path}`;
  if (!seen.has(key)) seen.set(key, new Set());
  seen.get(key)!.add(res.status);
}

interface CallOptions {
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
  /** Raw body text (sent as application/json unless `type` says otherwise). */
  raw?: string;
  type?: string;
  headers?: Record<string, string>;
  /** Without the admin bearer token. */
  anonymous?: boolean;
  baseUrl?: string;
}

/** Sends a request to the documented `path` (with `{param}`s filled in) and checks the answer against the document. */
async function call(method: Method, path: string, expectedStatus: number, options: CallOptions = {}): Promise<request.Response> {
  const url = path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(options.params?.[name] ?? `{${name}}`));
  let req = request(options.baseUrl ?? h.api.url)[method](url);
  if (!options.anonymous && path.startsWith("/v1/")) req = req.set(auth);
  if (options.headers) req = req.set(options.headers);
  if (options.query) req = req.query(options.query);
  if (options.raw !== undefined) req = req.type(options.type ?? "application/json").send(options.raw);
  else if (options.body !== undefined) req = req.send(options.body as object);
  const res = await req;
  expect([method, url, res.status]).toEqual([method, url, expectedStatus]);
  expectDocumented(method, path, res);
  return res;
}

const missingId = "00000000-0000-4000-8000-00000000dead";

/** A raw answer (a path sent byte for byte) in the shape `expectDocumented` reads. */
const asResponse = (answer: RawAnswer): request.Response =>
  ({ status: answer.status, headers: answer.headers, text: answer.text, body: answer.json }) as unknown as request.Response;

let taskSeq = 700_000_000_000_000_000n;
/** Moves a queued job to `submitted` with an upstream task, as the worker would; returns the task id. */
async function submitted(jobId: string): Promise<string> {
  expect((await claimManyForSubmit(h.api.db, { jobIds: [jobId], maxInFlight: 0 })).get(jobId)).toBe("claimed");
  const taskId = String(taskSeq++);
  await h.api.engine.adoptUpstreamTask({ jobId, task: { task_id: taskId, task_status: "submitted" }, source: "worker" });
  return taskId;
}

describe("answers validate against the document", () => {
  it("operations: /healthz, /readyz (ready and paused), /metrics, /openapi.json, /docs", async () => {
    await call("get", "/healthz", 200);
    await call("get", "/readyz", 200);
    const { pauses } = h.queueBackend;
    await pauses.pause("default", { code: 1102, message: "resource pack exhausted", durationMs: 60_000 });
    const paused = await call("get", "/readyz", 503);
    expect(paused.body.checks.upstream_account).toMatchObject({ status: "paused", code: 1102 });
    expect(paused.body.checks.accounts.default).toMatchObject({ status: "paused", code: 1102 });
    await call("get", "/v1/accounts", 200);
    await pauses.clear("default");
    await call("get", "/metrics", 200);
    await call("get", "/openapi.json", 200);
    await call("get", "/docs", 200);
  });

  it("extensions: create, replay, conflict, get, events, list, cancel, and their errors", async () => {
    const created = await call("post", "/v1/extensions", 202, {
      body: {
        ...validItem(1),
        negative_prompt: "blur",
        cfg_scale: 0.5,
        callback_url: "https://client.example/hook",
        metadata: { sku: 42 },
      },
      headers: { "Idempotency-Key": "openapi-1" },
    });
    const replay = await call("post", "/v1/extensions", 202, {
      body: {
        ...validItem(1),
        negative_prompt: "blur",
        cfg_scale: 0.5,
        callback_url: "https://client.example/hook",
        metadata: { sku: 42 },
      },
      headers: { "Idempotency-Key": "openapi-1" },
    });
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(replay.body.id).toBe(created.body.id);
    await call("post", "/v1/extensions", 409, { body: validItem(2), headers: { "Idempotency-Key": "openapi-1" } });
    const invalid = await call("post", "/v1/extensions", 400, { body: { video_id: "", prompt: "x".repeat(3000), extra: 1 } });
    expect(invalid.body.error.details.length).toBeGreaterThanOrEqual(2);
    await call("post", "/v1/extensions", 400, { raw: "{not json" });
    await call("post", "/v1/extensions", 415, { raw: "video_id=1", type: "application/x-www-form-urlencoded" });
    await call("post", "/v1/extensions", 401, { body: validItem(3), anonymous: true });
    await call("post", "/v1/extensions", 401, {
      body: validItem(3),
      anonymous: true,
      headers: { Authorization: "Bearer not-the-token-at-all" },
    });

    const id = created.body.id as string;
    await call("get", "/v1/extensions/{id}", 200, { params: { id } });
    await call("get", "/v1/extensions/{id}", 404, { params: { id: missingId } });
    await call("get", "/v1/extensions/{id}", 404, { params: { id: "not-a-uuid" } });
    await call("get", "/v1/extensions/{id}", 401, { params: { id }, anonymous: true });
    const events = await call("get", "/v1/extensions/{id}/events", 200, { params: { id } });
    expect(events.body.data.length).toBeGreaterThan(0);
    await call("get", "/v1/extensions/{id}/events", 404, { params: { id: missingId } });

    await call("post", "/v1/extensions", 202, { body: validItem(4) });
    const page = await call("get", "/v1/extensions", 200, { query: { limit: "1" } });
    expect(page.body.next_cursor).toEqual(expect.any(String));
    const last = await call("get", "/v1/extensions", 200, { query: { limit: "200", cursor: page.body.next_cursor, status: "queued" } });
    expect(last.body.next_cursor).toBeNull();
    await call("get", "/v1/extensions", 400, { query: { limit: "0" } });
    await call("get", "/v1/extensions", 400, { query: { cursor: "bogus" } });
    await call("get", "/v1/extensions", 400, { query: { colour: "red" } });
    await call("get", "/v1/extensions", 401, { anonymous: true });

    const canceled = await call("post", "/v1/extensions/{id}/cancel", 200, { params: { id } });
    expect(canceled.body).toMatchObject({ status: "canceled", error: { code: "canceled" } });
    const again = await call("post", "/v1/extensions/{id}/cancel", 409, { params: { id } });
    expect(again.body.error).toMatchObject({ code: "already_finished", details: { status: "canceled" } });
    await call("post", "/v1/extensions/{id}/cancel", 404, { params: { id: missingId } });
  });

  it("a finished job (result, upstream events, webhook deliveries) and the upstream callback receiver", async () => {
    const job = await createJob(h.api.db, { input: { ...validItem(5), callback_url: "https://client.example/hook" } });
    const taskId = await submitted(job.id);
    const succeed = {
      task_id: taskId,
      task_status: "succeed",
      task_status_msg: "",
      task_info: { parent_video: { id: "1", url: "https://x/1.mp4", duration: "5.0" }, external_task_id: `${job.id}-1` },
      task_result: { videos: [{ id: "900000000000000001", url: "https://cdn.example/v.mp4", duration: "9.5" }] },
    };
    const token = callbackToken(CALLBACK_SECRET, job.id);
    const applied = await call("post", "/webhooks/kling/{jobId}", 200, { params: { jobId: job.id }, query: { token }, body: succeed });
    expect(applied.body).toEqual({ ok: true, changed: true, status: "succeeded" });
    const duplicate = await call("post", "/webhooks/kling/{jobId}", 200, { params: { jobId: job.id }, query: { token }, body: succeed });
    expect(duplicate.body).toMatchObject({ changed: false, reason: expect.any(String) });
    await call("post", "/webhooks/kling/{jobId}", 401, { params: { jobId: job.id }, query: { token: "wrong" }, body: succeed });
    await call("post", "/webhooks/kling/{jobId}", 400, { params: { jobId: job.id }, query: { token }, body: { task_id: 1 } });
    await call("post", "/webhooks/kling/{jobId}", 400, { params: { jobId: job.id }, query: { token }, raw: "{" });
    await call("post", "/webhooks/kling/{jobId}", 415, {
      params: { jobId: job.id },
      query: { token },
      raw: "task_id=1",
      type: "text/plain",
    });
    await call("post", "/webhooks/kling/{jobId}", 413, {
      params: { jobId: job.id },
      query: { token },
      raw: JSON.stringify({ pad: "x".repeat(1_100_000) }),
    });
    await call("post", "/webhooks/kling/{jobId}", 404, {
      params: { jobId: missingId },
      query: { token: callbackToken(CALLBACK_SECRET, missingId) },
      body: succeed,
    });

    const finished = await call("get", "/v1/extensions/{id}", 200, { params: { id: job.id } });
    expect(finished.body.result).toMatchObject({ video_id: "900000000000000001", duration: 9.5 });
    const events = await call("get", "/v1/extensions/{id}/events", 200, { params: { id: job.id } });
    expect(events.body.data.map((e: { source: string }) => e.source)).toContain("webhook");
    await call("post", "/v1/extensions/{id}/cancel", 409, { params: { id: job.id } });

    const deliveries = await call("get", "/v1/extensions/{id}/deliveries", 200, { params: { id: job.id } });
    expect(deliveries.body.data).toEqual([expect.objectContaining({ event_type: "extension.succeeded", job_id: job.id })]);
    await call("get", "/v1/extensions/{id}/deliveries", 404, { params: { id: missingId } });
    await call("post", "/v1/deliveries/{id}/redeliver", 202, { params: { id: deliveries.body.data[0].id } });
    await call("post", "/v1/deliveries/{id}/redeliver", 404, { params: { id: missingId } });
    await call("get", "/v1/webhook-secret", 200);
  });

  it("batches: create, get, list, cancel, and their errors", async () => {
    const created = await call("post", "/v1/batches", 202, {
      body: { items: [validItem(6), validItem(7)], callback_url: "https://client.example/b", name: "openapi", metadata: { run: 1 } },
    });
    const id = created.body.id as string;
    const bad = await call("post", "/v1/batches", 400, { body: { items: [validItem(8), { video_id: "1" }, { prompt: "" }] } });
    expect(bad.body.error.details.map((d: { field: string }) => d.field)).toEqual(
      expect.arrayContaining(["items.1.prompt", "items.2.video_id"]),
    );
    await call("post", "/v1/batches", 400, { body: { items: [] } });
    await call("post", "/v1/batches", 415, { raw: "items", type: "text/plain" });
    await call("get", "/v1/batches/{id}", 200, { params: { id } });
    await call("get", "/v1/batches/{id}", 404, { params: { id: missingId } });
    const listed = await call("get", "/v1/batches", 200, { query: { limit: "1" } });
    expect(listed.body.data[0]).toMatchObject({ id, name: "openapi", metadata: { run: 1 } });
    await call("get", "/v1/batches", 400, { query: { cursor: "nope" } });
    const canceled = await call("post", "/v1/batches/{id}/cancel", 200, { params: { id } });
    expect(canceled.body).toMatchObject({ canceled: 2, done: true });
    await call("post", "/v1/batches/{id}/cancel", 409, { params: { id } });
    await call("post", "/v1/batches/{id}/cancel", 404, { params: { id: missingId } });
    await call("get", "/v1/extensions", 200, { query: { batch_id: id } });
    const deliveries = await call("get", "/v1/batches/{id}/deliveries", 200, { params: { id } });
    expect(deliveries.body.data.map((d: { event_type: string }) => d.event_type)).toContain("batch.completed");
    await call("get", "/v1/batches/{id}/deliveries", 404, { params: { id: missingId } });
  });

  it("chains: create, get, retry after a failed step, and their errors", async () => {
    const created = await call("post", "/v1/chains", 202, {
      body: {
        video_id: "800000000000000001",
        steps: [{ prompt: "first" }, { prompt: "second", negative_prompt: "blur", cfg_scale: 0.5 }],
        callback_url: "https://client.example/c",
      },
    });
    const id = created.body.id as string;
    await call("post", "/v1/chains", 400, { body: { video_id: "1", steps: [] } });
    await call("post", "/v1/chains", 415, { raw: "steps", type: "text/plain" });
    await call("get", "/v1/chains/{id}", 200, { params: { id } });
    await call("get", "/v1/chains/{id}", 404, { params: { id: missingId } });
    const running = await call("post", "/v1/chains/{id}/retry", 409, { params: { id } });
    expect(running.body.error.code).toBe("chain_not_failed");
    await call("post", "/v1/chains/{id}/retry", 404, { params: { id: missingId } });

    // Upstream fails the first step: the chain stops, and retry resumes it.
    const jobId = created.body.steps[0].job.id as string;
    const taskId = await submitted(jobId);
    const failed = { task_id: taskId, task_status: "failed", task_status_msg: "content risk control" };
    await call("post", "/webhooks/kling/{jobId}", 200, {
      params: { jobId },
      query: { token: callbackToken(CALLBACK_SECRET, jobId) },
      body: failed,
    });
    const stopped = await call("get", "/v1/chains/{id}", 200, { params: { id } });
    expect(stopped.body).toMatchObject({ status: "failed", error: { code: "task_failed" } });
    const resumed = await call("post", "/v1/chains/{id}/retry", 202, { params: { id } });
    expect(resumed.body.steps[0].attempts).toBe(2);
  });

  it("tenants and keys: create, list, revoke, and their errors", async () => {
    const tenant = await call("post", "/v1/tenants", 201, { body: { name: "openapi" } });
    const tenantKey = { Authorization: `Bearer ${tenant.body.api_key.key}` };
    await call("post", "/v1/tenants", 400, { body: { name: "" } });
    await call("post", "/v1/tenants", 403, { body: { name: "nope" }, anonymous: true, headers: tenantKey });
    await call("get", "/v1/tenant", 200, { anonymous: true, headers: tenantKey });
    await call("get", "/v1/tenant", 200);

    const key = await call("post", "/v1/keys", 201, { body: { name: "ci" }, anonymous: true, headers: tenantKey });
    await call("post", "/v1/keys", 201, { body: { tenant_id: tenant.body.id } });
    await call("post", "/v1/keys", 201);
    await call("post", "/v1/keys", 400, { body: { name: "x", colour: "red" } });
    await call("post", "/v1/keys", 415, { raw: "name=x", type: "text/plain" });
    await call("post", "/v1/tenants", 415, { raw: "name=x", type: "text/plain" });
    await call("post", "/v1/keys", 403, { body: { tenant_id: missingId }, anonymous: true, headers: tenantKey });
    await call("post", "/v1/keys", 404, { body: { tenant_id: missingId } });
    const list = await call("get", "/v1/keys", 200, { anonymous: true, headers: tenantKey });
    expect(list.body.data.length).toBe(3);
    await call("get", "/v1/keys", 200, { query: { tenant_id: tenant.body.id } });
    await call("get", "/v1/keys", 404, { query: { tenant_id: "not-a-uuid" } });

    const revoked = await call("post", "/v1/keys/{id}/revoke", 200, { params: { id: key.body.id }, anonymous: true, headers: tenantKey });
    expect(revoked.body.revoked_at).toEqual(expect.any(String));
    await call("post", "/v1/keys/{id}/revoke", 404, { params: { id: missingId } });
    const revokedKey = { Authorization: `Bearer ${key.body.key}` };
    await call("get", "/v1/tenant", 401, { anonymous: true, headers: revokedKey });

    // A replayed creation does not show the secret again.
    await call("post", "/v1/keys", 201, { body: { name: "once" }, headers: { "Idempotency-Key": "openapi-key" } });
    const replay = await call("post", "/v1/keys", 201, { body: { name: "once" }, headers: { "Idempotency-Key": "openapi-key" } });
    expect(replay.body.key).toBeNull();
  });

  it("429 when a tenant goes over its rate", async () => {
    const limited = await startApiHarness({ API_RATE_LIMIT_PER_SEC: "1" });
    try {
      const answers = await Promise.all([1, 2, 3].map(() => request(limited.api.url).get("/v1/tenant").set(auth)));
      const tooMany = answers.find((res) => res.status === 429);
      expect(tooMany).toBeDefined();
      expectDocumented("get", "/v1/tenant", tooMany!);
    } finally {
      await limited.close();
    }
  });

  it("400 for a path parameter that is not valid percent-encoding, on every operation that has one", async () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      if (!path.includes("{")) continue;
      for (const method of Object.keys(item) as Method[]) {
        const answer = await sendRaw(h.api.url, {
          method: method.toUpperCase(),
          path: path.replace(/\{\w+\}/g, "%ZZ"),
          headers: path.startsWith("/v1/") ? auth : {},
        });
        expect([method, path, answer.status]).toEqual([method, path, 400]);
        expectDocumented(method, path, asResponse(answer));
      }
    }
  });

  it("429 when an address keeps failing authentication", async () => {
    const throttled = await startApiHarness({ AUTH_FAILURES_PER_MIN: "1" });
    try {
      const wrongKey = { Authorization: "Bearer kex_nope_nope" };
      expect((await request(throttled.api.url).get("/v1/tenant").set(wrongKey)).status).toBe(401);
      const tooMany = await request(throttled.api.url).get("/v1/tenant").set(wrongKey);
      expect(tooMany.status).toBe(429);
      expectDocumented("get", "/v1/tenant", tooMany);
    } finally {
      await throttled.close();
    }
  });

  it("every documented operation was exercised with its success answer", () => {
    const missing: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const success = Object.keys(op.responses)
          .filter((status) => status.startsWith("2"))
          .map(Number);
        const statuses = seen.get(`${method} ${path}`) ?? new Set<number>();
        if (!success.some((status) => statuses.has(status))) missing.push(`${method.toUpperCase()} ${path}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
