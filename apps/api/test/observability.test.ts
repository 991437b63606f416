import { callbackToken, createLogger } from "@kex/core";
import { parseMetrics, sumSamples } from "@kex/metrics";
import request from "supertest";
import type { RunningApi } from "../src/server";
import { API_TOKEN, auth, CALLBACK_SECRET, startApiHarness, validItem, type ApiHarness } from "./helpers";

/** A real API whose log lines are kept (the shared harness logs nothing by default). */
let h: ApiHarness;
let api: RunningApi;
const lines: string[] = [];
const logged = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  const logger = createLogger({ name: "api", level: "debug", destination: { write: (line: string) => void lines.push(line) } });
  h = await startApiHarness({}, { logger });
  api = h.api;
});
afterAll(() => h.close());

async function scrape(): Promise<ReturnType<typeof parseMetrics>> {
  const res = await request(api.url).get("/metrics");
  expect(res.status).toBe(200);
  return parseMetrics(res.text);
}

describe("request logs", () => {
  it("carry the request id on every line of a request, echo it back, and never print the bearer or callback token", async () => {
    const created = await request(api.url).post("/v1/extensions").set(auth).set("X-Request-Id", "req-create-0001").send(validItem(1));
    expect(created.status).toBe(202);
    expect(created.headers["x-request-id"]).toBe("req-create-0001");
    const jobId = created.body.id as string;

    // Upstream's callback: the token is in the query string.
    const token = callbackToken(CALLBACK_SECRET, jobId);
    const callback = await request(api.url)
      .post(`/webhooks/kling/${jobId}?token=${encodeURIComponent(token)}`)
      .set("X-Request-Id", "req-callback-0002")
      .send({ task_id: "100000000000000001", task_status: "processing" });
    expect(callback.status).toBe(200);
    const rejected = await request(api.url)
      .post(`/webhooks/kling/${jobId}?token=forged-token-value`)
      .set("X-Request-Id", "req-forged-0003")
      .send({});
    expect(rejected.status).toBe(401);

    const entries = logged();
    const ofCreate = entries.filter((e) => e.requestId === "req-create-0001");
    expect(ofCreate.map((e) => e.msg)).toEqual(expect.arrayContaining(["job created", "request completed"]));
    expect(ofCreate.find((e) => e.msg === "job created")).toMatchObject({ jobId });
    expect(ofCreate.find((e) => e.msg === "request completed")).toMatchObject({
      service: "api",
      req: { method: "POST", url: "/v1/extensions" },
      res: { statusCode: 202 },
    });

    const ofCallback = entries.filter((e) => e.requestId === "req-callback-0002");
    expect(ofCallback.find((e) => e.msg === "callback changed nothing")).toMatchObject({ jobId });
    expect(ofCallback.find((e) => e.msg === "request completed")).toMatchObject({
      req: { url: `/webhooks/kling/${jobId}` },
      res: { statusCode: 200 },
    });
    const ofForged = entries.filter((e) => e.requestId === "req-forged-0003");
    expect(ofForged.map((e) => e.msg)).toEqual(expect.arrayContaining(["callback rejected: bad or missing token", "request completed"]));
    expect(ofForged.find((e) => e.msg === "request completed")).toMatchObject({ level: 40, res: { statusCode: 401 } });

    const everything = lines.join("");
    expect(everything).not.toContain(API_TOKEN);
    expect(everything).not.toContain(token);
    expect(everything).not.toContain(encodeURIComponent(token));
    expect(everything).not.toContain("forged-token-value");
    expect(everything).not.toContain("Bearer");
  });

  it("gives a request without a sane X-Request-Id a fresh one", async () => {
    const none = await request(api.url).get("/healthz");
    const odd = await request(api.url).get("/healthz").set("X-Request-Id", "two words");
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    expect(none.headers["x-request-id"]).toMatch(uuid);
    expect(odd.headers["x-request-id"]).toMatch(uuid);
    expect(odd.headers["x-request-id"]).not.toBe(none.headers["x-request-id"]);
    // Probes are logged at debug, still with their id.
    expect(logged().find((e) => e.requestId === odd.headers["x-request-id"])).toMatchObject({ level: 20, req: { url: "/healthz" } });
  });

  it("never logs the Basic credentials of the queue dashboard", async () => {
    const basic = Buffer.from(`ops:${API_TOKEN}`).toString("base64");
    const res = await request(api.url).get("/admin/queues").set("Authorization", `Basic ${basic}`).set("X-Request-Id", "req-admin-0004");
    expect(res.status).toBe(200);
    expect(logged().some((e) => e.requestId === "req-admin-0004")).toBe(true);
    expect(lines.join("")).not.toContain(basic);
    expect(lines.join("")).not.toContain(API_TOKEN);
  });
});

describe("GET /metrics", () => {
  it("needs no auth and speaks the Prometheus text format, with Node's process metrics", async () => {
    const res = await request(api.url).get("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = parseMetrics(res.text);
    expect(samples.some((s) => s.name === "process_cpu_user_seconds_total")).toBe(true);
    expect(samples.some((s) => s.name === "nodejs_heap_size_used_bytes")).toBe(true);
  });

  it("counts created jobs by kind; an idempotent replay is not a new job", async () => {
    const before = await scrape();
    const single = await request(api.url).post("/v1/extensions").set(auth).set("Idempotency-Key", "metrics-key-1").send(validItem(10));
    expect(single.status).toBe(202);
    const replay = await request(api.url).post("/v1/extensions").set(auth).set("Idempotency-Key", "metrics-key-1").send(validItem(10));
    expect(replay.body.id).toBe(single.body.id);
    const batch = await request(api.url)
      .post("/v1/batches")
      .set(auth)
      .send({ items: [validItem(11), validItem(12), validItem(13)] });
    expect(batch.status).toBe(202);
    const invalid = await request(api.url)
      .post("/v1/batches")
      .set(auth)
      .send({ items: [{ prompt: "" }] });
    expect(invalid.status).toBe(400);
    const after = await scrape();
    const created = (s: typeof before, kind: string) => sumSamples(s, "kex_jobs_created_total", { kind });
    expect(created(after, "single") - created(before, "single")).toBe(1);
    expect(created(after, "batch") - created(before, "batch")).toBe(3);
  });

  it("times callbacks by outcome", async () => {
    const job = await request(api.url).post("/v1/extensions").set(auth).send(validItem(20));
    const jobId = job.body.id as string;
    const before = await scrape();
    const token = callbackToken(CALLBACK_SECRET, jobId);
    await request(api.url)
      .post(`/webhooks/kling/${jobId}?token=${token}`)
      .send({ task_id: "100000000000000002", task_status: "processing" })
      .expect(200);
    await request(api.url).post(`/webhooks/kling/${jobId}?token=nope`).send({}).expect(401);
    await request(api.url).post(`/webhooks/kling/${jobId}?token=${token}`).send({ task_status: "bogus" }).expect(400);
    await request(api.url)
      .post(
        `/webhooks/kling/0b7f6f8e-1111-4222-8333-444455556666?token=${callbackToken(CALLBACK_SECRET, "0b7f6f8e-1111-4222-8333-444455556666")}`,
      )
      .send({ task_id: "1", task_status: "processing" })
      .expect(404);
    const after = await scrape();
    const count = (s: typeof before, outcome: string) => sumSamples(s, "kex_webhook_duration_seconds_count", { outcome });
    for (const outcome of ["unchanged", "unauthorized", "invalid", "not_found"]) {
      expect({ outcome, delta: count(after, outcome) - count(before, outcome) }).toEqual({ outcome, delta: 1 });
    }
    expect(sumSamples(after, "kex_webhook_duration_seconds_bucket", { outcome: "unauthorized", le: "+Inf" })).toBeGreaterThanOrEqual(1);
  });
});

describe("/admin/queues (the BullMQ dashboard)", () => {
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

  it("answers 401 with a Basic challenge without the API token as password", async () => {
    for (const authorization of [
      undefined,
      basic("ops", "wrong-password-000000"),
      `Bearer ${API_TOKEN}`,
      "Basic !!!",
      basic(API_TOKEN, ""),
    ]) {
      const req = request(api.url).get("/admin/queues");
      const res = await (authorization ? req.set("Authorization", authorization) : req);
      expect(res.status).toBe(401);
      expect(res.headers["www-authenticate"]).toBe('Basic realm="kex admin"');
      expect(res.body.error.code).toBe("unauthorized");
    }
    const api401 = await request(api.url).get("/admin/queues/api/queues");
    expect(api401.status).toBe(401);
  });

  it("serves the dashboard page with any user name and the API token", async () => {
    const res = await request(api.url).get("/admin/queues").set("Authorization", basic("anyone", API_TOKEN));
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/text\/html/);
    expect(res.text).toContain("kex queues");
  });

  it("lists the submit and maintenance queues through its JSON API", async () => {
    const res = await request(api.url).get("/admin/queues/api/queues").set("Authorization", basic("", API_TOKEN));
    expect(res.status).toBe(200);
    const names = (res.body.queues as Array<{ name: string }>).map((q) => q.name).sort();
    expect(names).toEqual(["maintenance", "submit"]);
  });

  it("reads the queue on either backend: a waiting submit shows in its counts and job list", async () => {
    await h.queue.add("submit", { jobId: "dashboard-probe" }, { jobId: "dashboard-probe" });
    try {
      const res = await request(api.url).get("/admin/queues/api/queues?activeQueue=submit&status=waiting&page=1").set("Authorization", basic("", API_TOKEN));
      expect(res.status).toBe(200);
      const submit = (res.body.queues as Array<{ name: string; counts: Record<string, number>; jobs: Array<{ id: string }> }>).find((q) => q.name === "submit")!;
      expect(submit.counts.waiting).toBeGreaterThanOrEqual(1);
      expect(submit.jobs.map((j) => j.id)).toContain("dashboard-probe");
    } finally {
      await h.queue.remove("dashboard-probe");
    }
  });
});
