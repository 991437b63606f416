import {
  countInFlight,
  createBatch,
  encodeBatchItems,
  findJobsToReconcile,
  forgetMissingTask,
  holdsAccountSlot,
  insertJobEvent,
  recentTaskDurations,
  recordSubmitAttempt,
  uncountSubmitAttempt,
  type Db,
  type Job,
} from "../src";
import { useTestDb } from "./test-db";

type JobFields = Partial<Pick<Job, "status" | "upstreamTaskId" | "upstreamStatus" | "errorCode" | "submittedAt" | "polledAt" | "finishedAt" | "updatedAt">>;

// What the reconciler and the submit processor read and write about upstream tasks, on a real database.
let db: Db;
useTestDb((opened) => (db = opened));
beforeEach(async () => {
  await db.prisma.job.deleteMany();
});

const T0 = new Date("2026-01-01T00:00:00Z");
const at = (ms: number) => new Date(T0.getTime() + ms);

async function jobs(rows: JobFields[]): Promise<string[]> {
  const { jobIds } = await createBatch(db, { items: encodeBatchItems(rows.map((_, i) => ({ video_id: `v${i}`, prompt: "p" }))) });
  for (const [i, data] of rows.entries()) {
    const id = jobIds[i]!;
    await db.prisma.job.update({ where: { id }, data: { upstreamTaskId: data.status === "queued" ? null : `t-${id}`, ...data } });
  }
  return jobIds;
}

describe("the slot of a job that finished here while upstream runs its task", () => {
  it("is held by a canceled or failed job until upstream reports the task final or no longer knows it", async () => {
    const running = { upstreamStatus: "processing" };
    expect(holdsAccountSlot({ status: "failed", ...running })).toBe(true);
    expect(holdsAccountSlot({ status: "canceled", ...running })).toBe(true);
    expect(holdsAccountSlot({ status: "failed", upstreamStatus: "succeed" })).toBe(false);
    expect(holdsAccountSlot({ status: "failed", upstreamStatus: null })).toBe(false);
    expect(holdsAccountSlot({ status: "succeeded", upstreamStatus: "succeed" })).toBe(false);
    const [failed] = await jobs([{ status: "failed", errorCode: "upstream_timeout", upstreamStatus: "processing", submittedAt: at(0) }]);
    expect(await countInFlight(db)).toBe(1);
    expect(await forgetMissingTask(db, { jobId: failed!, taskId: `t-${failed}`, now: at(1000) })).toBe(true);
    expect(await countInFlight(db)).toBe(0);
    expect(await db.prisma.job.findUniqueOrThrow({ where: { id: failed! } })).toMatchObject({ upstreamStatus: null, upstreamTaskId: `t-${failed}`, polledAt: at(1000) });
    expect(await forgetMissingTask(db, { jobId: failed!, taskId: `t-${failed}`, now: at(2000) })).toBe(false);
  });
});

describe("findJobsToReconcile", () => {
  it("finds running tasks neither accepted nor polled since `before`, least recently looked at first", async () => {
    const [old, polledOld, polledRecently, fresh, failedRunning, failedDone, canceledRunning, queued] = await jobs([
      { status: "processing", upstreamStatus: "processing", submittedAt: at(0), updatedAt: at(50_000) },
      { status: "submitted", upstreamStatus: "submitted", submittedAt: at(-60_000), polledAt: at(5_000) },
      { status: "submitted", upstreamStatus: "submitted", submittedAt: at(0), polledAt: at(15_000) },
      { status: "submitted", upstreamStatus: "submitted", submittedAt: at(15_000) },
      { status: "failed", errorCode: "upstream_timeout", upstreamStatus: "processing", submittedAt: at(1000) },
      { status: "failed", errorCode: "upstream_timeout", upstreamStatus: "succeed", submittedAt: at(0) },
      { status: "canceled", upstreamStatus: "submitted", submittedAt: null, updatedAt: at(2000) },
      { status: "queued" },
    ]);
    const found = await findJobsToReconcile(db, { before: at(10_000), limit: 10 });
    expect(found.map((r) => r.id)).toEqual([old, failedRunning, canceledRunning, polledOld]);
    expect(found.map((r) => r.id)).not.toEqual(expect.arrayContaining([polledRecently, fresh, failedDone, queued]));
    expect(await findJobsToReconcile(db, { before: at(10_000), limit: 2 })).toHaveLength(2);
  });
});

describe("recentTaskDurations", () => {
  it("takes the durations of the last tasks upstream finished, and counts those a poll finished", async () => {
    // Ten tasks of 1..10 s, the last two finished by the reconciler (their callbacks were lost).
    const ids = await jobs(
      Array.from({ length: 10 }, (_, i) => ({
        status: i % 3 === 0 ? ("failed" as const) : ("succeeded" as const),
        errorCode: i % 3 === 0 ? "task_failed" : null,
        upstreamStatus: i % 3 === 0 ? "failed" : "succeed",
        submittedAt: at(0),
        finishedAt: at((i + 1) * 1000),
        updatedAt: at((i + 1) * 1000),
      })),
    );
    for (const id of ids.slice(8)) {
      const row = await db.prisma.job.findUniqueOrThrow({ where: { id } });
      await insertJobEvent(db, { jobId: id, source: "reconciler", type: "upstream_succeed", from: "processing", to: row.status, at: at(9000) });
    }
    // What upstream did not finish, or finished long ago, is not a duration we learn from.
    await jobs([
      { status: "failed", errorCode: "upstream_timeout", upstreamStatus: "processing", submittedAt: at(0), finishedAt: at(60_000), updatedAt: at(60_000) },
      { status: "canceled", upstreamStatus: "succeed", submittedAt: at(0), finishedAt: at(500), updatedAt: at(500) },
      { status: "succeeded", upstreamStatus: "succeed", submittedAt: at(-7_200_000), finishedAt: at(-3_600_000), updatedAt: at(-3_600_000) },
    ]);
    const recent = await recentTaskDurations(db, { since: at(-60_000), limit: 100 });
    expect(recent).toEqual({ tasks: 10, finishedByPoll: 2, p50Ms: 5500, p90Ms: 9100 });
    // The most recent ones only.
    expect(await recentTaskDurations(db, { since: at(-60_000), limit: 4 })).toEqual({ tasks: 4, finishedByPoll: 2, p50Ms: 8500, p90Ms: 9700 });
    expect(await recentTaskDurations(db, { since: at(60_000), limit: 100 })).toEqual({ tasks: 0, finishedByPoll: 0, p50Ms: null, p90Ms: null });
  });
});

describe("uncountSubmitAttempt", () => {
  it("takes back the count of a create that made no task, only while the job is being submitted", async () => {
    const [id] = await jobs([{ status: "submitting", upstreamTaskId: null }]);
    await recordSubmitAttempt(db, id!);
    expect(await uncountSubmitAttempt(db, id!)).toBe(true);
    expect((await db.prisma.job.findUniqueOrThrow({ where: { id: id! } })).attempts).toBe(0);
    expect(await uncountSubmitAttempt(db, id!)).toBe(false);
    await recordSubmitAttempt(db, id!);
    await db.prisma.job.update({ where: { id: id! }, data: { status: "submitted" } });
    expect(await uncountSubmitAttempt(db, id!)).toBe(false);
    expect((await db.prisma.job.findUniqueOrThrow({ where: { id: id! } })).attempts).toBe(1);
  });
});
