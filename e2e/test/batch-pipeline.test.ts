import { getJobEvents } from "@kex/db";
import request from "supertest";
import { postBatch, STACK_API_TOKEN, startStack, waitForBatchDone, type Stack } from "../src/stack";

const auth = { Authorization: `Bearer ${STACK_API_TOKEN}` };
const sourceVideo = (i: number) => `7${String(i).padStart(17, "0")}`;

const submitBatch = (stack: Stack, items: object[]) => postBatch(stack, items);
const waitForBatch = waitForBatchDone;

describe("end to end: api → queue → worker → sandbox → callback → Postgres", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      sandbox: { maxConcurrency: 10, processingDelayMs: 20, completeDelayMinMs: 20, completeDelayMaxMs: 120 },
      worker: { KLING_MAX_IN_FLIGHT: "10", WORKER_CONCURRENCY: "16" },
    });
  });
  afterAll(async () => {
    await stack.close();
  });

  it("runs a batch of 200 to `succeeded`, within the in-flight cap, one upstream task per job", async () => {
    const batch = await submitBatch(stack, Array.from({ length: 200 }, (_, i) => ({ video_id: sourceVideo(i), prompt: `shot ${i}` })));
    const done = await waitForBatch(stack, batch.id);
    expect(done.counts).toEqual({ queued: 0, submitting: 0, submitted: 0, processing: 0, succeeded: 200, failed: 0, canceled: 0 });

    const rows = await stack.api.db.prisma.job.findMany({ where: { batchId: batch.id } });
    for (const row of rows) {
      expect(row.status).toBe("succeeded");
      expect(row.upstreamTaskId).toMatch(/^\d{18}$/);
      expect(row.resultVideoId).toMatch(/^\d{18}$/);
      expect(row.resultUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/videos\/\d{18}\.mp4$/);
      expect(row.resultDuration).toBe(9.5);
      expect(row.attempts).toBe(1);
      expect(row.submittedAt).not.toBeNull();
      expect(row.finishedAt).not.toBeNull();
    }
    const stats = stack.sandbox.stats();
    expect(stats.tasksCreated).toBe(200);
    expect(stats.jobsWithMultipleTasks).toBe(0);
    expect(stats.peakInFlight).toBeLessThanOrEqual(10);
    expect(stats.peakInFlight).toBeGreaterThanOrEqual(2);
    expect(stats.rejectedByCode["1303"] ?? 0).toBe(0);

    // Every job walked the whole path, each step in the event log.
    const events = await getJobEvents(stack.api.db, batch.jobs[0]!);
    const path = events.filter((e) => e.toStatus).map((e) => e.toStatus);
    expect(path).toEqual(["queued", "submitting", "submitted", "processing", "succeeded"]);

    // And the status API shows it.
    const job = await request(stack.api.url).get(`/v1/extensions/${batch.jobs[0]}`).set(auth);
    expect(job.body).toMatchObject({ status: "succeeded", upstream_status: "succeed", result: { duration: 9.5 }, error: null });
  });

  it("fails a job whose source video does not exist with upstream code 1203, without retrying", async () => {
    const batch = await submitBatch(stack, [{ video_id: "404000000000000001", prompt: "missing" }, { video_id: sourceVideo(999), prompt: "fine" }]);
    const done = await waitForBatch(stack, batch.id);
    expect(done.counts).toMatchObject({ succeeded: 1, failed: 1 });
    const failed = await request(stack.api.url).get(`/v1/extensions/${batch.jobs[0]}`).set(auth);
    expect(failed.body).toMatchObject({ status: "failed", error: { code: "1203" }, upstream_task_id: null, attempts: 1 });
    expect(failed.body.error.message.length).toBeGreaterThan(0);
  });

  it("reports an upstream task failure with upstream's reason", async () => {
    stack.sandbox.setOptions({ failureRate: 1 });
    try {
      const batch = await submitBatch(stack, [{ video_id: sourceVideo(1000), prompt: "risky" }]);
      await waitForBatch(stack, batch.id);
      const job = await request(stack.api.url).get(`/v1/extensions/${batch.jobs[0]}`).set(auth);
      expect(job.body).toMatchObject({ status: "failed", error: { code: "task_failed", message: "content risk control" }, upstream_status: "failed" });
    } finally {
      stack.sandbox.setOptions({ failureRate: 0 });
    }
  });

  it("duplicate and reordered callbacks leave the same final rows", async () => {
    stack.sandbox.setOptions({ callbackDuplicateRate: 0.5, callbackReorderRate: 0.5 });
    try {
      const batch = await submitBatch(stack, Array.from({ length: 40 }, (_, i) => ({ video_id: sourceVideo(2000 + i), prompt: "again" })));
      await waitForBatch(stack, batch.id);
      await stack.sandbox.waitForIdle(10_000);
      const rows = await stack.api.db.prisma.job.findMany({ where: { batchId: batch.jobs.length ? batch.id : "" } });
      const finals = new Set(rows.map((r) => JSON.stringify([r.status, r.upstreamStatus, r.resultDuration, r.errorCode])));
      expect([...finals]).toEqual([JSON.stringify(["succeeded", "succeed", 9.5, null])]);
      const stats = stack.sandbox.stats();
      expect(stats.jobsWithMultipleTasks).toBe(0);
      // Some callbacks really were duplicated: more webhook events than status changes.
      const webhookEvents = await stack.api.db.prisma.jobEvent.count({ where: { jobId: { in: batch.jobs }, source: "webhook" } });
      const changes = await stack.api.db.prisma.jobEvent.count({ where: { jobId: { in: batch.jobs }, source: "webhook", toStatus: { not: null } } });
      expect(webhookEvents).toBeGreaterThan(changes);
    } finally {
      stack.sandbox.setOptions({ callbackDuplicateRate: 0, callbackReorderRate: 0 });
    }
  });
});
