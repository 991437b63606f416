import { BodyBytes } from "./body-bytes";

/** A chunk as Node's HTTP parser hands one over: a buffer that owns all of its memory. */
const owned = (text: string) => {
  const chunk = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  chunk.write(text);
  return chunk;
};

describe("BodyBytes", () => {
  it("keeps a big chunk that owns its memory as it is, copies the others, and gives back every byte in order", () => {
    const big = owned("a".repeat(64 * 1024));
    const shared = Buffer.from("b".repeat(20 * 1024) + "c".repeat(100)).subarray(0, 20 * 1024); // part of a larger buffer
    const small = owned("d".repeat(100));
    const body = new BodyBytes();
    for (const chunk of [small, big, shared, owned("e".repeat(32 * 1024)), small]) body.append(chunk);
    const segments = body.segmentsSoFar();
    expect(Buffer.concat(segments).toString()).toBe(`${"d".repeat(100)}${"a".repeat(64 * 1024)}${"b".repeat(20 * 1024)}${"e".repeat(32 * 1024)}${"d".repeat(100)}`);
    expect(body.length).toBe(100 + 64 * 1024 + 20 * 1024 + 32 * 1024 + 100);
    // Not copied: the same memory.
    expect(segments.some((s) => s.buffer === big.buffer)).toBe(true);
    expect(segments.some((s) => s.buffer === shared.buffer || s.buffer === small.buffer)).toBe(false);
    // Each segment can be handed to another thread: no two share an ArrayBuffer.
    expect(new Set(segments.map((s) => s.buffer)).size).toBe(segments.length);
    expect(body.slice(100 + 64 * 1024 - 2, 100 + 64 * 1024 + 2).toString()).toBe("aabb");
  });
});
