import { createLogger } from "@kex/core";
import { claimManyForSubmit, createDb, createJob, getJobEvents, type Db } from "@kex/db";
import { createJobsFinishedCounter, createMetricsRegistry } from "@kex/metrics";
import { createTestDatabase, type TestDatabase } from "@kex/testing";
import { Engine } from "../src";

// Which task a job follows, whoever reports it: a callback, a poll, a create answer or a lookup all go
// through the same rule, and a report the job may not take writes its event and nothing else.
let database: TestDatabase;
let db: Db;
let engine: Engine;
beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url });
  engine = new Engine({
    db,
    enqueue: async () => undefined,
    metrics: { jobsFinished: createJobsFinishedCounter(createMetricsRegistry({ defaultMetrics: false })) },
    logger: createLogger({ name: "engine-test", level: "silent" }),
    clock: () => new Date(),
  });
});
afterAll(async () => {
  await db.close();
  await database.drop();
});

let seq = 0;
const input = () => ({ video_id: `7${String(seq++).padStart(17, "0")}`, prompt: "p" });
const row = (id: string) => db.prisma.job.findUniqueOrThrow({ where: { id } });
const lastEvent = async (id: string) => (await getJobEvents(db, id)).at(-1);

async function claimed(): Promise<string> {
  const job = await createJob(db, { input: input() });
  expect((await claimManyForSubmit(db, { jobIds: [job.id], maxInFlight: 0 })).get(job.id)).toBe("claimed");
  return job.id;
}

async function holding(taskId: string): Promise<string> {
  const id = await claimed();
  await engine.adoptUpstreamTask({ jobId: id, task: { task_id: taskId, task_status: "submitted" }, source: "worker" });
  return id;
}

const succeed = (taskId: string) => ({ task_id: taskId, task_status: "succeed" as const, task_result: { videos: [{ id: "r", url: "https://cdn/r.mp4", duration: "9" }] } });

describe("a poll", () => {
  it("about another task than the job holds changes nothing but its event", async () => {
    const id = await holding("t-held-1");
    const before = await row(id);
    const result = await engine.applyUpstreamReport({ jobId: id, task: succeed("t-other-1"), source: "reconciler" });
    expect(result).toMatchObject({ outcome: "unchanged", reason: "not_applicable" });
    expect(await row(id)).toStrictEqual(before);
    expect(await lastEvent(id)).toMatchObject({ source: "reconciler", type: "upstream_succeed", toStatus: null, payload: succeed("t-other-1") });
    expect((await lastEvent(id))?.detail).toMatch(/task mismatch/);
  });

  it("about a job still queued, or failed before upstream took it, writes nothing but its event", async () => {
    const queued = (await createJob(db, { input: input() })).id;
    const failed = await claimed();
    await engine.applyEvent({ jobId: failed, event: { type: "submit_rejected", error: { code: "1201", message: "no" } }, source: "worker" });
    for (const id of [queued, failed]) {
      const before = await row(id);
      const result = await engine.applyUpstreamReport({ jobId: id, task: succeed(`t-stray-${id}`), source: "reconciler" });
      expect(result).toMatchObject({ outcome: "unchanged", reason: "not_applicable" });
      expect(await row(id)).toStrictEqual(before);
      expect((await lastEvent(id))?.detail).toMatch(/not bound/);
    }
  });

  it("about the task a job holds still moves that task's upstream status on a finished job (its slot)", async () => {
    const id = await holding("t-held-2");
    await engine.cancelJob(id);
    const result = await engine.applyUpstreamReport({ jobId: id, task: succeed("t-held-2"), source: "reconciler" });
    expect(result).toMatchObject({ outcome: "unchanged", reason: "terminal" });
    expect(await row(id)).toMatchObject({ status: "canceled", upstreamTaskId: "t-held-2", upstreamStatus: "succeed", resultUrl: null });
  });
});

describe("binding a task to a job that holds none", () => {
  it("a report binds while the job is submitting; one naming another external_task_id does not", async () => {
    const id = await claimed();
    const { externalTaskId } = await row(id);
    const foreign = await engine.applyUpstreamReport({ jobId: id, task: { task_id: "t-foreign", task_status: "processing", task_info: { external_task_id: "someone-else-1" } }, source: "reconciler" });
    expect(foreign).toMatchObject({ outcome: "unchanged", reason: "not_applicable" });
    expect(await row(id)).toMatchObject({ status: "submitting", upstreamTaskId: null, upstreamStatus: null });
    const own = await engine.applyUpstreamReport({ jobId: id, task: { task_id: "t-own", task_status: "processing", task_info: { external_task_id: externalTaskId } }, source: "reconciler" });
    expect(own).toMatchObject({ outcome: "changed", from: "submitting", to: "processing" });
    expect(await row(id)).toMatchObject({ upstreamTaskId: "t-own", upstreamStatus: "processing" });
  });

  it("a create answer or lookup naming another external_task_id is not adopted", async () => {
    const id = await claimed();
    const result = await engine.adoptUpstreamTask({ jobId: id, task: { task_id: "t-lookup", task_status: "submitted", task_info: { external_task_id: "someone-else-2" } }, source: "worker" });
    expect(result).toMatchObject({ outcome: "unchanged", reason: "not_applicable" });
    expect(await row(id)).toMatchObject({ status: "submitting", upstreamTaskId: null });
  });

  it("a task another job holds is not bound (create answer or report): logged, no error", async () => {
    await holding("t-taken");
    for (const apply of [
      (id: string) => engine.adoptUpstreamTask({ jobId: id, task: { task_id: "t-taken", task_status: "submitted" }, source: "worker" }),
      (id: string) => engine.applyUpstreamReport({ jobId: id, task: succeed("t-taken"), source: "reconciler" }),
    ]) {
      const id = await claimed();
      await expect(apply(id)).resolves.toMatchObject({ outcome: "unchanged", reason: "not_applicable" });
      expect(await row(id)).toMatchObject({ status: "submitting", upstreamTaskId: null, finishedAt: null });
      expect((await lastEvent(id))?.detail).toMatch(/another job holds it/);
      expect(await db.prisma.webhookDelivery.count({ where: { jobId: id } })).toBe(0);
    }
  });
});
