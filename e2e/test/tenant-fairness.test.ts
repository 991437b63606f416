import { waitFor } from "@kex/testing";
import request from "supertest";
import { STACK_API_TOKEN, startStack } from "../src/stack";

const admin = { Authorization: `Bearer ${STACK_API_TOKEN}` };

describe("fair share of upstream slots between tenants", () => {
  it("starts tenant B's jobs within the next few free slots although tenant A's 150-job batch was queued first", async () => {
    const stack = await startStack({
      sandbox: { processingDelayMs: 10, completeDelayMinMs: 30, completeDelayMaxMs: 60, maxConcurrency: 0 },
      api: { API_RATE_LIMIT_PER_SEC: "0" },
      worker: { KLING_MAX_IN_FLIGHT: "2", WORKER_CONCURRENCY: "2" },
      workers: 0,
    });
    try {
      const tenant = async (name: string) => (await request(stack.api.url).post("/v1/tenants").set(admin).send({ name })).body.api_key.key as string;
      const [a, b] = [await tenant("big"), await tenant("small")];
      const items = (n: number, base: number) => Array.from({ length: n }, (_, i) => ({ video_id: `3${String(base + i).padStart(17, "0")}`, prompt: "fair" }));
      const big = (await request(stack.api.url).post("/v1/batches").set({ Authorization: `Bearer ${a}` }).send({ items: items(150, 0) })).body;
      const small = (await request(stack.api.url).post("/v1/batches").set({ Authorization: `Bearer ${b}` }).send({ items: items(3, 1000) })).body;
      expect(big.total).toBe(150);
      await stack.addWorker();
      await waitFor(
        async () => ((await stack.api.db.prisma.job.count({ where: { batchId: small.id, status: "succeeded" } })) === 3 ? true : undefined),
        { timeoutMs: 60_000, what: "tenant B's jobs" },
      );
      // The order in which jobs got a slot.
      const claims = await stack.api.db.prisma.jobEvent.findMany({ where: { type: "submit_started" }, orderBy: { id: "asc" }, select: { jobId: true } });
      const order = claims.map((c) => c.jobId);
      const positions = small.jobs.map((id: string) => order.indexOf(id));
      expect(Math.max(...positions)).toBeLessThan(8);
      expect(Math.min(...positions)).toBeGreaterThanOrEqual(0);
    } finally {
      await stack.close();
    }
  });
});
