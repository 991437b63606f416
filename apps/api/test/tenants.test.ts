import { waitFor } from "@kex/testing";
import request from "supertest";
import { auth as adminAuth, startApiHarness, validItem, type ApiHarness } from "./helpers";

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness({ API_KEY_CACHE_MS: "0", API_RATE_LIMIT_PER_SEC: "0" });
});
afterAll(() => h.close());

const as = (key: string) => ({ Authorization: `Bearer ${key}` });

async function newTenant(name: string): Promise<{ id: string; key: string; webhook_secret: string }> {
  const res = await request(h.api.url).post("/v1/tenants").set(adminAuth).send({ name });
  expect(res.status).toBe(201);
  return { id: res.body.id, key: res.body.api_key.key, webhook_secret: res.body.webhook_secret };
}

describe("tenants and API keys", () => {
  it("creates a tenant with a whsec_ secret and a key shown once, stored hashed", async () => {
    const res = await request(h.api.url).post("/v1/tenants").set(adminAuth).send({ name: "acme" });
    expect(res.status).toBe(201);
    expect(res.body.webhook_secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(res.body.api_key.key).toMatch(/^kex_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    expect(res.body.api_key.key.startsWith(`kex_${res.body.api_key.prefix}_`)).toBe(true);
    const stored = await h.api.db.prisma.apiKey.findUniqueOrThrow({ where: { id: res.body.api_key.id } });
    expect(stored.keyHash).not.toContain(res.body.api_key.key.split("_")[2]);
    const list = await request(h.api.url).get("/v1/keys").set(as(res.body.api_key.key));
    expect(list.body.data).toHaveLength(1);
    expect(JSON.stringify(list.body)).not.toContain(res.body.api_key.key);
    // Use is recorded off the request path, so it shows up shortly after.
    const again = await waitFor(async () => {
      const r = await request(h.api.url).get("/v1/keys").set(as(res.body.api_key.key));
      return r.body.data[0].last_used_at !== null ? r : undefined;
    }, { timeoutMs: 10_000, what: "last_used_at" });
    expect(Date.parse(again.body.data[0].last_used_at)).toBeLessThanOrEqual(Date.now());
  });

  it("scopes every /v1 route to the key's tenant: another tenant's job or batch is a 404", async () => {
    const a = await newTenant("a");
    const b = await newTenant("b");
    const job = (await request(h.api.url).post("/v1/extensions").set(as(a.key)).send(validItem(1))).body;
    const batch = (await request(h.api.url).post("/v1/batches").set(as(a.key)).send({ items: [validItem(2)] })).body;
    expect((await request(h.api.url).get(`/v1/extensions/${job.id}`).set(as(a.key))).status).toBe(200);

    for (const [method, path] of [
      ["get", `/v1/extensions/${job.id}`],
      ["get", `/v1/extensions/${job.id}/events`],
      ["get", `/v1/batches/${batch.id}`],
      ["post", `/v1/extensions/${job.id}/cancel`],
      ["post", `/v1/batches/${batch.id}/cancel`],
    ] as const) {
      const res = await request(h.api.url)[method](path).set(as(b.key));
      expect([path, res.status]).toEqual([path, 404]);
    }
    const listB = await request(h.api.url).get("/v1/extensions").set(as(b.key));
    expect(listB.body.data).toEqual([]);
    const listBByBatch = await request(h.api.url).get(`/v1/extensions?batch_id=${batch.id}`).set(as(b.key));
    expect(listBByBatch.body.data).toEqual([]);
    const listA = await request(h.api.url).get("/v1/extensions").set(as(a.key));
    expect(listA.body.data.map((j: { id: string }) => j.id).sort()).toEqual([job.id, batch.jobs[0]].sort());
    // Still there for its owner after B's attempts.
    expect((await request(h.api.url).get(`/v1/extensions/${job.id}`).set(as(a.key))).body.status).toBe("queued");
  });

  it("keeps Idempotency-Keys per tenant", async () => {
    const a = await newTenant("idem-a");
    const b = await newTenant("idem-b");
    const ja = await request(h.api.url).post("/v1/extensions").set(as(a.key)).set("Idempotency-Key", "same").send(validItem(3));
    const jb = await request(h.api.url).post("/v1/extensions").set(as(b.key)).set("Idempotency-Key", "same").send(validItem(3));
    expect(ja.status).toBe(202);
    expect(jb.status).toBe(202);
    expect(ja.body.id).not.toBe(jb.body.id);
  });

  it("revokes keys: the key stops working at once; other keys keep working", async () => {
    const a = await newTenant("revoke");
    const second = await request(h.api.url).post("/v1/keys").set(as(a.key)).send({ name: "ci" });
    expect(second.status).toBe(201);
    expect(second.body).toMatchObject({ name: "ci", tenant_id: a.id, revoked_at: null });
    const revoked = await request(h.api.url).post(`/v1/keys/${second.body.id}/revoke`).set(as(a.key));
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).not.toBeNull();
    const denied = await request(h.api.url).get("/v1/extensions").set(as(second.body.key));
    expect(denied.status).toBe(401);
    expect(denied.body.error.message).toMatch(/revoked/);
    expect((await request(h.api.url).get("/v1/extensions").set(as(a.key))).status).toBe(200);
  });

  it("refuses what a tenant key may not do", async () => {
    const a = await newTenant("limits-a");
    const b = await newTenant("limits-b");
    expect((await request(h.api.url).post("/v1/tenants").set(as(a.key)).send({ name: "x" })).status).toBe(403);
    expect((await request(h.api.url).post("/v1/keys").set(as(a.key)).send({ tenant_id: b.id })).status).toBe(403);
    const bKeys = (await request(h.api.url).get("/v1/keys").set(as(b.key))).body.data;
    expect((await request(h.api.url).post(`/v1/keys/${bKeys[0].id}/revoke`).set(as(a.key))).status).toBe(404);
    expect((await request(h.api.url).post("/v1/keys").set(as(a.key)).send({ name: "" })).status).toBe(400);
    expect((await request(h.api.url).post("/v1/keys").set(as(a.key)).send({ extra: 1 })).status).toBe(400);
    expect((await request(h.api.url).post("/v1/tenants").set(adminAuth).send({})).status).toBe(400);
    expect((await request(h.api.url).post("/v1/keys/nope/revoke").set(as(a.key))).status).toBe(404);
  });

  it.each([
    ["a made-up key", "kex_abcdefghijkl_" + "x".repeat(43)],
    ["a real prefix with a wrong secret", null],
  ])("401 for %s", async (_name, key) => {
    let token = key;
    if (!token) {
      const a = await newTenant("wrong-secret");
      token = a.key.slice(0, -5) + "AAAAA";
    }
    const res = await request(h.api.url).get("/v1/extensions").set(as(token));
    expect(res.status).toBe(401);
  });
});

describe("per-tenant rate limit", () => {
  let limited: ApiHarness;
  beforeAll(async () => {
    limited = await startApiHarness({ API_RATE_LIMIT_PER_SEC: "5" });
  });
  afterAll(() => limited.close());

  it("answers 429 with Retry-After past the limit, for that tenant only", async () => {
    const t = (await request(limited.api.url).post("/v1/tenants").set(adminAuth).send({ name: "busy" })).body;
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    for (let i = 0; i < 8; i++) {
      const res = await request(limited.api.url).get("/v1/extensions").set(as(t.api_key.key));
      statuses.push(res.status);
      if (res.status === 429) {
        retryAfter = res.headers["retry-after"];
        expect(res.body.error.code).toBe("rate_limited");
      }
    }
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    // Another tenant (the admin's default one) is not affected.
    const other = await request(limited.api.url).get("/v1/extensions").set(adminAuth);
    expect(other.status).toBe(200);
  });
});
