import { brotliCompressSync, deflateSync, gzipSync } from "node:zlib";
import { BATCH_MAX_ITEMS } from "@kex/contract";
import { auth, startApiHarness, validItem, type ApiHarness } from "./helpers";
import { sendRaw, type RawAnswer } from "./raw-http";

/**
 * JSON bodies are read as a stream and refused as soon as they pass a limit (items, nesting, values,
 * bytes after decompression), so a hostile body costs what it took to see that, not what it claims
 * to be; and every route that takes JSON has one content-type rule.
 */

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness({ API_RATE_LIMIT_PER_SEC: "0" });
});
afterAll(() => h.close());

const JSON_TYPE = { "Content-Type": "application/json" };
const countJobs = () => h.api.db.prisma.job.count();
const post = (path: string, body: Buffer | string, headers: Record<string, string> = JSON_TYPE, keepOpen = false) =>
  sendRaw(h.api.url, { method: "POST", path, headers: { ...auth, ...headers }, body, keepOpen, timeoutMs: 5000 });

function expectError(answer: RawAnswer, status: number, code: string, detail?: { field: string; rule: string }): void {
  expect({ status: answer.status, code: (answer.json as { error?: { code?: string } })?.error?.code }).toEqual({ status, code });
  if (detail) expect((answer.json as { error: { details: unknown[] } }).error.details).toEqual([expect.objectContaining(detail)]);
}

describe("limits counted while the body is read", () => {
  it(`refuses a batch as soon as its items pass ${BATCH_MAX_ITEMS}, before the body has ended`, async () => {
    const before = await countJobs();
    const start = `{"items":[${"{},".repeat(BATCH_MAX_ITEMS + 5)}`;
    const answer = await post("/v1/batches", start, JSON_TYPE, true);
    expectError(answer, 400, "validation_failed", { field: "items", rule: "too_big" });
    expect(answer.json).toMatchObject({ error: { message: expect.stringContaining(String(BATCH_MAX_ITEMS)) } });
    expect(await countJobs()).toBe(before);
  });

  it("answers a batch of empty items with the first 100 problems and a count of the rest, not a 2 MB list", async () => {
    const answer = await post("/v1/batches", `{"items":[${Array(BATCH_MAX_ITEMS).fill("{}").join(",")}]}`);
    expectError(answer, 400, "validation_failed");
    const { error } = answer.json as { error: { message: string; details: unknown[] } };
    expect(error.details).toHaveLength(100);
    expect(error.message).toContain(`(and ${2 * BATCH_MAX_ITEMS - 1} more)`);
  });

  it("refuses nesting past the depth limit before the body has ended, naming where", async () => {
    const answer = await post("/v1/batches", "[".repeat(10_000), JSON_TYPE, true);
    expectError(answer, 400, "validation_failed", { field: Array(64).fill("0").join("."), rule: "too_deep" });
    const deepMetadata = `{"video_id":"1","prompt":"x","metadata":{"a":${'{"a":'.repeat(100)}`;
    const inMetadata = await post("/v1/extensions", deepMetadata, JSON_TYPE, true);
    expectError(inMetadata, 400, "validation_failed", { field: `metadata${".a".repeat(63)}`, rule: "too_deep" });
  });

  it("caps the inflated size of a compressed body, and stops inflating at the first limit", async () => {
    // 1.5 MB of metadata in a few KB on the wire: over the 1 MB limit of a single extension.
    const metadata = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`k${i}`, "x".repeat(60_000)]));
    const inflated = gzipSync(JSON.stringify({ video_id: "1", prompt: "x", metadata }));
    expect(inflated.length).toBeLessThan(10_000);
    const answer = await post("/v1/extensions", inflated, { ...JSON_TYPE, "Content-Encoding": "gzip" });
    expectError(answer, 413, "payload_too_large", { field: "(body)", rule: "too_large" });

    // 20 MB of `{}` items in ~20 KB: refused at the item limit, long before 20 MB are inflated.
    const bomb = gzipSync(`{"items":[${"{},".repeat(7_000_000)}{}]}`);
    expect(bomb.length).toBeLessThan(100_000);
    expectError(await post("/v1/batches", bomb, { ...JSON_TYPE, "Content-Encoding": "gzip" }), 400, "validation_failed", { field: "items", rule: "too_big" });
  });

  it("parses and checks a big batch off the event loop: a valid one is stored whole, an invalid one refused before its Idempotency-Key is claimed", async () => {
    const before = await countJobs();
    const items = Array.from({ length: 300 }, (_, i) => ({ ...validItem(i), prompt: `${"a long prompt ".repeat(150)}${i}` }));
    const body = JSON.stringify({ items });
    expect(body.length).toBeGreaterThan(512 * 1024);
    const accepted = await post("/v1/batches", body);
    expect(accepted.status).toBe(202);
    expect(await countJobs()).toBe(before + 300);

    const invalid = JSON.stringify({ items: [...items.slice(1), { ...items[0], prompt: "" }] });
    const refused = await post("/v1/batches", invalid, { ...JSON_TYPE, "Idempotency-Key": "big-invalid" });
    expectError(refused, 400, "validation_failed", { field: "items.299.prompt", rule: "too_small" });
    const retried = await post("/v1/batches", body, { ...JSON_TYPE, "Idempotency-Key": "big-invalid" });
    expect(retried.status).toBe(202);
    expect(await countJobs()).toBe(before + 600);
  });

  it("refuses a declared Content-Length over the route's limit without reading the body", async () => {
    const answer = await sendRaw(h.api.url, {
      method: "POST",
      path: "/v1/extensions",
      headers: { ...auth, ...JSON_TYPE, "Content-Length": String(2 * 1024 * 1024) },
      body: '{"video_id":',
      keepOpen: true,
      timeoutMs: 5000,
    });
    expectError(answer, 413, "payload_too_large", { field: "(body)", rule: "too_large" });
  });

  it("accepts the same body gzip-, deflate- or br-compressed, and refuses data that is not what it claims", async () => {
    const body = Buffer.from(JSON.stringify({ items: [validItem(1), validItem(2)] }));
    for (const [encoding, data] of [
      ["gzip", gzipSync(body)],
      ["deflate", deflateSync(body)],
      ["br", brotliCompressSync(body)],
      ["identity", body],
    ] as const) {
      const answer = await post("/v1/batches", data, { ...JSON_TYPE, "Content-Encoding": encoding });
      expect([encoding, answer.status]).toEqual([encoding, 202]);
    }
    expectError(await post("/v1/batches", body, { ...JSON_TYPE, "Content-Encoding": "gzip" }), 400, "invalid_json");
  });

  it("refuses bytes that are not UTF-8 and a top-level value that is not an object or array", async () => {
    const latin1 = Buffer.concat([Buffer.from('{"video_id":"1","prompt":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]);
    expectError(await post("/v1/extensions", latin1), 400, "invalid_json");
    expectError(await post("/v1/extensions", '"just a string"'), 400, "invalid_json");
    expectError(await post("/v1/extensions", '{"video_id":"1","prompt":"x"} trailing'), 400, "invalid_json");
  });
});

describe("one content-type rule for every route that takes JSON", () => {
  const ROUTES = ["/v1/extensions", "/v1/batches", "/v1/chains", "/v1/keys", "/v1/tenants"];

  it.each([
    ["text/plain", { "Content-Type": "text/plain" }],
    ["form data", { "Content-Type": "application/x-www-form-urlencoded" }],
    ["no content type", {}],
    ["a charset other than utf-8", { "Content-Type": "application/json; charset=latin1" }],
    ["utf-16", { "Content-Type": "application/json; charset=utf-16" }],
    ["an unknown Content-Encoding", { ...JSON_TYPE, "Content-Encoding": "zstd-ish" }],
    ["two Content-Encodings", { ...JSON_TYPE, "Content-Encoding": "gzip, gzip" }],
  ])("415 unsupported_media_type for %s, and nothing is created", async (_name, headers) => {
    const jobs = await countJobs();
    const keys = await h.api.db.prisma.apiKey.count();
    for (const route of ROUTES) {
      const answer = await post(route, "{}", headers);
      expect([route, answer.status, (answer.json as { error: { code: string } }).error.code]).toEqual([route, 415, "unsupported_media_type"]);
    }
    expect(await countJobs()).toBe(jobs);
    expect(await h.api.db.prisma.apiKey.count()).toBe(keys);
  });

  it("accepts application/json with charset utf-8 in any case", async () => {
    for (const type of ["application/json; charset=utf-8", "application/json; charset=UTF-8", "Application/JSON"]) {
      const answer = await post("/v1/keys", JSON.stringify({ name: "k" }), { "Content-Type": type });
      expect([type, answer.status]).toEqual([type, 201]);
    }
  });

  it("still takes a POST without a body where the body is optional", async () => {
    const answer = await sendRaw(h.api.url, { method: "POST", path: "/v1/keys", headers: auth });
    expect(answer.status).toBe(201);
  });
});
