import { randomUUID } from "node:crypto";
import { DEFAULT_TENANT_ID } from "@kex/db";
import request from "supertest";
import { auth, startApiHarness, validItem, type ApiHarness } from "./helpers";

/** SSRF at submission, and the delivery routes' edges (the end-to-end behaviour is in apps/worker/test/webhooks.test.ts). */
describe("callback_url SSRF check at submission (ALLOW_PRIVATE_WEBHOOK_URLS off, the default)", () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiHarness({ API_RATE_LIMIT_PER_SEC: "0" });
  });
  afterAll(() => h.close());

  // No DNS is asked about any of these: IP literals stand for themselves and `localhost` is loopback by definition.
  it.each([
    ["http://127.0.0.1:9/hook", "loopback"],
    ["http://10.0.0.1/hook", "private"],
    ["http://169.254.169.254/latest/meta-data/", "linkLocal"],
    ["http://192.168.1.10/hook", "private"],
    ["http://172.20.0.5/hook", "private"],
    ["http://100.64.0.1/hook", "carrierGradeNat"],
    ["http://0.0.0.0:8080/", "unspecified"],
    ["http://localhost:8080/hook", "loopback"],
    ["http://[::1]/hook", "loopback"],
    ["http://[fe80::1]/hook", "linkLocal"],
    ["http://[fd00::1]/hook", "uniqueLocal"],
    ["http://[::ffff:169.254.169.254]/", "linkLocal"],
    ["http://2130706433/hook", "loopback"],
  ])("POST /v1/extensions refuses %s (%s) with 400 naming callback_url", async (url, range) => {
    const res = await request(h.api.url).post("/v1/extensions").set(auth).send({ ...validItem(1), callback_url: url });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("validation_failed");
    expect(res.body.error.message).toMatch(/^invalid request body: callback_url: destination /);
    expect(res.body.error.details).toEqual([{ field: "callback_url", rule: "ssrf_blocked", message: expect.stringContaining(`a ${range} address`) }]);
  });

  it("POST /v1/batches names every refused field, and writes nothing", async () => {
    const before = await h.api.db.prisma.job.count();
    const res = await request(h.api.url)
      .post("/v1/batches")
      .set(auth)
      .send({
        callback_url: "http://169.254.169.254/latest/meta-data/",
        items: [validItem(1), { ...validItem(2), callback_url: "http://10.0.0.1/x" }, validItem(3), { ...validItem(4), callback_url: "http://localhost/x" }],
      });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { field: string; rule: string }) => [d.field, d.rule])).toEqual([
      ["callback_url", "ssrf_blocked"],
      ["items.1.callback_url", "ssrf_blocked"],
      ["items.3.callback_url", "ssrf_blocked"],
    ]);
    expect(res.body.error.message).toContain("(and 2 more)");
    expect(await h.api.db.prisma.job.count()).toBe(before);
    expect(await h.api.db.prisma.batch.count()).toBe(0);
  });

  // Names (resolved through DNS) are covered with a stub resolver in src/callback-urls.test.ts.
  it("a public address is accepted", async () => {
    const ok = await request(h.api.url).post("/v1/extensions").set(auth).send({ ...validItem(5), callback_url: "https://93.184.215.14/hook" });
    expect(ok.status).toBe(202);
  });

  describe("the delivery routes", () => {
    it("404 for an unknown or malformed job, batch or delivery", async () => {
      for (const [method, path, what] of [
        ["get", `/v1/extensions/${randomUUID()}/deliveries`, "extension"],
        ["get", "/v1/extensions/not-a-uuid/deliveries", "extension"],
        ["get", `/v1/batches/${randomUUID()}/deliveries`, "batch"],
        ["post", `/v1/deliveries/${randomUUID()}/redeliver`, "delivery"],
        ["post", "/v1/deliveries/nope/redeliver", "delivery"],
      ] as const) {
        const res = await request(h.api.url)[method](path).set(auth);
        expect([path, res.status, res.body.error.code]).toEqual([path, 404, "not_found"]);
        expect(res.body.error.message).toContain(what);
      }
    });

    it("a job with no callback_url has no deliveries", async () => {
      const job = (await request(h.api.url).post("/v1/extensions").set(auth).send(validItem(7))).body;
      expect((await request(h.api.url).get(`/v1/extensions/${job.id}/deliveries`).set(auth)).body).toEqual({ data: [] });
    });

    it("GET /v1/webhook-secret: the default tenant's secret, made on first use and then stable", async () => {
      const first = await request(h.api.url).get("/v1/webhook-secret").set(auth);
      expect(first.status).toBe(200);
      expect(first.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
      expect((await request(h.api.url).get("/v1/webhook-secret").set(auth)).body).toEqual(first.body);
      expect((await h.api.db.prisma.tenant.findUniqueOrThrow({ where: { id: DEFAULT_TENANT_ID } })).webhookSecret).toBe(first.body.secret);
      expect((await request(h.api.url).get("/v1/webhook-secret")).status).toBe(401);
    });
  });
});

describe("ALLOW_PRIVATE_WEBHOOK_URLS=true", () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiHarness({ ALLOW_PRIVATE_WEBHOOK_URLS: "true" });
  });
  afterAll(() => h.close());

  it("accepts loopback and private destinations (tests, local demos)", async () => {
    for (const url of ["http://127.0.0.1:9/hook", "http://10.0.0.1/hook", "http://localhost:8080/hook"]) {
      const res = await request(h.api.url).post("/v1/extensions").set(auth).send({ ...validItem(1), callback_url: url });
      expect([url, res.status]).toEqual([url, 202]);
    }
  });
});
