import { createBatch, createChain, createDb, createJob, encodeBatchItems, getJobEvents, type Db } from "@kex/db";
import { createMetricsRegistry, createJobsFinishedCounter, parseMetrics, sumSamples, type Registry } from "@kex/metrics";
import { createLogger } from "@kex/core";
import { createTestDatabase, type TestDatabase } from "@kex/testing";
import { ClaimSystem, Engine } from "../src";

// The engine on a real database: every transition and what follows a finish.
let database: TestDatabase;
let db: Db;
let engine: Engine;
let registry: Registry;
let enqueued: string[][];
let failEnqueue = false;
beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url });
  registry = createMetricsRegistry({ defaultMetrics: false });
  enqueued = [];
  engine = new Engine({
    db,
    enqueue: async (ids) => {
      if (failEnqueue) throw new Error("redis is down");
      enqueued.push([...ids]);
    },
    metrics: { jobsFinished: createJobsFinishedCounter(registry) },
    logger: createLogger({ name: "engine-test", level: "silent" }),
    clock: () => new Date(),
  });
});
afterAll(async () => {
  await db.close();
  await database.drop();
});

const finished = async (labels: Record<string, string> = {}) => sumSamples(parseMetrics(await registry.metrics()), "kex_jobs_finished_total", labels);

async function fullJob() {
  const job = await createJob(db, {
    input: { video_id: "v-1", prompt: "waves", negative_prompt: "blur", cfg_scale: 0.25, callback_url: "https://example.com/hook", metadata: { a: [1, "b"] } },
  });
  await db.prisma.job.update({
    where: { id: job.id },
    data: { status: "processing", upstreamTaskId: `t-${job.id}`, externalTaskId: `${job.id}-1`, upstreamStatus: "processing", attempts: 2, submittedAt: new Date(), polledAt: new Date() },
  });
  return job.id;
}

describe("applyEvent", () => {
  it("writes the change, the patch and the event together and returns the row as written", async () => {
    const id = await fullJob();
    await db.prisma.job.update({ where: { id }, data: { status: "submitted", upstreamStatus: "submitted" } });
    const result = await engine.applyUpstreamReport({ jobId: id, task: { task_id: `t-${id}`, task_status: "processing" }, source: "webhook", payload: { raw: true } });
    expect(result).toMatchObject({ outcome: "changed", from: "submitted", to: "processing" });
    const row = await db.prisma.job.findUniqueOrThrow({ where: { id } });
    expect(result.outcome === "changed" && result.job).toStrictEqual(row);
    expect(row.upstreamStatus).toBe("processing");
    const events = await getJobEvents(db, id);
    expect(events.at(-1)).toMatchObject({ source: "webhook", type: "upstream_processing", fromStatus: "submitted", toStatus: "processing", payload: { raw: true } });
  });

  it("of two concurrent reports of the same change, exactly one changes the job", async () => {
    const id = await fullJob();
    await db.prisma.job.update({ where: { id }, data: { status: "submitted", upstreamStatus: "submitted" } });
    const report = () => engine.applyUpstreamReport({ jobId: id, task: { task_id: `t-${id}`, task_status: "processing" }, source: "webhook" });
    const results = await Promise.all([report(), report(), report(), report()]);
    expect(results.filter((r) => r.outcome === "changed")).toHaveLength(1);
    const events = await getJobEvents(db, id);
    expect(events.filter((e) => e.toStatus === "processing")).toHaveLength(1);
    expect(events.filter((e) => e.type === "upstream_processing")).toHaveLength(4);
  });

  it("a final change still writes the outbox row in the same transaction", async () => {
    const id = await fullJob();
    const result = await engine.applyUpstreamReport({
      jobId: id,
      task: { task_id: `t-${id}`, task_status: "succeed", task_result: { videos: [{ id: "r1", url: "https://cdn/x.mp4", duration: "9.5" }] } },
      source: "webhook",
    });
    expect(result).toMatchObject({ outcome: "changed", to: "succeeded", job: { resultUrl: "https://cdn/x.mp4", resultDuration: 9.5 } });
    expect(await db.prisma.webhookDelivery.count({ where: { jobId: id, eventType: "extension.succeeded" } })).toBe(1);
  });

  it("jobs of one batch finishing at the same moment queue batch.completed exactly once, with the final counts", async () => {
    const items = Array.from({ length: 8 }, (_, i) => ({ video_id: `b${i}`, prompt: "p" }));
    const { batch, jobIds } = await createBatch(db, { items: encodeBatchItems(items), callbackUrl: "https://batch.example/h" });
    // Each job holds the task its report is about (a report never binds a task to a job past `submitting`).
    await Promise.all(jobIds.map((id) => db.prisma.job.update({ where: { id }, data: { status: "processing", upstreamTaskId: `t-${id}` } })));
    const finish = (id: string, i: number) =>
      engine.applyUpstreamReport({
        jobId: id,
        task: i % 4 === 0 ? { task_id: `t-${id}`, task_status: "failed", task_status_msg: "nope" } : { task_id: `t-${id}`, task_status: "succeed", task_result: { videos: [{ id: "r", url: "https://cdn/r.mp4" }] } },
        source: "webhook",
      });
    const results = await Promise.all(jobIds.map(finish));
    expect(results.every((r) => r.outcome === "changed")).toBe(true);
    const deliveries = await db.prisma.webhookDelivery.findMany({ where: { batchId: batch.id } });
    expect(deliveries.filter((d) => d.eventType === "batch.completed")).toHaveLength(1);
    expect(deliveries.filter((d) => d.eventType === "extension.succeeded")).toHaveLength(6);
    expect(deliveries.filter((d) => d.eventType === "extension.failed")).toHaveLength(2);
    const completed = deliveries.find((d) => d.eventType === "batch.completed")!;
    expect(completed.payload).toMatchObject({ type: "batch.completed", data: { id: batch.id, total: 8, done: true, counts: { succeeded: 6, failed: 2, processing: 0 } } });
    // A duplicate final report changes nothing and queues nothing more.
    await finish(jobIds[1]!, 1);
    expect(await db.prisma.webhookDelivery.count({ where: { batchId: batch.id } })).toBe(9);
  });

  it("a job with no webhook to send finishes in one statement: status, finish time and event, no outbox row", async () => {
    const { batch, jobIds } = await createBatch(db, { items: encodeBatchItems([{ video_id: "n1", prompt: "p" }]) });
    await db.prisma.job.update({ where: { id: jobIds[0]! }, data: { status: "processing", upstreamTaskId: "t-n1" } });
    const result = await engine.applyUpstreamReport({ jobId: jobIds[0]!, task: { task_id: "t-n1", task_status: "failed", task_status_msg: "bad frame" }, source: "reconciler" });
    expect(result).toMatchObject({ outcome: "changed", to: "failed", job: { errorCode: "task_failed", errorMessage: "bad frame" } });
    const row = await db.prisma.job.findUniqueOrThrow({ where: { id: jobIds[0]! } });
    expect(row.finishedAt).toBeInstanceOf(Date);
    expect((await getJobEvents(db, row.id)).at(-1)).toMatchObject({ source: "reconciler", toStatus: "failed" });
    expect(await db.prisma.webhookDelivery.count({ where: { OR: [{ jobId: row.id }, { batchId: batch.id }] } })).toBe(0);
  });

  it("an event that changes nothing is still logged, with the reason", async () => {
    const id = await fullJob();
    const result = await engine.applyEvent({ jobId: id, event: { type: "upstream_accepted", task: { task_id: `t-${id}`, task_status: "submitted" } }, source: "worker", detail: "late" });
    expect(result.outcome).toBe("unchanged");
    const last = (await getJobEvents(db, id)).at(-1)!;
    expect(last.type).toBe("upstream_accepted");
    expect(last.toStatus).toBeNull();
    expect(last.detail).toMatch(/late$/);
  });
});


describe("what follows a finish", () => {
  it("counts each finished job once, by the winner of the guarded update, labelled with the event's source", async () => {
    const id = await fullJob();
    const before = await finished({ status: "succeeded", source: "webhook" });
    const report = () => engine.applyUpstreamReport({ jobId: id, task: { task_id: `t-${id}`, task_status: "succeed", task_result: { videos: [{ id: "r", url: "https://cdn/r.mp4" }] } }, source: "webhook" });
    const results = await Promise.all([report(), report(), report()]);
    expect(results.filter((r) => r.outcome === "changed")).toHaveLength(1);
    expect(await finished({ status: "succeeded", source: "webhook" })).toBe(before + 1);
  });

  it("cancels a batch in one transaction: one event, one outbox row and one count per job, and batch.completed", async () => {
    const { batch, jobIds } = await createBatch(db, { items: encodeBatchItems([0, 1, 2].map((i) => ({ video_id: `x${i}`, prompt: "p", callback_url: "https://a.example/h" }))), callbackUrl: "https://batch.example/h" });
    await db.prisma.job.update({ where: { id: jobIds[0]! }, data: { status: "succeeded" } });
    const before = await finished({ status: "canceled", source: "api" });
    expect(await engine.cancelBatch(batch.id)).toEqual({ canceled: expect.arrayContaining([jobIds[1], jobIds[2]]) });
    expect(await finished({ status: "canceled", source: "api" })).toBe(before + 2);
    const deliveries = await db.prisma.webhookDelivery.findMany({ where: { batchId: batch.id } });
    expect(deliveries.map((d) => d.eventType).sort()).toEqual(["batch.completed", "extension.canceled", "extension.canceled"]);
    expect((await getJobEvents(db, jobIds[1]!)).at(-1)).toMatchObject({ type: "cancel_requested", fromStatus: "queued", toStatus: "canceled", detail: "batch canceled" });
    expect(await engine.cancelBatch(batch.id)).toEqual({ canceled: [] });
  });

  it("starts a chain's next step and enqueues it; a failed enqueue is logged and left to the sweeper", async () => {
    const steps = [{ prompt: "one" }, { prompt: "two" }, { prompt: "three" }];
    const { chain, jobId } = await createChain(db, { tenantId: "00000000-0000-4000-8000-000000000001", input: { video_id: "c-1", steps } });
    const succeed = async (id: string) => {
      await db.prisma.job.update({ where: { id }, data: { status: "processing", upstreamTaskId: `t-${id}` } });
      return engine.applyUpstreamReport({ jobId: id, task: { task_id: `t-${id}`, task_status: "succeed", task_result: { videos: [{ id: `out-${id}`, url: "https://cdn/o.mp4", duration: 9 }] } }, source: "reconciler" });
    };
    enqueued.length = 0;
    expect(await succeed(jobId)).toMatchObject({ outcome: "changed", to: "succeeded" });
    const second = await db.prisma.job.findFirstOrThrow({ where: { chainId: chain.id, stepIndex: 1 } });
    expect(second).toMatchObject({ status: "queued", videoId: `out-${jobId}`, prompt: "two" });
    expect(enqueued).toEqual([[second.id]]);
    failEnqueue = true;
    try {
      expect(await succeed(second.id)).toMatchObject({ outcome: "changed", to: "succeeded" });
    } finally {
      failEnqueue = false;
    }
    const third = await db.prisma.job.findFirstOrThrow({ where: { chainId: chain.id, stepIndex: 2 } });
    expect(third.status).toBe("queued");
    expect((await db.prisma.chain.findUniqueOrThrow({ where: { id: chain.id } })).currentStep).toBe(2);
  });
});

describe("ClaimSystem", () => {
  it("answers every claim and coalesces concurrent ones into a few transactions", async () => {
    await db.prisma.job.updateMany({ where: { status: { in: ["queued", "submitting", "submitted", "processing"] } }, data: { status: "succeeded" } });
    const { jobIds } = await createBatch(db, { items: encodeBatchItems(Array.from({ length: 30 }, (_, i) => ({ video_id: `q${i}`, prompt: "p" }))) });
    const batcher = new ClaimSystem({ db }, "default", 25);
    const outcomes = await Promise.all([...jobIds, jobIds[0]!].map((id) => batcher.claim(id)));
    expect(outcomes.filter((o) => o === "claimed")).toHaveLength(25);
    expect(outcomes.filter((o) => o === "no_slot")).toHaveLength(5);
    // Each transaction stamps its claims with one time: far fewer stamps than claims.
    const events = await db.prisma.jobEvent.findMany({ where: { jobId: { in: jobIds }, type: "submit_started" }, select: { at: true } });
    expect(events).toHaveLength(25);
    expect(new Set(events.map((e) => e.at.getTime())).size).toBeLessThanOrEqual(3);
  });
});

