import { PAYLOAD_MAX_DEPTH, storableJson, storableText, TRUNCATED } from "./storable";

describe("storableText", () => {
  it("replaces U+0000 and unpaired surrogates with U+FFFD and leaves everything else, pairs included", () => {
    expect(storableText("a\u0000b")).toBe("a\ufffdb");
    expect(storableText("\ud800x\udc00")).toBe("\ufffdx\ufffd");
    expect(storableText("x\ud800")).toBe("x\ufffd");
    expect(storableText("\udc00\ud800")).toBe("\ufffd\ufffd");
    expect(storableText("ok \u{1f600} \u00e9 \u0001")).toBe("ok \u{1f600} \u00e9 \u0001");
    expect(storableText("")).toBe("");
  });
});

describe("storableJson", () => {
  it("copies a value with its strings and keys made storable, in the same order", () => {
    const value = { b: ["x\u0000", 1, true, null], "k\ud800": { c: "\udfff" }, a: 2.5 };
    const copy = storableJson(value);
    expect(copy).toEqual({ b: ["x\ufffd", 1, true, null], "k\ufffd": { c: "\ufffd" }, a: 2.5 });
    expect(Object.keys(copy as object)).toEqual(["b", "k\ufffd", "a"]);
    expect(value.b[0]).toBe("x\u0000");
  });

  it("keeps a member named __proto__ as a member", () => {
    const copy = storableJson(JSON.parse('{"__proto__":{"polluted":true}}')) as Record<string, unknown>;
    expect(JSON.stringify(copy)).toBe('{"__proto__":{"polluted":true}}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("replaces what is nested deeper than the limit, without recursing on the value's depth", () => {
    let deep: unknown = "bottom";
    for (let i = 0; i < 200_000; i++) deep = [deep];
    const text = JSON.stringify(storableJson({ deep }));
    expect(text.startsWith(`{"deep":${"[".repeat(PAYLOAD_MAX_DEPTH - 1)}"${TRUNCATED}"`)).toBe(true);
  });

  it("serialises what JSON.stringify would: dates through toJSON, undefined members dropped", () => {
    expect(JSON.stringify(storableJson({ at: new Date(0), gone: undefined, list: [undefined] }))).toBe('{"at":"1970-01-01T00:00:00.000Z","list":[null]}');
  });
});
