import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { once } from "node:events";
import { createdBatches, kex, sourceVideo } from "../src/kex-cli";
import { STACK_API_TOKEN, startStack, type Stack } from "../src/stack";

describe("kex submit with a large file", () => {
  let stack: Stack;
  let dir: string;
  beforeAll(async () => {
    // No worker: the jobs stay queued, the test is about what the CLI sends.
    stack = await startStack({ workers: 0 });
    dir = await mkdtemp(path.join(tmpdir(), "kex-cli-large-"));
  });
  afterAll(async () => {
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("streams 25,000 rows into three batches (10,000, 10,000, 5,000)", async () => {
    const file = path.join(dir, "big.jsonl");
    const out = createWriteStream(file);
    for (let i = 0; i < 25_000; i++) {
      const row = { video_id: sourceVideo(i), prompt: `shot ${i}: the camera keeps moving`, cfg_scale: 0.5, metadata: { row: i } };
      if (!out.write(`${JSON.stringify(row)}\n`)) await once(out, "drain");
    }
    out.end();
    await once(out, "finish");

    const run = await kex(
      ["submit", file, "--callback-url", "http://127.0.0.1:9/hooks"],
      { KEX_URL: stack.api.url, KEX_TOKEN: STACK_API_TOKEN },
      { timeoutMs: 120_000 },
    );
    expect(run.stderr).toContain("submitted 25000 jobs in 3 new batches");
    expect(run.code).toBe(0);
    const batches = createdBatches(run.stdout);
    expect(batches.map((b) => b.total)).toEqual([10_000, 10_000, 5_000]);
    expect(run.stdout).toContain("(lines 1-10000)");
    expect(run.stdout).toContain("(lines 10001-20000)");
    expect(run.stdout).toContain("(lines 20001-25000)");

    for (const [i, b] of batches.entries()) {
      const res = await fetch(`${stack.api.url}/v1/batches/${b.id}`, { headers: { Authorization: `Bearer ${STACK_API_TOKEN}` } });
      const body = (await res.json()) as { total: number; counts: { queued: number }; callback_url: string | null };
      expect(body).toMatchObject({
        total: [10_000, 10_000, 5_000][i],
        counts: { queued: b.total },
        callback_url: "http://127.0.0.1:9/hooks",
        name: "big.jsonl",
        metadata: { source_lines: ["1-10000", "10001-20000", "20001-25000"][i] },
      });
    }
    // Rows keep their order across batches: the last batch holds rows 20,000..24,999.
    const newest = await fetch(`${stack.api.url}/v1/extensions?batch_id=${batches[2]!.id}&limit=1`, {
      headers: { Authorization: `Bearer ${STACK_API_TOKEN}` },
    });
    const page = (await newest.json()) as { data: Array<{ metadata: { row: number } }> };
    expect(page.data[0]!.metadata.row).toBeGreaterThanOrEqual(20_000);
  }, 180_000);
});
