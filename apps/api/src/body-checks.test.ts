import { BATCH_INSERT_CHUNK_ITEMS } from "@kex/db";
import { BODY_CHECKS, checkBatchBody } from "./body-checks";
import { ApiError } from "./errors";

const item = (i: number) => ({ video_id: `8${i}`, prompt: `shot ${i} ${"x".repeat(200)}` });

describe("checkBatchBody", () => {
  it("encodes the valid items in order, a chunk per insert statement, with every callback URL by field", () => {
    const body = { items: Array.from({ length: BATCH_INSERT_CHUNK_ITEMS + 1 }, (_, i) => (i === 3 ? { ...item(i), callback_url: "https://a.example/h" } : item(i))), callback_url: "https://b.example/h" };
    const checked = checkBatchBody(body);
    expect(checked.items.count).toBe(BATCH_INSERT_CHUNK_ITEMS + 1);
    expect(checked.items.chunks.map((c) => c.count)).toEqual([BATCH_INSERT_CHUNK_ITEMS, 1]);
    expect(checked.items.chunks.flatMap((c) => JSON.parse(Buffer.from(c.json).toString("utf8")))).toEqual(body.items);
    expect(checked.callbackUrl).toBe("https://b.example/h");
    expect(checked.callbackUrls).toEqual([
      { field: "callback_url", url: "https://b.example/h" },
      { field: "items.3.callback_url", url: "https://a.example/h" },
    ]);
  });

  it("refuses an invalid body with the 400 naming each bad field", () => {
    let err: unknown;
    try {
      checkBatchBody({ items: [item(1), { video_id: "2", prompt: "" }] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, code: "validation_failed", details: [{ field: "items.1.prompt", rule: "too_small" }] });
  });

  it("hands over the chunks that own their memory, and never a small one sharing Node's buffer pool", () => {
    const big = checkBatchBody({ items: Array.from({ length: BATCH_INSERT_CHUNK_ITEMS + 1 }, (_, i) => item(i)) });
    const transfer = BODY_CHECKS.batch.transfer(big);
    expect(transfer).toEqual([big.items.chunks[0]!.json.buffer]);
    expect(big.items.chunks[1]!.json.buffer.byteLength).toBeGreaterThan(big.items.chunks[1]!.json.byteLength);
  });
});
