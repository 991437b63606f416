import type { z } from "zod";
import { toValidationDetails, type ValidationDetail } from "./errors";
import { METADATA_MAX_DEPTH } from "./limits";
import { BatchCreateSchema, ChainCreateSchema, ExtensionCreateSchema, HttpUrlSchema, KeyCreateSchema, ListExtensionsQuerySchema, TenantCreateSchema } from "./requests";

const VALID = { video_id: "815336423632572487", prompt: "the camera pulls back" } as const;

/** The details of a failed parse; fails the test when the value was accepted. */
function detailsOf(schema: z.ZodType, value: unknown): ValidationDetail[] {
  const parsed = schema.safeParse(value);
  if (parsed.success) throw new Error(`expected a rejection, but accepted ${JSON.stringify(value)?.slice(0, 200)}`);
  return toValidationDetails(parsed.error);
}

const accepts = (schema: z.ZodType, value: unknown): boolean => schema.safeParse(value).success;
const fields = (details: ValidationDetail[]): string[] => details.map((detail) => detail.field);

describe("ExtensionCreateSchema", () => {
  it("accepts the minimal body and returns it unchanged", () => {
    expect(ExtensionCreateSchema.parse(VALID)).toEqual(VALID);
  });

  it("accepts a body with every field at a valid value", () => {
    const full = {
      ...VALID,
      negative_prompt: "blur",
      cfg_scale: 0.5,
      callback_url: "https://example.com/hook",
      metadata: { customer: "acme", tags: ["a", "b"], n: 1 },
    };
    expect(ExtensionCreateSchema.parse(full)).toEqual(full);
  });

  describe("prompt", () => {
    it.each([
      ["1 character", "x"],
      ["2500 characters", "x".repeat(2500)],
      ["2500 multi-byte characters", "é".repeat(2500)],
    ])("accepts %s", (_name, prompt) => {
      expect(accepts(ExtensionCreateSchema, { ...VALID, prompt })).toBe(true);
    });

    it.each([
      ["empty", "", "too_small"],
      ["2501 characters", "x".repeat(2501), "too_big"],
      ["a number", 42, "invalid_type"],
      ["null", null, "invalid_type"],
    ])("rejects %s", (_name, prompt, rule) => {
      expect(detailsOf(ExtensionCreateSchema, { ...VALID, prompt })).toEqual([{ field: "prompt", rule, message: expect.any(String) }]);
    });

    it("is required", () => {
      expect(detailsOf(ExtensionCreateSchema, { video_id: VALID.video_id })).toEqual([
        { field: "prompt", rule: "invalid_type", message: expect.any(String) },
      ]);
    });
  });

  describe("negative_prompt", () => {
    it.each([
      ["absent", undefined],
      ["empty", ""],
      ["2500 characters", "n".repeat(2500)],
    ])("accepts %s", (_name, negative_prompt) => {
      expect(accepts(ExtensionCreateSchema, { ...VALID, negative_prompt })).toBe(true);
    });

    it("rejects 2501 characters", () => {
      expect(detailsOf(ExtensionCreateSchema, { ...VALID, negative_prompt: "n".repeat(2501) })).toEqual([
        { field: "negative_prompt", rule: "too_big", message: expect.any(String) },
      ]);
    });
  });

  describe("cfg_scale", () => {
    it.each([0, 1, 0.5])("accepts %p", (cfg_scale) => {
      expect(ExtensionCreateSchema.parse({ ...VALID, cfg_scale }).cfg_scale).toBe(cfg_scale);
    });

    it.each([
      [-0.01, "too_small"],
      [1.01, "too_big"],
      ["0.5", "invalid_type"],
      [Number.NaN, "invalid_type"],
      [Number.POSITIVE_INFINITY, "invalid_type"],
      [null, "invalid_type"],
    ])("rejects %p", (cfg_scale, rule) => {
      expect(detailsOf(ExtensionCreateSchema, { ...VALID, cfg_scale })).toEqual([{ field: "cfg_scale", rule, message: expect.any(String) }]);
    });
  });

  describe("video_id", () => {
    it("accepts 256 characters", () => {
      expect(accepts(ExtensionCreateSchema, { ...VALID, video_id: "v".repeat(256) })).toBe(true);
    });

    it.each([
      ["empty", "", "too_small"],
      ["257 characters", "v".repeat(257), "too_big"],
      ["a number", 815336423, "invalid_type"],
    ])("rejects %s", (_name, video_id, rule) => {
      expect(detailsOf(ExtensionCreateSchema, { ...VALID, video_id })).toEqual([{ field: "video_id", rule, message: expect.any(String) }]);
    });

    it("is required", () => {
      expect(fields(detailsOf(ExtensionCreateSchema, { prompt: "p" }))).toEqual(["video_id"]);
    });
  });

  describe("callback_url", () => {
    it.each(["http://example.com/hook", "https://example.com:8443/a/b?c=d#e", "http://127.0.0.1:3000/"])("accepts %s", (callback_url) => {
      expect(accepts(ExtensionCreateSchema, { ...VALID, callback_url })).toBe(true);
    });

    it.each(["ftp://example.com/x", "not a url", "/relative/path", "javascript:alert(1)", "", "http://", "mailto:a@b.c"])(
      "rejects %p",
      (callback_url) => {
        expect(fields(detailsOf(ExtensionCreateSchema, { ...VALID, callback_url }))).toEqual(["callback_url"]);
      },
    );
  });

  describe("metadata", () => {
    const json = (value: unknown) => Buffer.byteLength(JSON.stringify(value));
    /** `{"k":"xxx…"}` padded to exactly `bytes` bytes, with `char` (1 or 2 bytes in UTF-8). */
    const metadataOf = (bytes: number, char = "x") => {
      const overhead = json({ k: "" });
      const charBytes = Buffer.byteLength(char);
      if ((bytes - overhead) % charBytes !== 0) throw new Error("cannot pad exactly");
      return { k: char.repeat((bytes - overhead) / charBytes) };
    };

    it.each([
      ["an empty object", {}],
      ["a nested object", { a: { b: [1, 2, { c: null }] } }],
      ["exactly 8192 bytes", metadataOf(8192)],
    ])("accepts %s", (_name, metadata) => {
      expect(ExtensionCreateSchema.parse({ ...VALID, metadata }).metadata).toEqual(metadata);
    });

    it("the padding helper is exact", () => {
      expect(json(metadataOf(8192))).toBe(8192);
      expect(json(metadataOf(8193))).toBe(8193);
      expect(json(metadataOf(8192 + 10, "é"))).toBe(8202);
    });

    it.each([
      ["an array", [1, 2]],
      ["a string", "meta"],
      ["a number", 7],
      ["null", null],
      ["8193 bytes", metadataOf(8193)],
      ["over 8192 bytes of UTF-8 while under 8192 characters", metadataOf(8192 + 10, "é")],
    ])("rejects %s", (_name, metadata) => {
      expect(fields(detailsOf(ExtensionCreateSchema, { ...VALID, metadata }))).toEqual(["metadata"]);
    });
  });

  describe("unknown fields", () => {
    it("rejects one, naming it with rule unknown_field", () => {
      expect(detailsOf(ExtensionCreateSchema, { ...VALID, promt: "typo" })).toEqual([
        { field: "promt", rule: "unknown_field", message: expect.stringContaining("promt") },
      ]);
    });

    it("names an unknown field with an empty name as \"\"", () => {
    expect(detailsOf(ExtensionCreateSchema, { ...VALID, "": 1 })).toEqual([{ field: '""', rule: "unknown_field", message: 'unknown field(s): ""' }]);
  });

  it("names every unknown field", () => {
      const details = detailsOf(ExtensionCreateSchema, { ...VALID, aspect_ratio: "16:9", external_task_id: "x" });
      expect(details.map((detail) => detail.rule)).toEqual(["unknown_field"]);
      expect(details[0]?.field.split(",").sort()).toEqual(["aspect_ratio", "external_task_id"]);
      expect(details[0]?.message).toContain("aspect_ratio");
      expect(details[0]?.message).toContain("external_task_id");
    });
  });

  it("reports every bad field at once", () => {
    const details = detailsOf(ExtensionCreateSchema, { video_id: "", prompt: "", cfg_scale: 2, callback_url: "ftp://x" });
    expect(fields(details).sort()).toEqual(["callback_url", "cfg_scale", "prompt", "video_id"]);
  });

  it.each([
    ["null", null],
    ["an array", [VALID]],
    ["a string", "{}"],
  ])("rejects a body that is %s, as (body)", (_name, body) => {
    expect(detailsOf(ExtensionCreateSchema, body)).toEqual([{ field: "(body)", rule: "invalid_type", message: expect.any(String) }]);
  });
});

describe("BatchCreateSchema", () => {
  const items = (n: number) => Array.from({ length: n }, (_, i) => ({ ...VALID, prompt: `prompt ${i}` }));

  it.each([1, 10_000])("accepts %i items", (n) => {
    expect(BatchCreateSchema.parse({ items: items(n) }).items).toHaveLength(n);
  });

  it.each([
    [0, "too_small"],
    [10_001, "too_big"],
  ])("rejects %i items", (n, rule) => {
    expect(detailsOf(BatchCreateSchema, { items: items(n) })).toEqual([{ field: "items", rule, message: expect.any(String) }]);
  });

  it("requires items to be an array", () => {
    expect(fields(detailsOf(BatchCreateSchema, {}))).toEqual(["items"]);
    expect(fields(detailsOf(BatchCreateSchema, { items: VALID }))).toEqual(["items"]);
  });

  it("accepts a batch callback_url and rejects a bad one", () => {
    expect(accepts(BatchCreateSchema, { items: items(1), callback_url: "https://example.com/b" })).toBe(true);
    expect(fields(detailsOf(BatchCreateSchema, { items: items(1), callback_url: "javascript:void(0)" }))).toEqual(["callback_url"]);
  });

  it("rejects unknown top-level fields", () => {
    expect(detailsOf(BatchCreateSchema, { items: items(1), priority: 1 })).toEqual([
      { field: "priority", rule: "unknown_field", message: expect.stringContaining("priority") },
    ]);
  });

  it("lists every bad item by index, and only those", () => {
    const batch = items(12) as Array<Record<string, unknown>>;
    batch[0] = { ...VALID, prompt: "" };
    batch[3] = { ...VALID, prompt: "x".repeat(2501) };
    batch[7] = { ...VALID, cfg_scale: 1.5, video_id: "" };
    batch[9] = { ...VALID, colour: "red" };
    batch[11] = { video_id: "1" };
    const details = detailsOf(BatchCreateSchema, { items: batch });
    expect(fields(details).sort()).toEqual(
      ["items.0.prompt", "items.3.prompt", "items.7.cfg_scale", "items.7.video_id", "items.9.colour", "items.11.prompt"].sort(),
    );
    expect(details.find((detail) => detail.field === "items.9.colour")?.rule).toBe("unknown_field");
    expect(details.find((detail) => detail.field === "items.3.prompt")?.rule).toBe("too_big");
  });

  it("finds the single bad item among 10,000", () => {
    const batch = items(10_000) as Array<Record<string, unknown>>;
    batch[9_999] = { ...VALID, callback_url: "not a url" };
    expect(fields(detailsOf(BatchCreateSchema, { items: batch }))).toEqual(["items.9999.callback_url"]);
  });
});

describe("HttpUrlSchema", () => {
  const urlOfLength = (n: number) => {
    const prefix = "https://example.com/";
    return prefix + "a".repeat(n - prefix.length);
  };

  it("accepts 2048 characters", () => {
    expect(urlOfLength(2048)).toHaveLength(2048);
    expect(HttpUrlSchema.parse(urlOfLength(2048))).toBe(urlOfLength(2048));
  });

  it("rejects 2049 characters", () => {
    expect(urlOfLength(2049)).toHaveLength(2049);
    expect(detailsOf(HttpUrlSchema, urlOfLength(2049)).map((detail) => detail.rule)).toContain("too_big");
  });

  it.each(["http://a", "https://example.com", "HTTPS://EXAMPLE.COM/X"])("accepts %s", (url) => {
    expect(HttpUrlSchema.parse(url)).toBe(url);
  });

  it.each(["ftp://example.com", "not a url", "relative/path", "/abs/path", "//example.com/x", "javascript:alert(1)", "file:///etc/passwd", "data:text/plain,hi", ""])(
    "rejects %p",
    (url) => {
      const details = detailsOf(HttpUrlSchema, url);
      expect(details).toHaveLength(1);
      expect(details[0]?.message).toBe("must be an absolute http(s) URL");
    },
  );

  it("rejects non-strings", () => {
    expect(detailsOf(HttpUrlSchema, 42)[0]?.rule).toBe("invalid_type");
  });
});

describe("ListExtensionsQuerySchema", () => {
  const UUID = "0b0c8f5e-6a3d-4c2b-9f1e-2d3c4b5a6f70";

  it("defaults limit to 50", () => {
    expect(ListExtensionsQuerySchema.parse({})).toEqual({ limit: 50 });
  });

  it.each([
    ["1", 1],
    ["200", 200],
  ])("accepts limit %p (query strings are strings)", (limit, expected) => {
    expect(ListExtensionsQuerySchema.parse({ limit }).limit).toBe(expected);
  });

  it.each([
    ["201", "too_big"],
    ["0", "too_small"],
    ["-1", "too_small"],
    ["abc", "invalid_type"],
    ["1.5", "invalid_type"],
  ])("rejects limit %p", (limit, rule) => {
    expect(detailsOf(ListExtensionsQuerySchema, { limit })).toEqual([{ field: "limit", rule, message: expect.any(String) }]);
  });

  it.each(["queued", "submitting", "submitted", "processing", "succeeded", "failed", "canceled"])("accepts status %s", (status) => {
    expect(ListExtensionsQuerySchema.parse({ status }).status).toBe(status);
  });

  it.each(["succeed", "done", "QUEUED", ""])("rejects status %p", (status) => {
    expect(fields(detailsOf(ListExtensionsQuerySchema, { status }))).toEqual(["status"]);
  });

  it("accepts a uuid batch_id and rejects anything else", () => {
    expect(ListExtensionsQuerySchema.parse({ batch_id: UUID }).batch_id).toBe(UUID);
    for (const batch_id of ["123", "", "not-a-uuid", `${UUID}0`, UUID.replace(/-/g, "")]) {
      expect(fields(detailsOf(ListExtensionsQuerySchema, { batch_id }))).toEqual(["batch_id"]);
    }
  });

  it("passes a cursor through and rejects an empty one", () => {
    expect(ListExtensionsQuerySchema.parse({ cursor: "abc" }).cursor).toBe("abc");
    expect(fields(detailsOf(ListExtensionsQuerySchema, { cursor: "" }))).toEqual(["cursor"]);
  });

  it("rejects an unknown query key", () => {
    expect(detailsOf(ListExtensionsQuerySchema, { limit: "5", sort: "asc" })).toEqual([
      { field: "sort", rule: "unknown_field", message: expect.stringContaining("sort") },
    ]);
  });

  it("parses a full query", () => {
    expect(ListExtensionsQuerySchema.parse({ status: "failed", batch_id: UUID, limit: "10", cursor: "c" })).toEqual({
      status: "failed",
      batch_id: UUID,
      limit: 10,
      cursor: "c",
    });
  });
});

describe("HttpUrlSchema refuses strings a parser would repair", () => {
  it.each(["http:foo", " http://x.com ", "http://x.com\n", "https:\\\\evil.com", "http://x .com/"])("%j", (value) => {
    expect(HttpUrlSchema.safeParse(value).success).toBe(false);
  });
});

describe("text: what cannot be stored as sent", () => {
  it.each([
    ["a NUL", "a\u0000b", "no_nul"],
    ["a lone high surrogate", "a\ud800", "lone_surrogate"],
    ["a lone low surrogate", "\udc00b", "lone_surrogate"],
    ["a pair in the wrong order", "\udc00\ud800", "lone_surrogate"],
  ])("%s is refused in every string field, with its rule", (_name, bad, rule) => {
    expect(detailsOf(ExtensionCreateSchema, { ...VALID, prompt: bad, negative_prompt: bad, video_id: bad })).toEqual(
      ["video_id", "prompt", "negative_prompt"].map((field) => ({ field, rule, message: expect.any(String) })),
    );
    expect(detailsOf(ChainCreateSchema, { video_id: "1", steps: [{ prompt: "p" }, { prompt: bad }] })).toEqual([
      { field: "steps.1.prompt", rule, message: expect.any(String) },
    ]);
    expect(detailsOf(TenantCreateSchema, { name: bad })).toEqual([{ field: "name", rule, message: expect.any(String) }]);
    expect(detailsOf(KeyCreateSchema, { name: bad })).toEqual([{ field: "name", rule, message: expect.any(String) }]);
    expect(detailsOf(HttpUrlSchema, `https://example.com/${bad}`)).toEqual([{ field: "(body)", rule, message: expect.any(String) }]);
    expect(detailsOf(ListExtensionsQuerySchema, { cursor: bad })).toEqual([{ field: "cursor", rule, message: expect.any(String) }]);
  });

  it("a surrogate pair (an emoji) is a character like any other", () => {
    expect(accepts(ExtensionCreateSchema, { ...VALID, prompt: "🎬", metadata: { "🎬": ["🎬"] } })).toBe(true);
  });

  it("finds a bad key or string in metadata at any depth, naming its path", () => {
    expect(detailsOf(ExtensionCreateSchema, { ...VALID, metadata: { a: [{ b: "x\ud800" }] } })).toEqual([
      { field: "metadata.a.0.b", rule: "lone_surrogate", message: expect.any(String) },
    ]);
    expect(detailsOf(ExtensionCreateSchema, { ...VALID, metadata: { a: { "k\u0000": 1 } } })).toEqual([
      { field: "metadata.a.k\u0000", rule: "no_nul", message: expect.stringContaining("key") },
    ]);
  });
});

describe(`metadata nests at most ${METADATA_MAX_DEPTH} levels`, () => {
  const nested = (levels: number): Record<string, unknown> => {
    let value: Record<string, unknown> = { a: [] };
    for (let i = 2; i < levels; i++) value = { a: value };
    return value;
  };

  it(`accepts ${METADATA_MAX_DEPTH} levels (an empty array at the bottom is a level too)`, () => {
    expect(accepts(ExtensionCreateSchema, { ...VALID, metadata: nested(METADATA_MAX_DEPTH) })).toBe(true);
  });

  it.each([METADATA_MAX_DEPTH + 1, 60, 100_000])("refuses %i levels with rule too_deep, without recursion", (levels) => {
    expect(detailsOf(ExtensionCreateSchema, { ...VALID, metadata: nested(levels) })).toEqual([
      { field: `metadata${".a".repeat(METADATA_MAX_DEPTH)}`, rule: "too_deep", message: expect.any(String) },
    ]);
  });

  it("refuses a number JSON cannot hold", () => {
    expect(detailsOf(ExtensionCreateSchema, { ...VALID, metadata: { n: [Number.POSITIVE_INFINITY] } })).toEqual([
      { field: "metadata.n.0", rule: "not_finite", message: expect.any(String) },
    ]);
  });
});

describe("HttpUrlSchema: a URL must read as written", () => {
  it.each([
    ["http:///x", "http://x/"],
    ["http:////x/y", "http://x/y"],
    ["http://example.com/a/./b/../c", "http://example.com/a/c"],
    ["http://example.com/a/%2E%2e/c", "http://example.com/c"],
    ["https://example.com/a b", undefined],
  ])("refuses %s", (url, read) => {
    const details = detailsOf(HttpUrlSchema, url);
    expect(details).toHaveLength(1);
    if (read !== undefined) expect(details[0]).toEqual({ field: "(body)", rule: "url_round_trip", message: expect.stringContaining(read) });
  });

  it.each([
    "HTTPS://Example.COM/Path",
    "https://example.com",
    "https://example.com?x=1",
    "https://user:PassWord@example.com/x",
    "http://[::1]:8080/x",
    "https://example.com:443/x",
    "http://2130706433/",
    "https://bücher.example/",
    "https://example.com/é?q=é#é",
    'https://example.com/hook?a=1&b="2"',
    "https://example.com/.well-known/..hook",
  ])("accepts %s (the parser changes only its notation)", (url) => {
    expect(HttpUrlSchema.parse(url)).toBe(url);
  });
});
