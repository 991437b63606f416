import { ApiError } from "./errors";
import { BoundedJsonParser, type JsonBodyLimits } from "./bounded-json-parser";

const ROOMY: JsonBodyLimits = { maxBytes: 1_000_000, maxDepth: 64, maxMembers: 10_000, maxValues: 100_000, maxStringBytes: 500_000 };

/** Parses `text` fed in chunks of `chunk` bytes (chunk edges fall inside strings, escapes and UTF-8 sequences). */
function parse(text: string | Buffer, limits: Partial<JsonBodyLimits> = {}, chunk = 7): unknown {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const parser = new BoundedJsonParser({ ...ROOMY, ...limits });
  for (let offset = 0; offset < bytes.length; offset += chunk) parser.write(bytes.subarray(offset, offset + chunk));
  return parser.end();
}

function refusal(run: () => unknown): { status: number; code: string; details: unknown } {
  try {
    run();
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return { status: err.status, code: err.code, details: err.details };
  }
  throw new Error("expected a refusal");
}

describe("BoundedJsonParser", () => {
  it.each([
    ['{"a":1,"b":[true,false,null],"c":{"d":"e"}}'],
    ['{"s":"é😀 \\u0000 \\ud800 \\" \\\\ \\n","n":-1.5e3,"z":-0,"big":1e999}'],
    ['[{"__proto__":{"polluted":true}},{"a":1,"a":2}]'],
    [`{"long":"${"x".repeat(200_000)}","items":[${Array.from({ length: 500 }, (_, i) => `{"i":${i}}`).join(",")}]}`],
    ["  {}  \n"],
  ])("returns what JSON.parse returns, whatever the chunk edges (%#)", (text) => {
    for (const chunk of [1, 3, 64, 1 << 20]) expect(parse(text, {}, chunk)).toEqual(JSON.parse(text));
  });

  it("is not misled by brackets, commas, quotes and backslashes inside strings, whatever the chunk edges", () => {
    const text = String.raw`{"a":"[[[{{{,,,:\"]]]","b\\":["\\",")\"\\\"x",1],"c":"\\\\"}`;
    for (const chunk of [1, 2, 3, 5, 1 << 20]) {
      expect(parse(text, { maxDepth: 2, maxMembers: 3, maxValues: 7 }, chunk)).toEqual(JSON.parse(text));
      expect(refusal(() => parse(text, { maxValues: 6 }, chunk))).toMatchObject({ status: 413 });
    }
  });

  it("names a string that is too long by its key even when the key is escaped or split across chunks", () => {
    expect(refusal(() => parse(`{"items":[{"pr\\u006fmpt":"${"x".repeat(200)}"}]}`, { maxStringBytes: 100 }, 3))).toMatchObject({
      details: [{ field: "items.0.prompt", rule: "too_big" }],
    });
  });

  it("keeps a `__proto__` key as an own property: the prototype is never set from the body", () => {
    const value = parse('{"__proto__":{"x":1}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(["__proto__"]);
  });

  it("returns undefined for an empty body", () => {
    expect(parse("")).toBeUndefined();
  });

  it.each([
    ["a truncated body", '{"a":'],
    ["trailing garbage", '{"a":1} x'],
    ["two documents", "{}{}"],
    ["a top-level string", '"text"'],
    ["a top-level number", "12"],
    ["whitespace only", "   "],
    ["a raw control character in a string", '{"a":"\t"}'],
    ["bytes that are not UTF-8", Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])],
  ])("refuses %s as invalid_json", (_name, text) => {
    expect(refusal(() => parse(text))).toMatchObject({ status: 400, code: "invalid_json" });
  });

  it("refuses nesting past maxDepth at the first container too deep, naming its path", () => {
    expect(parse('{"a":{"b":[1]}}', { maxDepth: 3 })).toEqual({ a: { b: [1] } });
    expect(refusal(() => parse('{"a":{"b":[{"c":1}]}}', { maxDepth: 3 }))).toEqual({
      status: 400,
      code: "validation_failed",
      details: [{ field: "a.b.0", rule: "too_deep", message: "nested deeper than 3 levels" }],
    });
  });

  it("makes room for deeper nesting as it comes, keeping every level's path, up to a maxDepth of any size", () => {
    // 300 levels of {"k<i>":[…]} (600 containers): past the room the parser starts with, many times over.
    const deep = (levels: number, leaf: string) => `${Array.from({ length: levels }, (_, i) => `{"k${i}":[`).join("")}${leaf}${"]}".repeat(levels)}`;
    const limits = { maxDepth: 601, maxMembers: 3 };
    let expected: unknown = { leaf: 1 };
    for (let i = 299; i >= 0; i--) expected = { [`k${i}`]: [expected] };
    expect(parse(deep(300, '{"leaf":1}'), limits, 64)).toEqual(expected);
    const path = Array.from({ length: 300 }, (_, i) => `k${i}.0`).join(".");
    expect(refusal(() => parse(deep(300, '{"leaf":[1]}'), limits, 64))).toMatchObject({ details: [{ field: `${path}.leaf`, rule: "too_deep" }] });
    expect(refusal(() => parse(deep(300, '{"m":[1,2,3,4]}'), { maxDepth: 700, maxMembers: 3 }, 64))).toMatchObject({
      details: [{ field: `${path}.m`, rule: "too_big" }],
    });
  });

  it("refuses an array or an object with more than maxMembers, naming it", () => {
    expect(parse('{"items":[1,2,3]}', { maxMembers: 3 })).toEqual({ items: [1, 2, 3] });
    expect(refusal(() => parse('{"items":[1,2,3,4]}', { maxMembers: 3 }))).toEqual({
      status: 400,
      code: "validation_failed",
      details: [{ field: "items", rule: "too_big", message: "more than 3 elements" }],
    });
    expect(refusal(() => parse('{"items":[{"m":{"a":1,"b":2,"c":3,"d":4}}]}', { maxMembers: 3 }))).toMatchObject({
      details: [{ field: "items.0.m", rule: "too_big", message: "more than 3 members" }],
    });
  });

  it("refuses more than maxValues in all with 413", () => {
    expect(parse("[[1,2],[3]]", { maxValues: 6 })).toEqual([[1, 2], [3]]);
    expect(refusal(() => parse("[[1,2],[3,4]]", { maxValues: 6 }))).toEqual({
      status: 413,
      code: "payload_too_large",
      details: [{ field: "(body)", rule: "too_many_values", message: "more than 6 values" }],
    });
  });

  it("refuses a string longer than maxStringBytes while it is still arriving, a key as well as a value", () => {
    expect(parse(`{"a":"${"é".repeat(50)}"}`, { maxStringBytes: 100 })).toEqual({ a: "é".repeat(50) });
    expect(refusal(() => parse(`{"a":"${"é".repeat(51)}"}`, { maxStringBytes: 100 }, 1 << 20))).toMatchObject({
      status: 400,
      details: [{ field: "a", rule: "too_big", message: "a string longer than 100 bytes" }],
    });
    const parser = new BoundedJsonParser({ ...ROOMY, maxStringBytes: 100 });
    parser.write(Buffer.from('{"items":[{"prompt":"'));
    expect(() => parser.write(Buffer.from("x".repeat(200)))).toThrow("items.0.prompt: a string longer than 100 bytes");
    expect(refusal(() => parse(`{"${"k".repeat(101)}":1}`, { maxStringBytes: 100 }, 16))).toMatchObject({ status: 400 });
  });

  it("refuses more than maxBytes with 413 at the chunk that passes it", () => {
    expect(refusal(() => parse(`{"a":"${"x".repeat(100)}"}`, { maxBytes: 50 }))).toMatchObject({
      status: 413,
      details: [{ field: "(body)", rule: "too_large", message: "larger than 50 bytes" }],
    });
  });

  it("stops at the limit without reading further: a refused flood costs what was read up to it", () => {
    const parser = new BoundedJsonParser({ ...ROOMY, maxMembers: 100 });
    const flood = Buffer.from(`{"items":[${"{},".repeat(1_000_000)}{}]}`);
    let refusedAt = -1;
    for (let offset = 0; offset < flood.length && refusedAt < 0; offset += 64) {
      try {
        parser.write(flood.subarray(offset, offset + 64));
      } catch {
        refusedAt = parser.received;
      }
    }
    expect(refusedAt).toBeGreaterThan(300);
    expect(refusedAt).toBeLessThan(400);
  });
});
