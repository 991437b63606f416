import { countInFlight, getJobEvents } from "@kex/db";
import { waitFor } from "@kex/testing";
import { postBatch, startStack, waitForBatchDone, type Stack } from "../src/stack";

// The account's cap and the recovery paths, seen from upstream's side: the sandbox's own counts.
const video = (i: number) => `5${String(i).padStart(17, "0")}`;
const FAST = { processingDelayMs: 10, completeDelayMinMs: 10, completeDelayMaxMs: 60 };
const submitBatch = (stack: Stack, n: number, offset: number) =>
  postBatch(stack, Array.from({ length: n }, (_, i) => ({ video_id: video(offset + i), prompt: `p${i}` })));
const job = (stack: Stack, id: string) => stack.api.db.prisma.job.findUniqueOrThrow({ where: { id } });

describe("a job that gave up on its task keeps the slot until upstream finishes the task", () => {
  it("15 s tasks, a 5 s deadline, 40 jobs: upstream never runs more than the cap of our tasks", async () => {
    const stack = await startStack({
      sandbox: { processingDelayMs: 1000, completeDelayMinMs: 14_000, completeDelayMaxMs: 14_000, maxConcurrency: 0 },
      worker: { KLING_MAX_IN_FLIGHT: "10", TASK_DEADLINE_MS: "5000", RECONCILE_INTERVAL_MS: "1000" },
    });
    try {
      const batch = await submitBatch(stack, 40, 0);
      const done = await waitForBatchDone(stack, batch.id, 150_000);
      expect(done.counts.failed).toBe(40);
      await stack.sandbox.waitForIdle(30_000);
      const stats = stack.sandbox.stats();
      expect(stats.peakInFlight).toBeLessThanOrEqual(10);
      expect(stats.tasksCreated).toBe(40);
      expect(stats.jobsWithMultipleTasks).toBe(0);
      // Each task's late final callback is recorded on its failed job, which stays failed.
      const events = await getJobEvents(stack.api.db, batch.jobs[0]!);
      expect(events.at(-1)).toMatchObject({ source: "webhook", type: "upstream_succeed", toStatus: null });
      expect(await job(stack, batch.jobs[0]!)).toMatchObject({ status: "failed", errorCode: "upstream_timeout", upstreamStatus: "succeed" });
      await waitFor(async () => ((await countInFlight(stack.api.db)) === 0 ? true : undefined), { what: "every slot free" });
    } finally {
      await stack.close();
    }
  }, 200_000);

  describe("with every callback lost", () => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await startStack({
        sandbox: { processingDelayMs: 10, completeDelayMinMs: 1500, completeDelayMaxMs: 1500, callbackDropRate: 1, maxConcurrency: 0 },
        worker: { RECONCILE_AFTER_MS: "0", RECONCILE_INTERVAL_MS: "600000", TASK_DEADLINE_MS: "600000" },
      });
    });
    afterAll(() => stack.close());

    async function failedByDeadline(offset: number): Promise<string> {
      const batch = await submitBatch(stack, 1, offset);
      const id = batch.jobs[0]!;
      await waitFor(async () => (["submitted", "processing"].includes((await job(stack, id)).status) ? true : undefined));
      expect((await stack.workers[0]!.maintenance.reconcile(new Date(Date.now() + 3_600_000))).expired).toBe(1);
      expect(await job(stack, id)).toMatchObject({ status: "failed", errorCode: "upstream_timeout" });
      return id;
    }

    it("the reconciler keeps polling the task; its late final status is an event, the job stays failed, the slot frees", async () => {
      const id = await failedByDeadline(100);
      expect(await countInFlight(stack.api.db)).toBe(1);
      await stack.sandbox.waitForIdle(10_000);
      await stack.workers[0]!.maintenance.reconcile(new Date(Date.now() + 7_200_000));
      expect(await job(stack, id)).toMatchObject({ status: "failed", errorCode: "upstream_timeout", upstreamStatus: "succeed" });
      const events = await getJobEvents(stack.api.db, id);
      expect(events.at(-1)).toMatchObject({ source: "reconciler", type: "upstream_succeed", toStatus: null });
      expect(await countInFlight(stack.api.db)).toBe(0);
    });

    it("a task upstream no longer knows holds no slot and is not polled again", async () => {
      stack.sandbox.setOptions({ completeDelayMinMs: 600_000, completeDelayMaxMs: 600_000 });
      const id = await failedByDeadline(200);
      expect(await countInFlight(stack.api.db)).toBe(1);
      stack.sandbox.reset(); // upstream forgets every task
      const polled = await stack.workers[0]!.maintenance.reconcile(new Date(Date.now() + 7_200_000));
      expect(polled.polled).toBe(1);
      expect(await job(stack, id)).toMatchObject({ status: "failed", errorCode: "upstream_timeout", upstreamStatus: null });
      expect(await countInFlight(stack.api.db)).toBe(0);
      expect((await stack.workers[0]!.maintenance.reconcile(new Date(Date.now() + 9_000_000))).polled).toBe(0);
    });
  });
});

describe("1303 means upstream made no task", () => {
  it("the create is sent again without looking the task up first", async () => {
    const stack = await startStack({ sandbox: { ...FAST, maxConcurrency: 3 }, worker: { KLING_MAX_IN_FLIGHT: "10", RECONCILE_INTERVAL_MS: "600000" } });
    try {
      const batch = await submitBatch(stack, 30, 300);
      const done = await waitForBatchDone(stack, batch.id);
      expect(done.counts.succeeded).toBe(30);
      const stats = stack.sandbox.stats();
      expect(stats.rejectedByCode["1303"]).toBeGreaterThan(0);
      expect(stats.queryRequests).toBe(0);
      expect(stats.jobsWithMultipleTasks).toBe(0);
      // Only the create that made the task counts as an attempt.
      const rows = await stack.api.db.prisma.job.findMany({ where: { batchId: batch.id } });
      expect(rows.filter((r) => r.attempts !== 1)).toEqual([]);
    } finally {
      await stack.close();
    }
  });
});

describe("lost callbacks are polled once overdue against the account's recent tasks", () => {
  it("a task whose callbacks are lost is polled seconds after it should have finished, not RECONCILE_AFTER_MS (120 s) later", async () => {
    const stack = await startStack({
      sandbox: { processingDelayMs: 10, completeDelayMinMs: 100, completeDelayMaxMs: 300, maxConcurrency: 0 },
      worker: { RECONCILE_INTERVAL_MS: "300", RECONCILE_MIN_AFTER_MS: "1000" },
    });
    try {
      // Recent tasks took well under a second, with their callbacks.
      const warmUp = await submitBatch(stack, 20, 400);
      expect((await waitForBatchDone(stack, warmUp.id)).counts.succeeded).toBe(20);
      stack.sandbox.setOptions({ callbackDropRate: 1 });
      const started = Date.now();
      const lost = await submitBatch(stack, 3, 500);
      expect((await waitForBatchDone(stack, lost.id, 20_000)).counts.succeeded).toBe(3);
      expect(Date.now() - started).toBeLessThan(10_000);
      const events = await getJobEvents(stack.api.db, lost.jobs[0]!);
      expect(events.at(-1)).toMatchObject({ source: "reconciler", toStatus: "succeeded" });
    } finally {
      await stack.close();
    }
  });
});
