import { createHash } from "node:crypto";
import { canonicalJson, requestHash, writeCanonicalJson } from "./request-hash";

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

  it("is handed out in pieces of bounded size that join to the same text", () => {
    const value = { items: Array.from({ length: 2_000 }, (_, i) => ({ prompt: `${"x".repeat(100)}${i}`, video_id: String(i), metadata: { b: i, a: [i] } })) };
    const pieces: string[] = [];
    writeCanonicalJson(value, (piece) => pieces.push(piece));
    expect(pieces.length).toBeGreaterThan(2);
    expect(Math.max(...pieces.map((p) => p.length))).toBeLessThan(65 * 1024);
    expect(pieces.join("")).toBe(canonicalJson(value));
    expect(pieces.join("")).toBe(JSON.stringify({ items: value.items.map((it) => ({ metadata: { a: it.metadata.a, b: it.metadata.b }, prompt: it.prompt, video_id: it.video_id })) }));
  });
});

describe("requestHash", () => {
  it("is sha256 of the method, path and canonical body: what keys stored before it was streamed were hashed as", () => {
    const body = { video_id: "1", prompt: "p", metadata: { z: 1, a: "é" } };
    const before = createHash("sha256").update(`POST /v1/extensions\n${canonicalJson(body)}`).digest("hex");
    expect(requestHash("POST /v1/extensions\n", body)).toBe(before);
    expect(requestHash("POST /v1/extensions\n", undefined)).toBe(createHash("sha256").update("POST /v1/extensions\nnull").digest("hex"));
  });
});

