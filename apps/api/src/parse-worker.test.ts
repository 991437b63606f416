import { gzipSync } from "node:zlib";
import { BatchCreateSchema } from "@kex/contract";
import { BodyBytes } from "./body-bytes";
import { checkBatchBody } from "./body-checks";
import { BoundedJsonParser } from "./bounded-json-parser";
import { ApiError, parseOr400 } from "./errors";
import { ParseWorker, type CheckedInThread } from "./parse-worker";
import { requestHash } from "./request-hash";

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

const batch = (segments: Buffer[], encoding: "identity" | "gzip" = "identity", hashPrefix?: string) => ({ segments, encoding, limits: LIMITS, check: "batch" as const, hashPrefix });

/** A checked batch with its chunks as text, to compare: from the thread they come as plain Uint8Arrays. */
const readable = (checked: CheckedInThread["body"]) =>
  checked && { ...checked, items: { ...checked.items, chunks: checked.items.chunks.map((c) => ({ count: c.count, json: Buffer.from(c.json).toString("utf8") })) } };

/** What the event loop makes of the same body (`jsonBody` with a small one). */
const onThisThread = (text: string) => readable(checkBatchBody(JSON.parse(text)));

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

  it("hands a valid batch back checked and encoded as the event loop would, the body handed over, not copied", async () => {
    const text = JSON.stringify({ items: Array.from({ length: 3_000 }, (_, i) => item(i)), callback_url: "https://hooks.example/b" });
    const segments = segmentsOf(text);
    expect(segments.length).toBeGreaterThan(1);
    const checked = await worker.check(batch(segments));
    expect(readable(checked.body)).toEqual(onThisThread(text));
    expect(checked.body!.items.chunks.length).toBeGreaterThan(1);
    expect(checked.requestHash).toBeUndefined();
    // Handed over: the buffers the parser filled are no longer usable here.
    expect(segments[0]!.buffer.byteLength).toBe(0);
  });

  it("hashes the body for an Idempotency-Key when asked, as the event loop would", async () => {
    const value = { items: [item(2), { prompt: "p", video_id: "9", metadata: { z: 1, a: 2 } }] };
    const checked = await worker.check(batch(segmentsOf(JSON.stringify(value)), "identity", "POST /v1/batches\n"));
    expect(checked.requestHash).toBe(requestHash("POST /v1/batches\n", value));
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

  it("only parses a body the event loop already scanned within the limits, and still refuses one that is not JSON", async () => {
    const text = JSON.stringify({ items: [item(1), item(2)] });
    // Within the limits the event loop scanned it against; here it is not scanned again (deeper than these would be refused if it were).
    const shallow = { ...LIMITS, maxDepth: 2 };
    expect(readable((await worker.check({ ...batch(segmentsOf(text)), limits: shallow, scanned: true })).body)).toEqual(onThisThread(text));
    expect(await refusal(worker.check({ ...batch(segmentsOf(text)), limits: shallow }))).toMatchObject({ status: 400, details: [{ rule: "too_deep" }] });
    expect(await refusal(worker.check({ ...batch([Buffer.from('{"items":[')]), scanned: true }))).toMatchObject({ status: 400, code: "invalid_json" });
  });

  it("refuses text that is not JSON or not UTF-8 as invalid_json", async () => {
    expect(await refusal(worker.check(batch(segmentsOf('{"items":[{"a":"\t"}]}'))))).toMatchObject({ status: 400, code: "invalid_json" });
    const latin1 = new BoundedJsonParser(LIMITS);
    latin1.write(Buffer.concat([Buffer.from('{"items":["caf'), Buffer.from([0xe9]), Buffer.from('"]}')]));
    expect(await refusal(worker.check(batch(latin1.finish()!)))).toMatchObject({ status: 400, code: "invalid_json" });
  });

  it("inflates a compressed body there, within the limits counted after inflating", async () => {
    const text = JSON.stringify({ items: [item(1), item(2)] });
    expect(readable((await worker.check(batch(sent(gzipSync(text)), "gzip"))).body)).toEqual(onThisThread(text));
    const flood = gzipSync(`{"items":[${"{},".repeat(2_000_000)}{}]}`);
    expect(await refusal(worker.check(batch(sent(flood), "gzip")))).toMatchObject({ status: 400, details: [{ field: "items", rule: "too_big" }] });
    expect(await refusal(worker.check(batch(sent(Buffer.from(text)), "gzip")))).toMatchObject({ status: 400, code: "invalid_json" });
  });

  it("stops its thread when idle and starts another for the next body", async () => {
    await new Promise((resolve) => setTimeout(resolve, 400));
    const text = JSON.stringify({ items: [item(1)] });
    expect(readable((await worker.check(batch(segmentsOf(text)))).body)).toEqual(onThisThread(text));
  });

  it("fails what it holds when it is stopped", async () => {
    const failed = expect(worker.check(batch(segmentsOf(JSON.stringify({ items: [item(1)] }))))).rejects.toThrow("the parse worker was stopped");
    await worker.close();
    await failed;
  });
});
