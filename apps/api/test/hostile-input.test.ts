import { METADATA_MAX_DEPTH } from "@kex/contract";
import request from "supertest";
import { auth, startApiHarness, validItem, type ApiHarness } from "./helpers";
import { countRows } from "./row-counts";

/**
 * Strings Postgres cannot hold (a NUL, a lone UTF-16 surrogate), metadata nested past its limit and
 * URLs the parser would repair are the client's mistakes: every route refuses them with 400
 * `validation_failed` naming the field and the rule, writes nothing, and the batch path refuses
 * exactly what the single path refuses.
 */

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness({ API_RATE_LIMIT_PER_SEC: "0", ALLOW_PRIVATE_WEBHOOK_URLS: "true" });
});
afterAll(() => h.close());

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  request(h.api.url)
    .post(path)
    .set({ ...auth, ...headers })
    .send(body as object);

/** Posts `body`; expects a 400 naming `field` with `rule`, and no row written. */
async function expectRefused(
  path: string,
  body: unknown,
  field: string,
  rule: string,
  headers: Record<string, string> = {},
): Promise<void> {
  const before = await countRows(h.api.db);
  const res = await post(path, body, headers);
  expect([path, field, res.status]).toEqual([path, field, 400]);
  expect(res.body).toEqual({
    error: {
      code: "validation_failed",
      message: expect.any(String),
      details: expect.arrayContaining([{ field, rule, message: expect.any(String) }]),
    },
  });
  expect(await countRows(h.api.db)).toEqual(before);
}

const BAD_TEXT = [
  ["a NUL", "a\u0000b", "no_nul"],
  ["a lone high surrogate", "a\ud800b", "lone_surrogate"],
  ["a lone low surrogate", "\udc00", "lone_surrogate"],
  ["a pair in the wrong order", "\udc00\ud800", "lone_surrogate"],
] as const;

/** Where a string goes in each request: its route, its field as the error names it, and a body holding `bad` there. */
const STRING_FIELDS: Array<[string, string, (bad: string) => unknown]> = [
  ["/v1/extensions", "prompt", (bad) => ({ ...validItem(), prompt: bad })],
  ["/v1/extensions", "negative_prompt", (bad) => ({ ...validItem(), negative_prompt: bad })],
  ["/v1/extensions", "video_id", (bad) => ({ ...validItem(), video_id: bad })],
  ["/v1/extensions", "callback_url", (bad) => ({ ...validItem(), callback_url: `https://client.example/${bad}` })],
  ["/v1/extensions", "metadata.customer", (bad) => ({ ...validItem(), metadata: { customer: bad } })],
  ["/v1/extensions", "metadata.a.b.1", (bad) => ({ ...validItem(), metadata: { a: { b: [1, bad] } } })],
  ["/v1/extensions", "metadata.a.k?", (bad) => ({ ...validItem(), metadata: { a: { [`k${bad}`]: 1 } } })],
  ["/v1/batches", "items.1.prompt", (bad) => ({ items: [validItem(1), { ...validItem(2), prompt: bad }] })],
  ["/v1/batches", "items.0.metadata.tags.0", (bad) => ({ items: [{ ...validItem(), metadata: { tags: [bad] } }] })],
  ["/v1/batches", "callback_url", (bad) => ({ items: [validItem()], callback_url: `https://client.example/?q=${bad}` })],
  ["/v1/chains", "video_id", (bad) => ({ video_id: bad, steps: [{ prompt: "one" }] })],
  ["/v1/chains", "steps.1.prompt", (bad) => ({ video_id: "800000000000000001", steps: [{ prompt: "one" }, { prompt: bad }] })],
  [
    "/v1/chains",
    "steps.0.negative_prompt",
    (bad) => ({ video_id: "800000000000000001", steps: [{ prompt: "one", negative_prompt: bad }] }),
  ],
  ["/v1/tenants", "name", (bad) => ({ name: bad })],
  ["/v1/keys", "name", (bad) => ({ name: bad })],
];

describe.each(BAD_TEXT)("a string holding %s", (_name, bad, rule) => {
  it.each(STRING_FIELDS)("POST %s refuses it in %s", async (path, field, body) => {
    await expectRefused(path, body(bad), field.replace("?", bad), rule);
  });
});

it("a pair of surrogates (an emoji) is a character like any other", async () => {
  const res = await post("/v1/extensions", { ...validItem(), prompt: "a 🎬 shot", metadata: { "🎬": "🎬" } });
  expect(res.status).toBe(202);
  expect(res.body).toMatchObject({ prompt: "a 🎬 shot", metadata: { "🎬": "🎬" } });
});

/** `{a:{a:…{a:1}}}` with `levels` objects. */
const nested = (levels: number): Record<string, unknown> => {
  let value: Record<string, unknown> = { a: 1 };
  for (let i = 1; i < levels; i++) value = { a: value };
  return value;
};
const deepField = (prefix: string) => `${prefix}metadata${".a".repeat(METADATA_MAX_DEPTH)}`;

describe(`metadata nests at most ${METADATA_MAX_DEPTH} levels, on every path`, () => {
  it(`accepts ${METADATA_MAX_DEPTH} levels, single and batch, and shows them back`, async () => {
    const metadata = nested(METADATA_MAX_DEPTH);
    const single = await post("/v1/extensions", { ...validItem(), metadata });
    expect(single.status).toBe(202);
    expect(single.body.metadata).toEqual(metadata);
    expect((await post("/v1/batches", { items: [{ ...validItem(), metadata }] })).status).toBe(202);
  });

  it.each([METADATA_MAX_DEPTH + 1, 60])("refuses %i levels with rule too_deep, single and batch alike", async (levels) => {
    const metadata = nested(levels);
    await expectRefused("/v1/extensions", { ...validItem(), metadata }, deepField(""), "too_deep");
    await expectRefused("/v1/batches", { items: [validItem(1), { ...validItem(2), metadata }] }, deepField("items.1."), "too_deep");
  });

  it("refuses deep metadata with an Idempotency-Key as a 400 too, and the key answers the same again", async () => {
    const body = { ...validItem(), metadata: nested(60) };
    await expectRefused("/v1/extensions", body, deepField(""), "too_deep", { "Idempotency-Key": "deep-1" });
    await expectRefused("/v1/extensions", body, deepField(""), "too_deep", { "Idempotency-Key": "deep-1" });
  });

  it("refuses a number JSON cannot hold back (1e400 would be stored as null)", async () => {
    const before = await countRows(h.api.db);
    const res = await request(h.api.url)
      .post("/v1/extensions")
      .set(auth)
      .type("application/json")
      .send(`{"video_id":"1","prompt":"p","metadata":{"big":1e400}}`);
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([{ field: "metadata.big", rule: "not_finite", message: expect.any(String) }]);
    expect(await countRows(h.api.db)).toEqual(before);
  });
});

describe("the batch path refuses exactly what the single path refuses", () => {
  const ITEMS: Array<[string, number, Record<string, unknown>]> = [
    ["valid", 202, validItem()],
    ["a NUL prompt", 400, { ...validItem(), prompt: "\u0000" }],
    ["a lone surrogate in negative_prompt", 400, { ...validItem(), negative_prompt: "x\ud800" }],
    ["a lone surrogate in a metadata key", 400, { ...validItem(), metadata: { "\udfff": true } }],
    ["deep metadata", 400, { ...validItem(), metadata: nested(METADATA_MAX_DEPTH + 3) }],
    ["a repaired callback_url", 400, { ...validItem(), callback_url: "http:///x" }],
    ["an unknown field", 400, { ...validItem(), colour: "red" }],
  ];

  it.each(ITEMS)("%s: %i on both, with the same problems", async (_name, status, item) => {
    const single = await post("/v1/extensions", item);
    const batch = await post("/v1/batches", { items: [item] });
    const problems = (res: request.Response, prefix: string) =>
      ((res.body.error?.details ?? []) as Array<{ field: string; rule: string }>).map((d) => `${d.field.replace(prefix, "")} ${d.rule}`);
    expect(single.status).toBe(status);
    expect({ status: batch.status, problems: problems(batch, "items.0.") }).toEqual({
      status: single.status,
      problems: problems(single, ""),
    });
  });
});

describe("a callback_url must read as written", () => {
  const REPAIRED = [
    ["http:///x", "http://x/"],
    ["https://client.example/a/../b", "https://client.example/b"],
    ["http:////client.example/hook", "http://client.example/hook"],
    ["https://client.example/hooks/./v2", "https://client.example/hooks/v2"],
    ["https://client.example/%2e%2e/admin", "https://client.example/admin"],
  ] as const;

  it.each(REPAIRED)("refuses %s (read as %s) on every field that takes a URL", async (url, read) => {
    await expectRefused("/v1/extensions", { ...validItem(), callback_url: url }, "callback_url", "url_round_trip");
    await expectRefused("/v1/batches", { items: [validItem()], callback_url: url }, "callback_url", "url_round_trip");
    await expectRefused("/v1/batches", { items: [{ ...validItem(), callback_url: url }] }, "items.0.callback_url", "url_round_trip");
    await expectRefused("/v1/chains", { video_id: "1", steps: [{ prompt: "p" }], callback_url: url }, "callback_url", "url_round_trip");
    const res = await post("/v1/extensions", { ...validItem(), callback_url: url });
    expect(res.body.error.message).toContain(read);
  });

  it.each([
    "https://Client.EXAMPLE/Hook",
    "HTTPS://client.example",
    "https://client.example?x=1",
    "https://client.example:8443/a/b?c=d#e",
    "https://client.example:443/hook",
    'https://client.example/hook?a=1&b="2"',
    "https://client.example/é",
    "http://2130706433/hook",
  ])("accepts %s, whose only differences are notation, and stores it as written", async (url) => {
    const res = await post("/v1/extensions", { ...validItem(), callback_url: url });
    expect(res.status).toBe(202);
    expect(res.body.callback_url).toBe(url);
  });
});

describe("a query string (found by the fuzz test)", () => {
  it("names a parameter with an empty name as a field, not as nothing", async () => {
    const res = await request(h.api.url).get("/v1/extensions?=x&limit=5").set(auth);
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([{ field: '""', rule: "unknown_field", message: expect.stringContaining('""') }]);
  });
});
