import { canonicalJson } from "./idempotency";

describe("canonicalJson: the form of a body an Idempotency-Key's request hash is taken of", () => {
  it.each([
    [null, "null"],
    ["x\ud800", '"x\\ud800"'],
    [[1, [2, [3]], {}], "[1,[2,[3]],{}]"],
    [{ b: 1, a: [{ d: null, c: "é" }, true], "": { 'k"': -0 } }, '{"":{"k\\"":0},"a":[{"c":"é","d":null},true],"b":1}'],
    [{ u: undefined, arr: [undefined, 1.5e300] }, '{"arr":[null,1.5e+300],"u":null}'],
  ])("%j is written %s", (value, written) => {
    expect(canonicalJson(value)).toBe(written);
  });

  it("does not depend on the order of keys", () => {
    expect(canonicalJson({ a: 1, b: { c: 2, d: 3 } })).toBe(canonicalJson({ b: { d: 3, c: 2 }, a: 1 }));
  });

  it("writes a value nested 200,000 levels deep (the depth is the caller's, not our call stack's)", () => {
    let value: unknown = 1;
    for (let i = 0; i < 100_000; i++) value = [{ a: value }];
    const written = canonicalJson(value);
    expect(written.startsWith('[{"a":[{"a":')).toBe(true);
    expect(written).toHaveLength(100_000 * '[{"a":}]'.length + 1);
  });
});
