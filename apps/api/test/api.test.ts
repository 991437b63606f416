import { BATCH_MAX_ITEMS, PROMPT_MAX_CHARS } from "@kex/contract";
import { countInFlight, getJobEvents } from "@kex/db";
import { TEST_QUEUE_BACKEND } from "@kex/testing";
import request from "supertest";
import { auth, startApiHarness, validItem, type ApiHarness } from "./helpers";

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness();
});
afterAll(async () => {
  await h.close();
});

const post = (path: string) => request(h.api.url).post(path).set(auth);
const get = (path: string) => request(h.api.url).get(path).set(auth);
const countJobs = () => h.api.db.prisma.job.count();

describe("authentication", () => {
  it.each([
    ["no header", {}],
    ["wrong token", { Authorization: "Bearer not-the-token-at-all" }],
    ["not a bearer header", { Authorization: "Basic abc" }],
    ["empty bearer", { Authorization: "Bearer " }],
  ])("rejects %s with 401 and a JSON error", async (_name, headers) => {
    const res = await request(h.api.url).get("/v1/extensions").set(headers);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("unauthorized");
  });

  it("does not require the API key for health or callbacks", async () => {
    expect((await request(h.api.url).get("/healthz")).status).toBe(200);
  });
});

describe("POST /v1/extensions", () => {
  it("stores the job, logs its creation and enqueues it", async () => {
    const res = await post("/v1/extensions").send({
      video_id: "812345678901234567",
      prompt: "a slow dolly out",
      negative_prompt: "blur",
      cfg_scale: 0.7,
      callback_url: "https://client.example/hook",
      metadata: { sku: 42 },
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      status: "queued",
      batch_id: null,
      video_id: "812345678901234567",
      prompt: "a slow dolly out",
      negative_prompt: "blur",
      cfg_scale: 0.7,
      callback_url: "https://client.example/hook",
      metadata: { sku: 42 },
      upstream_task_id: null,
      attempts: 0,
      result: null,
      error: null,
      submitted_at: null,
      finished_at: null,
    });
    const row = await h.api.db.prisma.job.findUnique({ where: { id: res.body.id } });
    expect(row?.status).toBe("queued");
    const events = await getJobEvents(h.api.db, res.body.id);
    expect(events.map((e) => [e.source, e.type, e.toStatus])).toEqual([["api", "created", "queued"]]);
    const queued = await h.queue.getJob(res.body.id);
    expect(queued?.data).toEqual({ jobId: res.body.id });
  });

  it("answers 400 invalid_json for malformed JSON and stores nothing", async () => {
    const before = await countJobs();
    const res = await post("/v1/extensions").set("Content-Type", "application/json").send('{"video_id": "1", "prompt": ');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_json");
    expect(await countJobs()).toBe(before);
  });

  it("answers 415 for a body that is not JSON", async () => {
    const res = await post("/v1/extensions").set("Content-Type", "text/plain").send("video_id=1");
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe("unsupported_media_type");
  });

  it.each([
    ["missing prompt", { video_id: "812345678901234567" }, "prompt"],
    ["missing video_id", { prompt: "x" }, "video_id"],
    ["empty prompt", { video_id: "1", prompt: "" }, "prompt"],
    ["prompt one past the limit", { video_id: "1", prompt: "x".repeat(PROMPT_MAX_CHARS + 1) }, "prompt"],
    ["negative_prompt one past the limit", { video_id: "1", prompt: "x", negative_prompt: "n".repeat(PROMPT_MAX_CHARS + 1) }, "negative_prompt"],
    ["cfg_scale as a string", { video_id: "1", prompt: "x", cfg_scale: "0.5" }, "cfg_scale"],
    ["cfg_scale above 1", { video_id: "1", prompt: "x", cfg_scale: 1.01 }, "cfg_scale"],
    ["video_id as a number", { video_id: 812345678, prompt: "x" }, "video_id"],
    ["callback_url not http", { video_id: "1", prompt: "x", callback_url: "ftp://host/x" }, "callback_url"],
    ["an unknown field", { video_id: "1", prompt: "x", priority: "high" }, "priority"],
  ])("rejects %s with 400 naming the field", async (_name, body, field) => {
    const before = await countJobs();
    const res = await post("/v1/extensions").send(body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("validation_failed");
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    expect(await countJobs()).toBe(before);
  });

  it("accepts prompts at exactly the limit", async () => {
    const res = await post("/v1/extensions").send({ video_id: "1", prompt: "p".repeat(PROMPT_MAX_CHARS), negative_prompt: "n".repeat(PROMPT_MAX_CHARS), cfg_scale: 1 });
    expect(res.status).toBe(202);
  });

  it("rejects an array body", async () => {
    const res = await post("/v1/extensions").send([validItem()]);
    expect(res.status).toBe(400);
  });

  it("replays the same job for the same Idempotency-Key and body, 409 for a different body", async () => {
    const body = validItem(7);
    const before = await countJobs();
    const first = await post("/v1/extensions").set("Idempotency-Key", "key-abc").send(body);
    const second = await post("/v1/extensions").set("Idempotency-Key", "key-abc").send({ prompt: body.prompt, video_id: body.video_id });
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body).toEqual(first.body);
    expect(second.headers["idempotent-replayed"]).toBe("true");
    const conflict = await post("/v1/extensions").set("Idempotency-Key", "key-abc").send({ ...body, prompt: "other" });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe("idempotency_conflict");
    const otherRoute = await post("/v1/batches").set("Idempotency-Key", "key-abc").send({ items: [body] });
    expect(otherRoute.status).toBe(409);
    expect(await countJobs()).toBe(before + 1);
  });

  it("replays a 4xx answer too, and keys batches the same way", async () => {
    const bad = await post("/v1/extensions").set("Idempotency-Key", "key-bad").send({ video_id: "1" });
    const badAgain = await post("/v1/extensions").set("Idempotency-Key", "key-bad").send({ video_id: "1" });
    expect(bad.status).toBe(400);
    expect(badAgain.status).toBe(400);
    expect(badAgain.headers["idempotent-replayed"]).toBe("true");
    const before = await countJobs();
    const b1 = await post("/v1/batches").set("Idempotency-Key", "batch-1").send({ items: [validItem(1), validItem(2)] });
    const b2 = await post("/v1/batches").set("Idempotency-Key", "batch-1").send({ items: [validItem(1), validItem(2)] });
    expect(b2.body).toEqual(b1.body);
    expect(await countJobs()).toBe(before + 2);
  });

  it("lets concurrent requests with one key create one job", async () => {
    const before = await countJobs();
    const results = await Promise.all(Array.from({ length: 5 }, () => post("/v1/extensions").set("Idempotency-Key", "race").send(validItem(9))));
    const created = results.filter((r) => r.status === 202);
    expect(created.length).toBeGreaterThanOrEqual(1);
    for (const r of results) expect([202, 409]).toContain(r.status);
    expect(new Set(created.map((r) => r.body.id)).size).toBe(1);
    expect(await countJobs()).toBe(before + 1);
  });

  it("rejects an Idempotency-Key over 255 characters", async () => {
    const res = await post("/v1/extensions").set("Idempotency-Key", "k".repeat(256)).send(validItem());
    expect(res.status).toBe(400);
  });
});

describe("POST /v1/batches", () => {
  it("stores every item with the batch callback as default and enqueues them all", async () => {
    const res = await post("/v1/batches").send({
      callback_url: "https://client.example/batch",
      items: [validItem(1), { ...validItem(2), callback_url: "https://client.example/own" }, validItem(3)],
    });
    expect(res.status).toBe(202);
    expect(res.body.total).toBe(3);
    expect(res.body.jobs).toHaveLength(3);
    const rows = await h.api.db.prisma.job.findMany({ where: { batchId: res.body.id }, orderBy: { videoId: "asc" } });
    expect(rows.map((r) => r.callbackUrl)).toEqual(["https://client.example/batch", "https://client.example/own", "https://client.example/batch"]);
    expect(await h.api.db.prisma.jobEvent.count({ where: { jobId: { in: res.body.jobs } } })).toBe(3);
    for (const id of res.body.jobs) expect(await h.queue.getJob(id)).toBeDefined();
    const batch = await get(`/v1/batches/${res.body.id}`);
    expect(batch.status).toBe(200);
    expect(batch.body).toMatchObject({ id: res.body.id, total: 3, done: false, counts: { queued: 3, succeeded: 0, failed: 0 } });
  });

  it("lists every bad item by index and stores none of the batch", async () => {
    const before = await countJobs();
    const res = await post("/v1/batches").send({
      items: [validItem(1), { video_id: "1" }, validItem(2), { ...validItem(3), cfg_scale: 2 }, { ...validItem(4), extra: 1 }],
    });
    expect(res.status).toBe(400);
    const fields = res.body.error.details.map((d: { field: string }) => d.field);
    expect(fields).toEqual(expect.arrayContaining(["items.1.prompt", "items.3.cfg_scale", "items.4.extra"]));
    expect(fields.some((f: string) => f.startsWith("items.0") || f.startsWith("items.2"))).toBe(false);
    expect(await countJobs()).toBe(before);
    expect(await h.api.db.prisma.batch.count({ where: { total: 5 } })).toBe(0);
  });

  it.each([
    ["no items", { items: [] }],
    ["items not an array", { items: "x" }],
    ["missing items", {}],
    ["an unknown field", { items: [validItem()], priority: 1 }],
  ])("rejects %s", async (_name, body) => {
    const res = await post("/v1/batches").send(body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("validation_failed");
  });

  it(`accepts ${BATCH_MAX_ITEMS} items and refuses ${BATCH_MAX_ITEMS + 1} without storing any`, async () => {
    const before = await countJobs();
    const over = await post("/v1/batches").send({ items: Array.from({ length: BATCH_MAX_ITEMS + 1 }, (_, i) => validItem(i)) });
    expect(over.status).toBe(400);
    expect(over.body.error.details[0].field).toBe("items");
    expect(await countJobs()).toBe(before);

    const ok = await post("/v1/batches").send({ items: Array.from({ length: BATCH_MAX_ITEMS }, (_, i) => validItem(i)) });
    expect(ok.status).toBe(202);
    expect(new Set(ok.body.jobs).size).toBe(BATCH_MAX_ITEMS);
    const batch = await get(`/v1/batches/${ok.body.id}`);
    expect(batch.body.counts.queued).toBe(BATCH_MAX_ITEMS);
    expect(await h.queue.getJobCountByTypes("waiting", "delayed", "prioritized")).toBeGreaterThanOrEqual(BATCH_MAX_ITEMS);
  });
});

describe("GET /v1/extensions", () => {
  let batchId: string;
  let ids: string[];
  beforeAll(async () => {
    const res = await post("/v1/batches").send({ items: Array.from({ length: 25 }, (_, i) => validItem(i)) });
    batchId = res.body.id;
    ids = res.body.jobs;
  });

  it("pages through a batch newest first without duplicates or gaps", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: request.Response = await get(`/v1/extensions?batch_id=${batchId}&limit=7${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.data.map((j: { id: string }) => j.id));
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(4);
    expect(seen).toHaveLength(25);
    expect(new Set(seen)).toEqual(new Set(ids));
    // A page added after the first request does not shift later pages.
    const rows = await h.api.db.prisma.job.findMany({ where: { batchId }, orderBy: [{ createdAt: "desc" }, { id: "desc" }] });
    expect(seen).toEqual(rows.map((r) => r.id));
  });

  it("filters by status", async () => {
    await h.api.db.prisma.job.update({ where: { id: ids[0]! }, data: { status: "failed" } });
    const res = await get(`/v1/extensions?batch_id=${batchId}&status=failed`);
    expect(res.body.data.map((j: { id: string }) => j.id)).toEqual([ids[0]]);
    expect(res.body.next_cursor).toBeNull();
  });

  it.each([
    ["limit over the maximum", "limit=201", "limit"],
    ["limit zero", "limit=0", "limit"],
    ["limit not a number", "limit=abc", "limit"],
    ["an unknown status", "status=done", "status"],
    ["a batch_id that is not a uuid", "batch_id=42", "batch_id"],
    ["an unknown parameter", "sort=asc", "sort"],
    ["a forged cursor", "cursor=bm9wZQ", "cursor"],
  ])("rejects %s with 400", async (_name, qs, field) => {
    const res = await get(`/v1/extensions?${qs}`);
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { field: string }) => d.field).join(" ")).toContain(field);
  });
});

describe("unknown ids", () => {
  it.each([
    "/v1/extensions/0b7f6f8e-1111-4222-8333-444455556666",
    "/v1/extensions/not-a-uuid",
    "/v1/extensions/0b7f6f8e-1111-4222-8333-444455556666/events",
    "/v1/batches/0b7f6f8e-1111-4222-8333-444455556666",
    "/v1/batches/nope",
  ])("GET %s → 404", async (path) => {
    const res = await get(path);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("not_found");
  });

  it("answers unknown routes with a JSON 404", async () => {
    const res = await get("/v1/nothing-here");
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("route_not_found");
  });
});

describe("health", () => {
  it("/readyz checks Postgres, the queue's store and the upstream account", async () => {
    const res = await request(h.api.url).get("/readyz");
    expect(res.body.checks).toEqual({ postgres: "ok", queue: "ok", upstream_account: "ok", accounts: { default: "ok" } });
    expect(res.status).toBe(200);
    expect(res.body.queue_backend).toBe(TEST_QUEUE_BACKEND);
    expect(res.body.checks).toEqual({ postgres: "ok", queue: "ok", upstream_account: "ok", accounts: { default: "ok" } });
  });

  it("counts no slots while nothing is upstream", async () => {
    expect(await countInFlight(h.api.db)).toBe(0);
  });
});
