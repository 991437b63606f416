import request from "supertest";
import { auth as adminAuth, startApiHarness, validItem, type ApiHarness } from "./helpers";

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness({ API_KEY_CACHE_MS: "0", API_RATE_LIMIT_PER_SEC: "0" });
});
afterAll(() => h.close());

const as = (key: string) => ({ Authorization: `Bearer ${key}` });

async function newTenantKey(name: string): Promise<string> {
  const res = await request(h.api.url).post("/v1/tenants").set(adminAuth).send({ name });
  expect(res.status).toBe(201);
  return res.body.api_key.key;
}

describe("GET /v1/batches, batch name and metadata, each job's batch_index", () => {
  it("stores name and metadata, shows them on the batch, and numbers the jobs in the order of items", async () => {
    const key = await newTenantKey("named");
    const items = [0, 1, 2, 3].map((i) => validItem(100 + i));
    const created = await request(h.api.url)
      .post("/v1/batches")
      .set(as(key))
      .send({ items, name: "harbour shots", metadata: { source_lines: "2-5", owner: { team: "b" } } });
    expect(created.status).toBe(202);

    const batch = await request(h.api.url).get(`/v1/batches/${created.body.id}`).set(as(key));
    expect(batch.body).toMatchObject({
      id: created.body.id,
      name: "harbour shots",
      metadata: { source_lines: "2-5", owner: { team: "b" } },
    });

    const jobs = await request(h.api.url).get(`/v1/extensions?batch_id=${created.body.id}`).set(as(key));
    const indexById = Object.fromEntries(jobs.body.data.map((j: { id: string; batch_index: number }) => [j.id, j.batch_index]));
    expect(created.body.jobs.map((id: string) => indexById[id])).toEqual([0, 1, 2, 3]);
    const single = await request(h.api.url).post("/v1/extensions").set(as(key)).send(validItem(9));
    expect(single.body.batch_index).toBeNull();
  });

  it("lists only the caller's batches, newest first, a page at a time", async () => {
    const a = await newTenantKey("a");
    const b = await newTenantKey("b");
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await request(h.api.url)
        .post("/v1/batches")
        .set(as(a))
        .send({ items: [validItem(i)], name: `a${i}` });
      ids.push(res.body.id);
    }
    await request(h.api.url)
      .post("/v1/batches")
      .set(as(b))
      .send({ items: [validItem(50)], name: "b0" });

    const seen: Array<{ id: string; name: string | null; total: number; counts: { queued: number } }> = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: request.Response = await request(h.api.url)
        .get(`/v1/batches?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`)
        .set(as(a));
      expect(res.status).toBe(200);
      expect(res.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.data);
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen.map((s) => s.id)).toEqual([...ids].reverse());
    expect(seen.map((s) => s.name)).toEqual(["a4", "a3", "a2", "a1", "a0"]);
    expect(seen[0]).toMatchObject({ total: 1, counts: { queued: 1 }, done: false, metadata: null });

    const listB = await request(h.api.url).get("/v1/batches").set(as(b));
    expect(listB.body.data.map((x: { name: string }) => x.name)).toEqual(["b0"]);
  });

  it("refuses a bad name, metadata, limit or cursor with a 400 naming the field", async () => {
    const long = await request(h.api.url)
      .post("/v1/batches")
      .set(adminAuth)
      .send({ items: [validItem(1)], name: "x".repeat(201) });
    expect(long.status).toBe(400);
    expect(long.body.error.details[0]).toMatchObject({ field: "name" });
    const notObject = await request(h.api.url)
      .post("/v1/batches")
      .set(adminAuth)
      .send({ items: [validItem(1)], metadata: [1] });
    expect(notObject.status).toBe(400);
    expect(notObject.body.error.details[0]).toMatchObject({ field: "metadata" });
    const limit = await request(h.api.url).get("/v1/batches?limit=0").set(adminAuth);
    expect(limit.status).toBe(400);
    expect(limit.body.error.details[0]).toMatchObject({ field: "limit" });
    const cursor = await request(h.api.url).get("/v1/batches?cursor=nope").set(adminAuth);
    expect(cursor.status).toBe(400);
    expect(cursor.body.error.details[0]).toMatchObject({ field: "cursor", rule: "invalid_cursor" });
  });

  it("is in the OpenAPI document", async () => {
    const doc = await request(h.api.url).get("/openapi.json");
    expect(doc.body.paths["/v1/batches"].get.operationId).toBe("listBatches");
    expect(Object.keys(doc.body.components.schemas.Batch.properties)).toEqual(expect.arrayContaining(["name", "metadata"]));
    expect(Object.keys(doc.body.components.schemas.Job.properties)).toContain("batch_index");
  });
});
