import { createDb, createJob, setClause, type Db } from "@kex/db";
import { createJobsFinishedCounter, createMetricsRegistry } from "@kex/metrics";
import { createLogger } from "@kex/core";
import { createTestDatabase, type TestDatabase } from "@kex/testing";
import { Engine } from "../src";

// What upstream charged for a job's task: recorded from the first report that carries it, never twice.
let database: TestDatabase;
let db: Db;
let engine: Engine;
beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url });
  engine = new Engine({
    db,
    enqueue: async () => {},
    metrics: { jobsFinished: createJobsFinishedCounter(createMetricsRegistry({ defaultMetrics: false })) },
    logger: createLogger({ name: "deductions-test", level: "silent" }),
    clock: () => new Date(),
  });
});
afterAll(async () => {
  await db.close();
  await database.drop();
});

async function processingJob(): Promise<string> {
  const job = await createJob(db, { input: { video_id: "v-1", prompt: "waves" } });
  await db.prisma.job.update({
    where: { id: job.id },
    data: { status: "processing", upstreamTaskId: `t-${job.id}`, externalTaskId: `${job.id}-1`, upstreamStatus: "processing", submittedAt: new Date() },
  });
  return job.id;
}

const VIDEO = { id: "r1", url: "https://cdn/x.mp4", duration: "9.5" };
const row = (id: string) => db.prisma.job.findUniqueOrThrow({ where: { id } });

describe("deductions", () => {
  it("records both from the final report, and a later report (a poll after the callback) changes neither", async () => {
    const id = await processingJob();
    const final = { task_id: `t-${id}`, task_status: "succeed" as const, task_result: { videos: [VIDEO] } };
    await engine.applyUpstreamReport({ jobId: id, task: { ...final, final_unit_deduction: "2", final_balance_deduction: { quota: "0.75", list_price: "1.40" } }, source: "webhook" });
    expect(await row(id)).toMatchObject({ status: "succeeded", finalUnitDeduction: "2", finalBalanceQuota: "0.75", finalBalanceListPrice: "1.40" });
    const again = await engine.applyUpstreamReport({
      jobId: id,
      task: { ...final, final_unit_deduction: "9", final_balance_deduction: { quota: "9", list_price: "9" } },
      source: "reconciler",
    });
    expect(again.outcome).toBe("unchanged");
    expect(await row(id)).toMatchObject({ finalUnitDeduction: "2", finalBalanceQuota: "0.75", finalBalanceListPrice: "1.40" });
  });

  it("a report without deductions leaves them unset; a later one carrying them records them on the finished job", async () => {
    const id = await processingJob();
    await engine.applyUpstreamReport({ jobId: id, task: { task_id: `t-${id}`, task_status: "failed", task_status_msg: "risk" }, source: "webhook" });
    expect(await row(id)).toMatchObject({ status: "failed", finalUnitDeduction: null, finalBalanceQuota: null });
    await engine.applyUpstreamReport({ jobId: id, task: { task_id: `t-${id}`, task_status: "failed", final_unit_deduction: "0" }, source: "reconciler" });
    expect(await row(id)).toMatchObject({ status: "failed", finalUnitDeduction: "0", finalBalanceQuota: null });
  });

  it("a report about another task records nothing", async () => {
    const id = await processingJob();
    await engine.applyUpstreamReport({ jobId: id, task: { task_id: "someone-else", task_status: "succeed", task_result: { videos: [VIDEO] }, final_unit_deduction: "5" }, source: "webhook" });
    expect(await row(id)).toMatchObject({ status: "processing", finalUnitDeduction: null });
  });

  it("concurrent reports with different amounts: exactly one amount is kept, the first written", async () => {
    const id = await processingJob();
    const report = (amount: string) =>
      engine.applyUpstreamReport({ jobId: id, task: { task_id: `t-${id}`, task_status: "processing", final_unit_deduction: amount }, source: "webhook" });
    await Promise.all(["1", "2", "3", "4", "5", "6"].map(report));
    const { finalUnitDeduction } = await row(id);
    expect(["1", "2", "3", "4", "5", "6"]).toContain(finalUnitDeduction);
  });

  it("the columns are written once in SQL too: a second write keeps the first value", async () => {
    const id = await processingJob();
    for (const amount of ["3", "4"]) {
      const set = setClause({ finalUnitDeduction: amount }, 2);
      await db.query({ text: `UPDATE jobs SET ${set.sql} WHERE id = $1`, values: [id, ...set.values] });
    }
    expect((await row(id)).finalUnitDeduction).toBe("3");
  });
});
