import http from "node:http";
import { API_TOKEN, startApiHarness, type ApiHarness } from "./helpers";

/**
 * Guessing credentials is throttled per client address: after AUTH_FAILURES_PER_MIN failures in a
 * minute, that address gets 429 with Retry-After before anything is checked, while every other address
 * (a valid key included) is served as usual. Loopback has many addresses: each test uses its own.
 */

const LIMIT = 5;
let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness({ AUTH_FAILURES_PER_MIN: String(LIMIT), API_RATE_LIMIT_PER_SEC: "0" });
});
afterAll(() => h.close());

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: { error?: { code: string; message: string } };
}

/** A GET from a chosen loopback address. */
function get(from: string, path: string, authorization?: string): Promise<Answer> {
  const url = new URL(h.api.url);
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: url.hostname, port: url.port, path, localAddress: from, agent: false, headers: authorization ? { Authorization: authorization } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: /json/.test(String(res.headers["content-type"])) ? JSON.parse(text) : {} });
        });
      },
    );
    req.on("error", reject);
  });
}

const bearer = (key: string) => `Bearer ${key}`;
const basic = (password: string) => `Basic ${Buffer.from(`operator:${password}`).toString("base64")}`;
const BOGUS_KEY = "kex_abcdefgh_0123456789abcdef0123456789abcdef";

function expectThrottled(answer: Answer): void {
  expect(answer.status).toBe(429);
  expect(Number(answer.headers["retry-after"])).toBeGreaterThanOrEqual(1);
  expect(answer.body.error).toEqual({ code: "rate_limited", message: expect.stringContaining("failed authentications") });
}

it("answers 429 once an address has failed too often with bearer keys, and serves a valid key from another address", async () => {
  for (let i = 0; i < LIMIT; i++) expect((await get("127.0.0.2", "/v1/extensions", bearer(BOGUS_KEY))).status).toBe(401);
  expectThrottled(await get("127.0.0.2", "/v1/extensions", bearer(BOGUS_KEY)));
  // Refused before any check: even the right token from that address waits out the minute.
  expectThrottled(await get("127.0.0.2", "/v1/extensions", bearer(API_TOKEN)));
  expect((await get("127.0.0.3", "/v1/extensions", bearer(API_TOKEN))).status).toBe(200);
  expect((await get("127.0.0.3", "/v1/extensions", bearer("not-the-token-at-all"))).status).toBe(401);
});

it("throttles Basic-auth guessing on /ui and /admin/queues, and a browser's first visit without credentials is no failure", async () => {
  for (let i = 0; i < LIMIT * 2; i++) expect((await get("127.0.0.4", "/ui")).status).toBe(401);
  for (let i = 0; i < LIMIT; i++) {
    const path = i % 2 === 0 ? "/ui" : "/admin/queues";
    expect([path, (await get("127.0.0.4", path, basic(`guess-${i}`))).status]).toEqual([path, 401]);
  }
  expectThrottled(await get("127.0.0.4", "/admin/queues", basic("another-guess")));
  expectThrottled(await get("127.0.0.4", "/ui", basic(API_TOKEN)));
  expect((await get("127.0.0.5", "/ui", basic(API_TOKEN))).status).toBe(200);
});

it("leaves unauthenticated routes alone", async () => {
  for (let i = 0; i < LIMIT; i++) await get("127.0.0.6", "/v1/extensions", bearer(BOGUS_KEY));
  expect((await get("127.0.0.6", "/healthz")).status).toBe(200);
  expect((await get("127.0.0.6", "/openapi.json")).status).toBe(200);
});
