import { applyJobEvent, applyUpstreamReport, claimManyForSubmit, countInFlight, createBatch, createDb, setClause, createJob, getJob, getJobEvents, getJobForTenant, recordEvent, type Db } from "@kex/db";

import { createTestDatabase, type TestDatabase } from "@kex/testing";
import { ClaimBatcher } from "../src/claim-batcher";

// The hot paths read and write through plain pg instead of Prisma; these pin them to what Prisma
// itself would return and store.
let database: TestDatabase;
let db: Db;
beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb({ url: database.url });
});
afterAll(async () => {
  await db.$disconnect();
  await database.drop();
});

const DEFAULT_TENANT = "00000000-0000-4000-8000-000000000001";

async function fullJob() {
  const job = await createJob(db, {
    input: { video_id: "v-1", prompt: "waves", negative_prompt: "blur", cfg_scale: 0.25, callback_url: "https://example.com/hook", metadata: { a: [1, "b"] } },
  });
  await db.job.update({
    where: { id: job.id },
    data: { status: "processing", upstreamTaskId: `t-${job.id}`, externalTaskId: `${job.id}-1`, upstreamStatus: "processing", attempts: 2, submittedAt: new Date(), polledAt: new Date() },
  });
  return job.id;
}

describe("reads through pg", () => {
  it("getJob returns exactly what Prisma returns, every field and type", async () => {
    const id = await fullJob();
    const viaPrisma = await db.job.findUniqueOrThrow({ where: { id } });
    expect(await getJob(db, id)).toStrictEqual(viaPrisma);
    expect((await getJob(db, id))!.createdAt).toBeInstanceOf(Date);
  });

  it("getJobForTenant scopes to the tenant; unknown ids are null", async () => {
    const id = await fullJob();
    expect((await getJobForTenant(db, DEFAULT_TENANT, id))?.id).toBe(id);
    expect(await getJobForTenant(db, "00000000-0000-4000-8000-0000000000ff", id)).toBeNull();
    expect(await getJob(db, "00000000-0000-4000-8000-0000000000ee")).toBeNull();
  });
});

describe("applyJobEvent in one statement", () => {
  it("writes the change, the patch and the event together and returns the row as written", async () => {
    const id = await fullJob();
    await db.job.update({ where: { id }, data: { status: "submitted", upstreamStatus: "submitted" } });
    const result = await applyUpstreamReport(db, { jobId: id, task: { task_id: `t-${id}`, task_status: "processing" }, source: "webhook", payload: { raw: true } });
    expect(result).toMatchObject({ outcome: "changed", from: "submitted", to: "processing" });
    const row = await db.job.findUniqueOrThrow({ where: { id } });
    expect(result.outcome === "changed" && result.job).toStrictEqual(row);
    expect(row.upstreamStatus).toBe("processing");
    const events = await getJobEvents(db, id);
    expect(events.at(-1)).toMatchObject({ source: "webhook", type: "upstream_processing", fromStatus: "submitted", toStatus: "processing", payload: { raw: true } });
  });

  it("of two concurrent reports of the same change, exactly one changes the job", async () => {
    const id = await fullJob();
    await db.job.update({ where: { id }, data: { status: "submitted", upstreamStatus: "submitted" } });
    const report = () => applyUpstreamReport(db, { jobId: id, task: { task_id: `t-${id}`, task_status: "processing" }, source: "webhook" });
    const results = await Promise.all([report(), report(), report(), report()]);
    expect(results.filter((r) => r.outcome === "changed")).toHaveLength(1);
    const events = await getJobEvents(db, id);
    expect(events.filter((e) => e.toStatus === "processing")).toHaveLength(1);
    expect(events.filter((e) => e.type === "upstream_processing")).toHaveLength(4);
  });

  it("a final change still writes the outbox row in the same transaction", async () => {
    const id = await fullJob();
    const result = await applyUpstreamReport(db, {
      jobId: id,
      task: { task_id: `t-${id}`, task_status: "succeed", task_result: { videos: [{ id: "r1", url: "https://cdn/x.mp4", duration: "9.5" }] } },
      source: "webhook",
    });
    expect(result).toMatchObject({ outcome: "changed", to: "succeeded", job: { resultUrl: "https://cdn/x.mp4", resultDuration: 9.5 } });
    expect(await db.webhookDelivery.count({ where: { jobId: id, eventType: "extension.succeeded" } })).toBe(1);
  });

  it("jobs of one batch finishing at the same moment queue batch.completed exactly once, with the final counts", async () => {
    const items = Array.from({ length: 8 }, (_, i) => ({ video_id: `b${i}`, prompt: "p" }));
    const { batch, jobIds } = await createBatch(db, { items, callbackUrl: "https://batch.example/h" });
    await db.job.updateMany({ where: { batchId: batch.id }, data: { status: "processing" } });
    const finish = (id: string, i: number) =>
      applyUpstreamReport(db, {
        jobId: id,
        task: i % 4 === 0 ? { task_id: `t-${id}`, task_status: "failed", task_status_msg: "nope" } : { task_id: `t-${id}`, task_status: "succeed", task_result: { videos: [{ id: "r", url: "https://cdn/r.mp4" }] } },
        source: "webhook",
      });
    const results = await Promise.all(jobIds.map(finish));
    expect(results.every((r) => r.outcome === "changed")).toBe(true);
    const deliveries = await db.webhookDelivery.findMany({ where: { batchId: batch.id } });
    expect(deliveries.filter((d) => d.eventType === "batch.completed")).toHaveLength(1);
    expect(deliveries.filter((d) => d.eventType === "extension.succeeded")).toHaveLength(6);
    expect(deliveries.filter((d) => d.eventType === "extension.failed")).toHaveLength(2);
    const completed = deliveries.find((d) => d.eventType === "batch.completed")!;
    expect(completed.payload).toMatchObject({ type: "batch.completed", data: { id: batch.id, total: 8, done: true, counts: { succeeded: 6, failed: 2, processing: 0 } } });
    // A duplicate final report changes nothing and queues nothing more.
    await finish(jobIds[1]!, 1);
    expect(await db.webhookDelivery.count({ where: { batchId: batch.id } })).toBe(9);
  });

  it("a job with no webhook to send finishes in one statement: status, finish time and event, no outbox row", async () => {
    const { batch, jobIds } = await createBatch(db, { items: [{ video_id: "n1", prompt: "p" }] });
    await db.job.update({ where: { id: jobIds[0]! }, data: { status: "processing" } });
    const result = await applyUpstreamReport(db, { jobId: jobIds[0]!, task: { task_id: "t-n1", task_status: "failed", task_status_msg: "bad frame" }, source: "reconciler" });
    expect(result).toMatchObject({ outcome: "changed", to: "failed", job: { errorCode: "task_failed", errorMessage: "bad frame" } });
    const row = await db.job.findUniqueOrThrow({ where: { id: jobIds[0]! } });
    expect(row.finishedAt).toBeInstanceOf(Date);
    expect((await getJobEvents(db, row.id)).at(-1)).toMatchObject({ source: "reconciler", toStatus: "failed" });
    expect(await db.webhookDelivery.count({ where: { OR: [{ jobId: row.id }, { batchId: batch.id }] } })).toBe(0);
  });

  it("an event that changes nothing is still logged, with the reason", async () => {
    const id = await fullJob();
    const result = await applyJobEvent(db, { jobId: id, event: { type: "upstream_accepted" }, source: "worker", detail: "late" });
    expect(result.outcome).toBe("unchanged");
    const last = (await getJobEvents(db, id)).at(-1)!;
    expect(last.type).toBe("upstream_accepted");
    expect(last.toStatus).toBeNull();
    expect(last.detail).toMatch(/late$/);
  });

  it("recordEvent stores null payloads as SQL NULL, like Prisma.DbNull", async () => {
    const id = await fullJob();
    await recordEvent(db, { jobId: id, source: "worker", type: "note" });
    const [row] = await db.$queryRaw<Array<{ payload_is_null: boolean }>>`SELECT payload IS NULL AS payload_is_null FROM job_events WHERE job_id = ${id}::uuid AND type = 'note'`;
    expect(row!.payload_is_null).toBe(true);
  });
});

describe("createBatch through unnest", () => {
  it("stores every field of every item as Prisma would, with one created event each", async () => {
    const { batch, jobIds } = await createBatch(db, {
      items: [
        { video_id: "v1", prompt: "one", negative_prompt: "no", cfg_scale: 0, metadata: { k: "v" }, callback_url: "https://a.example/h" },
        { video_id: "v2", prompt: "two ' quotes \" and {braces}" },
        { video_id: "v3", prompt: "three", cfg_scale: 1, metadata: [1, null] as unknown as Record<string, unknown> },
      ],
      callbackUrl: "https://batch.example/h",
    });
    expect(batch).toStrictEqual(await db.batch.findUniqueOrThrow({ where: { id: batch.id } }));
    expect(batch).toMatchObject({ total: 3, tenantId: DEFAULT_TENANT, callbackUrl: "https://batch.example/h" });
    const rows = await Promise.all(jobIds.map((id) => db.job.findUniqueOrThrow({ where: { id } })));
    expect(rows.map((r) => [r.videoId, r.prompt, r.negativePrompt, r.cfgScale, r.callbackUrl, r.metadata, r.status, r.batchId, r.tenantId])).toEqual([
      ["v1", "one", "no", 0, "https://a.example/h", { k: "v" }, "queued", batch.id, DEFAULT_TENANT],
      ["v2", 'two \' quotes " and {braces}', null, null, "https://batch.example/h", null, "queued", batch.id, DEFAULT_TENANT],
      ["v3", "three", null, 1, "https://batch.example/h", [1, null], "queued", batch.id, DEFAULT_TENANT],
    ]);
    expect(await db.jobEvent.count({ where: { jobId: { in: jobIds }, type: "created", toStatus: "queued" } })).toBe(3);
  });

  it("is all or nothing: a failing row leaves no batch, no job and no event", async () => {
    const taken = await fullJob();
    const before = { batches: await db.batch.count(), jobs: await db.job.count(), events: await db.jobEvent.count() };
    await expect(
      createBatch(db, { items: [{ video_id: "a", prompt: "a" }, { video_id: "b", prompt: "b" }], jobIds: ["00000000-0000-4000-8000-00000000abcd", taken] }),
    ).rejects.toThrow(/duplicate key/);
    expect({ batches: await db.batch.count(), jobs: await db.job.count(), events: await db.jobEvent.count() }).toEqual(before);
    // The connection went back to the pool in a usable state.
    expect((await getJob(db, taken))?.id).toBe(taken);
  });
});

describe("claimManyForSubmit", () => {
  it("gives the free slots to queued jobs in the order asked, and says why the others got none", async () => {
    const { jobIds } = await createBatch(db, { items: Array.from({ length: 6 }, (_, i) => ({ video_id: `c${i}`, prompt: "p" })) });
    await db.job.updateMany({ where: { status: { in: ["submitting", "submitted", "processing"] } }, data: { status: "succeeded" } });
    await db.job.update({ where: { id: jobIds[0]! }, data: { status: "processing" } }); // holds 1 of 3 slots
    await db.job.update({ where: { id: jobIds[2]! }, data: { status: "canceled" } });
    const unknown = "00000000-0000-4000-8000-00000000f00d";
    const asked = [jobIds[2]!, jobIds[5]!, unknown, jobIds[1]!, jobIds[3]!, jobIds[4]!, jobIds[5]!];
    const outcomes = await claimManyForSubmit(db, { jobIds: asked, maxInFlight: 3 });
    expect(Object.fromEntries([...outcomes])).toEqual({
      [jobIds[2]!]: "not_queued",
      [jobIds[5]!]: "claimed",
      [unknown]: "not_queued",
      [jobIds[1]!]: "claimed",
      [jobIds[3]!]: "no_slot",
      [jobIds[4]!]: "no_slot",
    });
    const claimed = await db.job.findMany({ where: { id: { in: [jobIds[5]!, jobIds[1]!] } } });
    expect(claimed.map((j) => [j.status, j.externalTaskId])).toEqual(expect.arrayContaining([["submitting", `${jobIds[5]}-1`], ["submitting", `${jobIds[1]}-1`]]));
    expect(await db.jobEvent.count({ where: { jobId: { in: jobIds }, type: "submit_started" } })).toBe(2);
  });

  it("never exceeds the cap when many claims race, and claims everything without one", async () => {
    await db.job.updateMany({ where: { status: { in: ["queued", "submitting", "submitted", "processing"] } }, data: { status: "succeeded" } });
    const { jobIds } = await createBatch(db, { items: Array.from({ length: 40 }, (_, i) => ({ video_id: `r${i}`, prompt: "p" })) });
    const groups = Array.from({ length: 8 }, (_, g) => jobIds.slice(g * 5, g * 5 + 5));
    const results = await Promise.all(groups.map((ids) => claimManyForSubmit(db, { jobIds: ids, maxInFlight: 7 })));
    expect(results.flatMap((m) => [...m.values()]).filter((o) => o === "claimed")).toHaveLength(7);
    expect(await countInFlight(db)).toBe(7);
    const rest = await claimManyForSubmit(db, { jobIds, maxInFlight: 0 });
    expect([...rest.values()].filter((o) => o === "claimed")).toHaveLength(33);
  });
});

describe("ClaimBatcher", () => {
  it("answers every claim and coalesces concurrent ones into a few transactions", async () => {
    await db.job.updateMany({ where: { status: { in: ["queued", "submitting", "submitted", "processing"] } }, data: { status: "succeeded" } });
    const { jobIds } = await createBatch(db, { items: Array.from({ length: 30 }, (_, i) => ({ video_id: `q${i}`, prompt: "p" })) });
    const batcher = new ClaimBatcher(db, 25);
    const outcomes = await Promise.all([...jobIds, jobIds[0]!].map((id) => batcher.claim(id)));
    expect(outcomes.filter((o) => o === "claimed")).toHaveLength(25);
    expect(outcomes.filter((o) => o === "no_slot")).toHaveLength(5);
    // Each transaction stamps its claims with one time: far fewer stamps than claims.
    const events = await db.jobEvent.findMany({ where: { jobId: { in: jobIds }, type: "submit_started" }, select: { at: true } });
    expect(events).toHaveLength(25);
    expect(new Set(events.map((e) => e.at.getTime())).size).toBeLessThanOrEqual(3);
  });
});

describe("setClause", () => {
  it("numbers parameters, casts enums and refuses operations and unknown fields", () => {
    expect(setClause({ status: "failed", errorCode: "x", finishedAt: undefined }, 3)).toEqual({ sql: "status = $3::job_status, error_code = $4", values: ["failed", "x"] });
    expect(() => setClause({ attempts: { increment: 1 } }, 1)).toThrow(/plain value/);
    expect(() => setClause({ nope: 1 }, 1)).toThrow(/not a writable/);
    expect(() => setClause({ id: "x" }, 1)).toThrow(/not a writable/);
  });
});
