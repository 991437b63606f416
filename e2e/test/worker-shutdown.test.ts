import { waitFor } from "@kex/testing";
import request from "supertest";
import { STACK_API_TOKEN, startStack } from "../src/stack";

const auth = { Authorization: `Bearer ${STACK_API_TOKEN}` };

describe("graceful shutdown", () => {
  it("a worker closed mid-run finishes its in-flight submits, hands the rest back, and a new worker completes them once each", async () => {
    const stack = await startStack({
      sandbox: { processingDelayMs: 50, completeDelayMinMs: 300, completeDelayMaxMs: 600, responseDelayMs: 150, maxConcurrency: 0 },
      worker: { KLING_MAX_IN_FLIGHT: "5", WORKER_CONCURRENCY: "10" },
    });
    try {
      const items = Array.from({ length: 40 }, (_, i) => ({ video_id: `5${String(i).padStart(17, "0")}`, prompt: "stop" }));
      const batch = (await request(stack.api.url).post("/v1/batches").set(auth).send({ items })).body as { id: string; jobs: string[] };
      // Wait until creates are in flight (the sandbox answers after 150 ms) and others wait for slots.
      await waitFor(async () => ((await stack.api.db.prisma.job.count({ where: { batchId: batch.id, status: "submitting" } })) > 0 ? true : undefined), { intervalMs: 10 });
      await stack.workers[0]!.close();
      stack.workers.length = 0;

      // Nothing half-done: every create that was sent got its answer recorded.
      expect(await stack.api.db.prisma.job.count({ where: { batchId: batch.id, status: "submitting" } })).toBe(0);
      const upstreamSoFar = stack.sandbox.stats().tasksCreated;
      expect(upstreamSoFar).toBeGreaterThan(0);
      expect(upstreamSoFar).toBeLessThan(40);

      await stack.addWorker();
      await waitFor(
        async () => {
          const b = await request(stack.api.url).get(`/v1/batches/${batch.id}`).set(auth);
          return b.body.done ? b.body : undefined;
        },
        { timeoutMs: 60_000, what: "batch to finish after restart" },
      );
      const stats = stack.sandbox.stats();
      expect(await stack.api.db.prisma.job.count({ where: { batchId: batch.id, status: "succeeded" } })).toBe(40);
      expect(stats.tasksCreated).toBe(40);
      expect(stats.jobsWithMultipleTasks).toBe(0);
      expect(stats.peakInFlight).toBeLessThanOrEqual(5);
    } finally {
      await stack.close();
    }
  });
});
