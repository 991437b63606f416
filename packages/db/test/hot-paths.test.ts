import { JOB_STATUSES } from "@kex/core";
import { BATCH_INSERT_CHUNK_ITEMS, claimManyForSubmit, countInFlight, createBatch, createJob, encodeBatchItems, getJob, getJobForTenant, holdsAccountSlot, insertJobEvent, setClause, SLOT_SQL, updateJobWithEvent, type Db } from "../src";
import { useTestDb } from "./test-db";

// The hot statements (src/sql) read and write through plain pg instead of Prisma; these pin them to
// what Prisma itself would return and store, on a real database.
let db: Db;
useTestDb((opened) => (db = opened));

const DEFAULT_TENANT = "00000000-0000-4000-8000-000000000001";

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

describe("reads through pg", () => {
  it("getJob returns exactly what Prisma returns, every field and type", async () => {
    const id = await fullJob();
    const viaPrisma = await db.prisma.job.findUniqueOrThrow({ where: { id } });
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

describe("writes through pg", () => {
  it("createJob stores the job and its created event, and returns the row as Prisma reads it", async () => {
    const job = await createJob(db, { input: { video_id: "w-1", prompt: "p", metadata: { n: 1 } } });
    expect(job).toStrictEqual(await db.prisma.job.findUniqueOrThrow({ where: { id: job.id } }));
    expect(job).toMatchObject({ status: "queued", tenantId: DEFAULT_TENANT, metadata: { n: 1 }, negativePrompt: null, callbackUrl: null });
    expect(await db.prisma.jobEvent.findMany({ where: { jobId: job.id } })).toMatchObject([{ source: "api", type: "created", toStatus: "queued" }]);
  });

  it("insertJobEvent stores an absent payload as SQL NULL, like Prisma.DbNull", async () => {
    const id = await fullJob();
    await insertJobEvent(db, { jobId: id, source: "worker", type: "note" });
    const [row] = await db.prisma.$queryRaw<Array<{ payload_is_null: boolean }>>`SELECT payload IS NULL AS payload_is_null FROM job_events WHERE job_id = ${id}::uuid AND type = 'note'`;
    expect(row!.payload_is_null).toBe(true);
  });

  it("updateJobWithEvent writes the change and its event when the guard holds, and nothing when it misses", async () => {
    const id = await fullJob();
    const at = new Date("2030-01-01T00:00:00Z");
    const missed = await updateJobWithEvent(db, { id, status: "submitted" }, { status: "failed" }, { source: "worker", type: "x", from: "submitted", to: "failed", at });
    expect(missed).toBeNull();
    const row = await updateJobWithEvent(db, { id, status: "processing" }, { status: "failed", errorCode: "e", updatedAt: at }, { source: "worker", type: "x", from: "processing", to: "failed", payload: { a: 1 }, at });
    expect(row).toStrictEqual(await db.prisma.job.findUniqueOrThrow({ where: { id } }));
    expect(row).toMatchObject({ status: "failed", errorCode: "e", updatedAt: at });
    const events = await db.prisma.jobEvent.findMany({ where: { jobId: id, type: "x" } });
    expect(events).toMatchObject([{ fromStatus: "processing", toStatus: "failed", payload: { a: 1 }, at }]);
  });
});

describe("Db.transaction", () => {
  it("commits what fn wrote when it returns", async () => {
    const id = await fullJob();
    const out = await db.transaction(async (tx) => {
      await insertJobEvent(tx, { jobId: id, source: "worker", type: "tx-commit" });
      return 7;
    });
    expect(out).toBe(7);
    expect(await db.prisma.jobEvent.count({ where: { jobId: id, type: "tx-commit" } })).toBe(1);
  });

  it("rolls back everything fn wrote when it throws, and gives the connection back usable", async () => {
    const id = await fullJob();
    await expect(
      db.transaction(async (tx) => {
        await insertJobEvent(tx, { jobId: id, source: "worker", type: "tx-rollback" });
        expect((await tx.query<{ n: number }>({ text: "SELECT count(*)::int AS n FROM job_events WHERE type = 'tx-rollback'" })).rows[0]!.n).toBe(1);
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await db.prisma.jobEvent.count({ where: { jobId: id, type: "tx-rollback" } })).toBe(0);
    expect(db.pool.totalCount - db.pool.idleCount).toBe(0);
    expect((await getJob(db, id))?.id).toBe(id);
  });
});

describe("createBatch from the items' JSON, a chunk per statement", () => {
  it("stores every field of every item as Prisma would, with one created event each", async () => {
    const { batch, jobIds } = await createBatch(db, {
      items: encodeBatchItems([
        { video_id: "v1", prompt: "one", negative_prompt: "no", cfg_scale: 0, metadata: { k: "v", n: 0.1, deep: { a: [1, null, "é\u2028"] } }, callback_url: "https://a.example/h" },
        { video_id: "v2", prompt: "two ' quotes \" and {braces} \\ \u0001 \n 😀" },
        { video_id: "v3", prompt: "three", cfg_scale: 1e-7, metadata: [1, null] as unknown as Record<string, unknown> },
        { video_id: "v4", prompt: "four", metadata: {} },
      ]),
      callbackUrl: "https://batch.example/h",
    });
    expect(batch).toStrictEqual(await db.prisma.batch.findUniqueOrThrow({ where: { id: batch.id } }));
    expect(batch).toMatchObject({ total: 4, tenantId: DEFAULT_TENANT, callbackUrl: "https://batch.example/h" });
    const rows = await Promise.all(jobIds.map((id) => db.prisma.job.findUniqueOrThrow({ where: { id } })));
    expect(rows.map((r) => [r.videoId, r.prompt, r.negativePrompt, r.cfgScale, r.callbackUrl, r.metadata, r.status, r.batchId, r.tenantId])).toEqual([
      ["v1", "one", "no", 0, "https://a.example/h", { k: "v", n: 0.1, deep: { a: [1, null, "é\u2028"] } }, "queued", batch.id, DEFAULT_TENANT],
      ["v2", 'two \' quotes " and {braces} \\ \u0001 \n 😀', null, null, "https://batch.example/h", null, "queued", batch.id, DEFAULT_TENANT],
      ["v3", "three", null, 1e-7, "https://batch.example/h", [1, null], "queued", batch.id, DEFAULT_TENANT],
      ["v4", "four", null, null, "https://batch.example/h", {}, "queued", batch.id, DEFAULT_TENANT],
    ]);
    expect(await db.prisma.jobEvent.count({ where: { jobId: { in: jobIds }, type: "created", toStatus: "queued" } })).toBe(4);
  });

  it("pairs each item with its job id across chunks, in order", async () => {
    const count = 2 * BATCH_INSERT_CHUNK_ITEMS + 7;
    const items = encodeBatchItems(Array.from({ length: count }, (_, i) => ({ video_id: `chunked-${i}`, prompt: `p${i}` })));
    expect(items.chunks.map((c) => c.count)).toEqual([BATCH_INSERT_CHUNK_ITEMS, BATCH_INSERT_CHUNK_ITEMS, 7]);
    const { batch, jobIds } = await createBatch(db, { items });
    const stored = await db.prisma.job.findMany({ where: { batchId: batch.id }, select: { id: true, videoId: true, prompt: true } });
    const byId = new Map(stored.map((r) => [r.id, r]));
    expect(stored).toHaveLength(count);
    expect(jobIds.map((id) => byId.get(id)?.videoId)).toEqual(Array.from({ length: count }, (_, i) => `chunked-${i}`));
    expect(await db.prisma.jobEvent.count({ where: { jobId: { in: jobIds }, type: "created" } })).toBe(count);
  });

  it("gives each job the account at its place, across chunks, next to its batch_index; none given = the default account", async () => {
    const count = BATCH_INSERT_CHUNK_ITEMS + 3;
    const items = encodeBatchItems(Array.from({ length: count }, (_, i) => ({ video_id: `acc-${i}`, prompt: "p" })));
    const accounts = Array.from({ length: count }, (_, i) => (i % 3 === 0 ? "a" : i % 3 === 1 ? "b" : "default"));
    const { batch, jobIds } = await createBatch(db, { items, accounts });
    const stored = await db.prisma.job.findMany({ where: { batchId: batch.id }, select: { id: true, videoId: true, account: true, batchIndex: true } });
    const byId = new Map(stored.map((r) => [r.id, r]));
    expect(jobIds.map((id) => byId.get(id))).toEqual(jobIds.map((id, i) => ({ id, videoId: `acc-${i}`, account: accounts[i], batchIndex: i })));
    const plain = await createBatch(db, { items: encodeBatchItems([{ video_id: "acc-x", prompt: "p" }]) });
    expect((await getJob(db, plain.jobIds[0]!))?.account).toBe("default");
    await expect(createBatch(db, { items, accounts: ["a"] })).rejects.toThrow("one account per item");
  });

  it("is all or nothing: a row failing in the last chunk leaves no batch, no job and no event", async () => {
    const taken = await fullJob();
    const before = { batches: await db.prisma.batch.count(), jobs: await db.prisma.job.count(), events: await db.prisma.jobEvent.count() };
    const count = BATCH_INSERT_CHUNK_ITEMS + 2;
    const jobIds = Array.from({ length: count }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`);
    jobIds[count - 1] = taken;
    const items = encodeBatchItems(Array.from({ length: count }, (_, i) => ({ video_id: `a${i}`, prompt: "a" })));
    await expect(createBatch(db, { items, jobIds })).rejects.toThrow(/duplicate key/);
    expect({ batches: await db.prisma.batch.count(), jobs: await db.prisma.job.count(), events: await db.prisma.jobEvent.count() }).toEqual(before);
    // The connection went back to the pool in a usable state.
    expect((await getJob(db, taken))?.id).toBe(taken);
    expect(db.pool.totalCount - db.pool.idleCount).toBe(0);
  });

  it("refuses ids that do not match the items one for one, and chunks that do not hold what they say, storing nothing", async () => {
    const before = await db.prisma.batch.count();
    const items = encodeBatchItems([{ video_id: "m1", prompt: "p" }, { video_id: "m2", prompt: "p" }]);
    await expect(createBatch(db, { items, jobIds: ["00000000-0000-4000-8000-00000000aaaa"] })).rejects.toThrow("one job id per item");
    const lying = { count: 3, chunks: [{ ...items.chunks[0]!, count: 3 }] };
    await expect(createBatch(db, { items: lying })).rejects.toThrow("a chunk of 3 items inserted 2 jobs");
    expect(await db.prisma.batch.count()).toBe(before);
  });
});

describe("claimManyForSubmit", () => {
  /** No job left by earlier tests holds an account slot (a failed job whose task still runs does). */
  const freeEverySlot = () => db.query({ text: `UPDATE jobs SET status = 'succeeded', upstream_status = 'succeed' WHERE ${SLOT_SQL}` });

  it("gives the free slots to queued jobs in the order asked, and says why the others got none", async () => {
    const { jobIds } = await createBatch(db, { items: encodeBatchItems(Array.from({ length: 6 }, (_, i) => ({ video_id: `c${i}`, prompt: "p" }))) });
    await freeEverySlot();
    await db.prisma.job.update({ where: { id: jobIds[0]! }, data: { status: "processing" } }); // holds 1 of 3 slots
    await db.prisma.job.update({ where: { id: jobIds[2]! }, data: { status: "canceled" } });
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
    const claimed = await db.prisma.job.findMany({ where: { id: { in: [jobIds[5]!, jobIds[1]!] } } });
    expect(claimed.map((j) => [j.status, j.externalTaskId])).toEqual(expect.arrayContaining([["submitting", `${jobIds[5]}-1`], ["submitting", `${jobIds[1]}-1`]]));
    expect(await db.prisma.jobEvent.count({ where: { jobId: { in: jobIds }, type: "submit_started" } })).toBe(2);
  });

  it("never exceeds the cap when many claims race, and claims everything without one", async () => {
    await db.prisma.job.updateMany({ where: { status: "queued" }, data: { status: "succeeded" } });
    await freeEverySlot();
    const { jobIds } = await createBatch(db, { items: encodeBatchItems(Array.from({ length: 40 }, (_, i) => ({ video_id: `r${i}`, prompt: "p" }))) });
    const groups = Array.from({ length: 8 }, (_, g) => jobIds.slice(g * 5, g * 5 + 5));
    const results = await Promise.all(groups.map((ids) => claimManyForSubmit(db, { jobIds: ids, maxInFlight: 7 })));
    expect(results.flatMap((m) => [...m.values()]).filter((o) => o === "claimed")).toHaveLength(7);
    expect(await countInFlight(db)).toBe(7);
    const rest = await claimManyForSubmit(db, { jobIds, maxInFlight: 0 });
    expect([...rest.values()].filter((o) => o === "claimed")).toHaveLength(33);
  });
});

describe("the slot rule", () => {
  it("holdsAccountSlot and the SQL countInFlight counts agree on every status and upstream status", async () => {
    await db.prisma.job.updateMany({ data: { status: "succeeded", upstreamStatus: null } });
    const upstream = [null, "submitted", "processing", "succeed", "failed"];
    const cases = JOB_STATUSES.flatMap((status) => upstream.map((upstreamStatus) => ({ status, upstreamStatus })));
    const { jobIds } = await createBatch(db, { items: encodeBatchItems(cases.map((_, i) => ({ video_id: `s${i}`, prompt: "p" }))) });
    for (const [i, c] of cases.entries()) await db.prisma.job.update({ where: { id: jobIds[i]! }, data: c });
    for (const [i, c] of cases.entries()) {
      // NULL (an unknown upstream status) counts as false, as it does in a WHERE.
      const { rows } = await db.query<{ holds: boolean }>({ text: `SELECT COALESCE(${SLOT_SQL}, false) AS holds FROM jobs WHERE id = $1::uuid`, values: [jobIds[i]!] });
      expect({ ...c, holds: rows[0]!.holds }).toEqual({ ...c, holds: holdsAccountSlot(c) });
    }
    expect(await countInFlight(db)).toBe(cases.filter(holdsAccountSlot).length);
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
