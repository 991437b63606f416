import { gzipSync } from "node:zlib";
import { BatchCreateSchema } from "@kex/contract";
import { BodyBytes } from "./body-bytes";
import { BoundedJsonParser } from "./bounded-json-parser";
import { ApiError, parseOr400 } from "./errors";
import { ParseWorker } from "./parse-worker";

const LIMITS = { maxBytes: 64 * 1024 * 1024, maxDepth: 64, maxMembers: 10_000, maxValues: 1_000_000, maxStringBytes: 64 * 1024 };

/** `text` as the body parser hands it over: scanned in chunks, in buffers of its own. */
function segmentsOf(text: string): Buffer[] {
  const parser = new BoundedJsonParser(LIMITS);
  const bytes = Buffer.from(text);
  for (let offset = 0; offset < bytes.length; offset += 60_000) parser.write(bytes.subarray(offset, offset + 60_000));
  return parser.finish()!;
}

/** `bytes` as sent, in buffers of their own. */
function sent(bytes: Buffer): Buffer[] {
  const body = new BodyBytes();
  body.append(bytes);
  return body.segmentsSoFar();
}

const batch = (segments: Buffer[], encoding: "identity" | "gzip" = "identity") => ({ segments, encoding, limits: LIMITS, schema: "batch" as const });

async function refusal(promise: Promise<unknown>): Promise<ApiError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(err)}`);
  return err;
}

const item = (i: number) => ({ video_id: `8${i}`, prompt: `shot ${i} ${"x".repeat(500)}`, metadata: { i } });

describe("ParseWorker", () => {
  const worker = new ParseWorker({ idleMs: 200 });
  afterAll(() => worker.close());

  it("hands a valid body back, byte for byte, without copying it on this thread", async () => {
    const text = JSON.stringify({ items: Array.from({ length: 3_000 }, (_, i) => item(i)) });
    const segments = segmentsOf(text);
    expect(segments.length).toBeGreaterThan(1);
    const body = await worker.check(batch(segments));
    expect(body.toString("utf8")).toBe(text);
    // Handed over: the buffers the parser filled are no longer usable here.
    expect(segments[0]!.buffer.byteLength).toBe(0);
  });

  it("refuses an invalid body with the 400 its route would give", async () => {
    const body = { items: [...Array.from({ length: 500 }, (_, i) => item(i)), ...Array(9_000).fill({})] };
    let expected: ApiError | undefined;
    try {
      parseOr400(BatchCreateSchema, body);
    } catch (err) {
      expected = err as ApiError;
    }
    const err = await refusal(worker.check(batch(segmentsOf(JSON.stringify(body)))));
    expect({ status: err.status, code: err.code, message: err.message, details: err.details }).toEqual({
      status: 400,
      code: "validation_failed",
      message: expected!.message,
      details: expected!.details,
    });
  });

  it("refuses text that is not JSON or not UTF-8 as invalid_json", async () => {
    expect(await refusal(worker.check(batch(segmentsOf('{"items":[{"a":"\t"}]}'))))).toMatchObject({ status: 400, code: "invalid_json" });
    const latin1 = new BoundedJsonParser(LIMITS);
    latin1.write(Buffer.concat([Buffer.from('{"items":["caf'), Buffer.from([0xe9]), Buffer.from('"]}')]));
    expect(await refusal(worker.check(batch(latin1.finish()!)))).toMatchObject({ status: 400, code: "invalid_json" });
  });

  it("inflates a compressed body there, within the limits counted after inflating", async () => {
    const text = JSON.stringify({ items: [item(1), item(2)] });
    expect((await worker.check(batch(sent(gzipSync(text)), "gzip"))).toString()).toBe(text);
    const flood = gzipSync(`{"items":[${"{},".repeat(2_000_000)}{}]}`);
    expect(await refusal(worker.check(batch(sent(flood), "gzip")))).toMatchObject({ status: 400, details: [{ field: "items", rule: "too_big" }] });
    expect(await refusal(worker.check(batch(sent(Buffer.from(text)), "gzip")))).toMatchObject({ status: 400, code: "invalid_json" });
  });

  it("stops its thread when idle and starts another for the next body", async () => {
    await new Promise((resolve) => setTimeout(resolve, 400));
    const text = JSON.stringify({ items: [item(1)] });
    expect((await worker.check(batch(segmentsOf(text)))).toString()).toBe(text);
  });

  it("fails what it holds when it is stopped", async () => {
    const failed = expect(worker.check(batch(segmentsOf(JSON.stringify({ items: [item(1)] }))))).rejects.toThrow("the parse worker was stopped");
    await worker.close();
    await failed;
  });
});
