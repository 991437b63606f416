import { callbackToken } from "@kex/core";
import { claimManyForSubmit, countInFlight, createBatch, createJob, encodeBatchItems, getJobEvents, recordSubmitAttempt } from "@kex/db";
import { createKlingClient } from "@kex/kling";
import { randomUUID } from "node:crypto";
import { createSubmitQueue, enqueueSubmits } from "@kex/queue";
import { itOnRedisBackend, waitFor } from "@kex/testing";
import request from "supertest";
import { postBatch, STACK_API_TOKEN, startStack, waitForBatchDone, type Stack } from "../src/stack";

const auth = { Authorization: `Bearer ${STACK_API_TOKEN}` };
const video = (i: number) => `6${String(i).padStart(17, "0")}`;
const FAST = { processingDelayMs: 10, completeDelayMinMs: 10, completeDelayMaxMs: 60 };

const submitBatch = (stack: Stack, n: number, offset = 0) =>
  postBatch(stack, Array.from({ length: n }, (_, i) => ({ video_id: video(offset + i), prompt: `p${i}` })));
const waitForBatch = waitForBatchDone;

describe("crash safety on submit: never two upstream tasks for one job", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ sandbox: FAST, worker: { KLING_MAX_IN_FLIGHT: "20" } });
  });
  afterAll(() => stack.close());

  it("adopts the task when upstream accepted a create but the answer was lost", async () => {
    stack.sandbox.setOptions({ acceptThenFailRate: 1 });
    const batch = await submitBatch(stack, 5);
    // Every first create makes a task and answers 500; the retry finds the task by external id.
    // Wait until upstream has really received (and answered 500 to) every first create.
    await waitFor(async () => ((stack.sandbox.stats().rejectedByCode["5000"] ?? 0) >= 5 ? true : undefined));
    stack.sandbox.setOptions({ acceptThenFailRate: 0 });
    const done = await waitForBatch(stack, batch.id);
    expect(done.counts.succeeded).toBe(5);
    const stats = stack.sandbox.stats();
    expect(stats.jobsWithMultipleTasks).toBe(0);
    expect(stats.tasksCreated).toBe(5);
    // The task was adopted, by the retry's lookup or by its first callback, never created again.
    for (const id of batch.jobs) {
      const events = await getJobEvents(stack.api.db, id);
      const adopted = events.some((e) => e.detail?.startsWith("adopted existing task") || (e.source === "webhook" && e.fromStatus === "submitting"));
      expect(adopted).toBe(true);
    }
  });

  it("adopts a task created by a worker that died before storing the task id", async () => {
    const job = await createJob(stack.api.db, { input: { video_id: video(500), prompt: "crash" } });
    // What a worker did before dying: claimed the job, counted the attempt, created the task upstream.
    expect((await claimManyForSubmit(stack.api.db, { jobIds: [job.id], maxInFlight: 0 })).get(job.id)).toBe("claimed");
    await recordSubmitAttempt(stack.api.db, job.id);
    const kling = createKlingClient({ baseUrl: stack.sandbox.url, pathPrefix: "/kling", auth: { mode: "static", apiKey: "sandbox-key" }, timeoutMs: 5000 });
    const created = await kling.createTask({ video_id: video(500), prompt: "crash", external_task_id: `${job.id}-1` });
    expect(created.ok).toBe(true);
    const before = stack.sandbox.stats().tasksCreated;

    // The sweeper finds the job in `submitting` with no live submit and puts it back.
    await new Promise((r) => setTimeout(r, 50));
    const swept = await stack.workers[0]!.maintenance.sweep(new Date(Date.now() + 60_000));
    expect(swept.requeued).toBeGreaterThanOrEqual(1);
    await waitFor(async () => {
      const row = await stack.api.db.prisma.job.findUnique({ where: { id: job.id } });
      return row && ["submitted", "processing", "succeeded"].includes(row.status) ? row : undefined;
    });
    const row = await stack.api.db.prisma.job.findUniqueOrThrow({ where: { id: job.id } });
    expect(row.upstreamTaskId).toBe(created.ok ? created.data.task_id : "");
    expect(stack.sandbox.stats().tasksCreated).toBe(before);
    expect(stack.sandbox.stats().jobsWithMultipleTasks).toBe(0);
  });
});

describe("Postgres is the source of truth; the queue may vanish", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ sandbox: FAST, workers: 0 });
  });
  afterAll(() => stack.close());

  it("re-enqueues every unfinished job after the queue's data is wiped", async () => {
    const batch = await submitBatch(stack, 30, 1000);
    // The queue loses everything (a Redis flush / failover, a lost queue schema): the jobs exist only in Postgres now.
    await stack.testQueue.wipe();
    const worker = await stack.addWorker();
    const swept = await worker.maintenance.sweep(new Date(Date.now() + 60_000));
    expect(swept.requeued).toBe(30);
    const done = await waitForBatch(stack, batch.id);
    expect(done.counts.succeeded).toBe(30);
    expect(stack.sandbox.stats().jobsWithMultipleTasks).toBe(0);
    const events = await getJobEvents(stack.api.db, batch.jobs[0]!);
    expect(events.map((e) => [e.source, e.type])).toContainEqual(["sweeper", "requeued"]);
    // A second sweep finds nothing to do.
    expect((await worker.maintenance.sweep(new Date(Date.now() + 60_000))).requeued).toBe(0);
  });
});

describe("the API while a dependency is down", () => {
  itOnRedisBackend("accepts jobs while Redis is down (the sweeper enqueues them later) and /readyz says why", "about a Redis outage beside a live Postgres", async () => {
    const stack = await startStack({ sandbox: FAST, workers: 0, api: { REDIS_URL: "redis://127.0.0.1:1" } });
    try {
      const res = await request(stack.api.url).post("/v1/extensions").set(auth).send({ video_id: video(2000), prompt: "while redis is down" });
      expect(res.status).toBe(202);
      const ready = await request(stack.api.url).get("/readyz");
      expect(ready.status).toBe(503);
      expect(ready.body.checks.queue).toBe("unreachable");
      const worker = await stack.addWorker();
      await worker.maintenance.sweep(new Date(Date.now() + 60_000));
      await waitFor(async () => {
        const job = await request(stack.api.url).get(`/v1/extensions/${res.body.id}`).set(auth);
        return job.body.status === "succeeded" ? true : undefined;
      });
    } finally {
      await stack.close();
    }
  });

  it("answers 503 (never 500) on the API and the webhook receiver when Postgres is down", async () => {
    const stack = await startStack({ sandbox: FAST, workers: 0, api: { DATABASE_URL: "postgresql://postgres@127.0.0.1:1/nothing" } });
    try {
      const create = await request(stack.api.url).post("/v1/extensions").set(auth).send({ video_id: video(1), prompt: "x" });
      expect(create.status).toBe(503);
      expect(create.body.error.code).toBe("unavailable");
      expect(create.headers["retry-after"]).toBeDefined();
      const jobId = "0b7f6f8e-1111-4222-8333-444455556666";
      const hook = await request(stack.api.url)
        .post(`/webhooks/kling/${jobId}?token=${callbackToken("stack-callback-secret-0123456789", jobId)}`)
        .send({ task_id: "1", task_status: "processing" });
      expect(hook.status).toBe(503);
      const ready = await request(stack.api.url).get("/readyz");
      expect(ready.status).toBe(503);
      expect(ready.body.checks.postgres).toBe("unreachable");
    } finally {
      await stack.close();
    }
  });
});

describe("lost callbacks and stuck tasks", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      sandbox: { ...FAST, callbackDropRate: 1, maxConcurrency: 0 },
      worker: { KLING_MAX_IN_FLIGHT: "20", RECONCILE_AFTER_MS: "0", RECONCILE_INTERVAL_MS: "600000", TASK_DEADLINE_MS: "600000" },
    });
  });
  afterAll(() => stack.close());

  it("converges by polling when every callback is lost", async () => {
    const batch = await submitBatch(stack, 12, 3000);
    await waitFor(async () => ((await stack.api.db.prisma.job.count({ where: { batchId: batch.id, upstreamTaskId: { not: null } } })) === 12 ? true : undefined));
    await stack.sandbox.waitForIdle(10_000);
    expect(stack.sandbox.stats().callbacksDropped).toBeGreaterThanOrEqual(24);
    // The scheduled reconciler may already be at it; run it until nothing is left to correct.
    await waitFor(async () => {
      await stack.workers[0]!.maintenance.reconcile(new Date(Date.now() + 1000));
      return (await stack.api.db.prisma.job.count({ where: { batchId: batch.id, status: "succeeded" } })) === 12 ? true : undefined;
    });
    const rows = await stack.api.db.prisma.job.findMany({ where: { batchId: batch.id } });
    expect(rows.every((r) => r.status === "succeeded" && r.resultDuration === 9.5 && r.polledAt)).toBe(true);
    const events = await getJobEvents(stack.api.db, batch.jobs[0]!);
    expect(events.some((e) => e.source === "reconciler" && e.toStatus === "succeeded")).toBe(true);
  });

  it("fails a job upstream never finishes once the deadline passes; its task keeps the slot while upstream runs it", async () => {
    stack.sandbox.setOptions({ completeDelayMinMs: 600_000, completeDelayMaxMs: 600_000 });
    const batch = await submitBatch(stack, 1, 4000);
    await waitFor(async () => ((await stack.api.db.prisma.job.count({ where: { batchId: batch.id, status: { in: ["submitted", "processing"] } } })) === 1 ? true : undefined));
    expect(await countInFlight(stack.api.db)).toBe(1);
    const result = await stack.workers[0]!.maintenance.reconcile(new Date(Date.now() + 3_600_000));
    expect(result.expired).toBe(1);
    const job = await request(stack.api.url).get(`/v1/extensions/${batch.jobs[0]}`).set(auth);
    expect(job.body).toMatchObject({ status: "failed", error: { code: "upstream_timeout" } });
    expect(await countInFlight(stack.api.db)).toBe(1);
    stack.sandbox.setOptions(FAST);
  });
});

describe("upstream pushback", () => {
  it("1303 (account full because of another client) waits without failing or using attempts", async () => {
    const stack = await startStack({ sandbox: { ...FAST, maxConcurrency: 3 }, worker: { KLING_MAX_IN_FLIGHT: "10" } });
    try {
      const batch = await submitBatch(stack, 30, 5000);
      const done = await waitForBatch(stack, batch.id);
      expect(done.counts.succeeded).toBe(30);
      const stats = stack.sandbox.stats();
      expect(stats.rejectedByCode["1303"]).toBeGreaterThan(0);
      expect(stats.peakInFlight).toBeLessThanOrEqual(3);
      expect(stats.jobsWithMultipleTasks).toBe(0);
      expect(await stack.api.db.prisma.jobEvent.count({ where: { type: "upstream_at_capacity" } })).toBeGreaterThan(0);
    } finally {
      await stack.close();
    }
  });

  it("5xx and 1302 are retried until every job succeeds, one task each", async () => {
    const stack = await startStack({ sandbox: { ...FAST, error5xxRate: 0.3, rateLimitRate: 0.2, maxConcurrency: 0 }, worker: { KLING_MAX_IN_FLIGHT: "10" } });
    try {
      const batch = await submitBatch(stack, 30, 6000);
      const done = await waitForBatch(stack, batch.id, 90_000);
      expect(done.counts.succeeded).toBe(30);
      const stats = stack.sandbox.stats();
      expect((stats.rejectedByCode["5000"] ?? 0) + (stats.rejectedByCode["5001"] ?? 0) + (stats.rejectedByCode["5002"] ?? 0)).toBeGreaterThan(0);
      expect(stats.rejectedByCode["1302"]).toBeGreaterThan(0);
      expect(stats.jobsWithMultipleTasks).toBe(0);
      expect(stats.tasksCreated).toBe(30);
      // Done submits leave nothing behind in the queue; the retries above went through the "kex" backoff.
      const queue = createSubmitQueue(stack.queueBackend);
      // The last submits' completions may still be on their way to the queue.
      const counts = await waitFor(async () => {
        const c = await queue.getJobCounts("completed", "failed", "wait", "delayed", "prioritized", "active");
        return Object.values(c).every((n) => n === 0) ? c : undefined;
      }, { timeoutMs: 10_000, what: "an empty submit queue" }).finally(() => queue.close());
      expect(counts.completed).toBe(0);
      expect(await stack.api.db.prisma.jobEvent.count({ where: { type: "submit_retry" } })).toBeGreaterThan(0);
    } finally {
      await stack.close();
    }
  });

  it("1102 pauses every submission, shows on /readyz and in events, and resumes by itself", async () => {
    // The pause is long enough that the 700 ms window below always falls inside it, even on a busy machine.
    const stack = await startStack({ sandbox: { ...FAST, accountError: 1102 }, worker: { ACCOUNT_PAUSE_MS: "5000" } });
    try {
      const batch = await submitBatch(stack, 5, 7000);
      const paused = await waitFor(async () => {
        const res = await request(stack.api.url).get("/readyz");
        return res.status === 503 ? res.body : undefined;
      });
      expect(paused.checks.upstream_account).toMatchObject({ status: "paused", code: 1102 });
      // The event is written just after the pause is set, so /readyz can see the pause first.
      await waitFor(async () => ((await stack.api.db.prisma.jobEvent.count({ where: { type: "account_paused" } })) > 0 ? true : undefined));
      const createsWhilePaused = stack.sandbox.stats().createRequests;
      await new Promise((r) => setTimeout(r, 700));
      // Paused means paused: no create storm while the account is blocked.
      const createsDuringPause = stack.sandbox.stats().createRequests - createsWhilePaused;
      expect(Date.now()).toBeLessThan(Date.parse(paused.checks.upstream_account.until));
      // At most one create that was already on the wire when the first 1102 came back.
      expect(createsDuringPause).toBeLessThanOrEqual(1);
      stack.sandbox.setOptions({ accountError: null });
      const done = await waitForBatch(stack, batch.id, 30_000);
      expect(done.counts.succeeded).toBe(5);
      expect((await request(stack.api.url).get("/readyz")).status).toBe(200);
    } finally {
      await stack.close();
    }
  });
});

describe("account pause and jobs that already hold a slot", () => {
  it("a claimed job does not create while the account is paused, and goes once the pause ends", async () => {
    const stack = await startStack({ sandbox: FAST });
    try {
      const job = await createJob(stack.api.db, { input: { video_id: video(900), prompt: "paused" } });
      // Claimed (holding a slot) before the account was paused: the pause check at claim time is behind it.
      expect((await claimManyForSubmit(stack.api.db, { jobIds: [job.id], maxInFlight: 0 })).get(job.id)).toBe("claimed");
      const pause = await stack.queueBackend.pauses.pause("default", { code: 1102, message: "arrears", durationMs: 2500 });
      await new Promise((r) => setTimeout(r, 50));
      expect((await stack.workers[0]!.maintenance.sweep(new Date(Date.now() + 60_000))).requeued).toBe(1);
      await new Promise((r) => setTimeout(r, 800));
      expect(Date.now()).toBeLessThan(Date.parse(pause.until));
      expect(stack.sandbox.stats().createRequests).toBe(0);
      expect((await stack.api.db.prisma.job.findUniqueOrThrow({ where: { id: job.id } })).status).toBe("submitting");
      const done = await waitFor(async () => {
        const row = await stack.api.db.prisma.job.findUniqueOrThrow({ where: { id: job.id } });
        return row.status === "succeeded" ? row : undefined;
      });
      expect(done.attempts).toBe(1);
      expect(stack.sandbox.stats().createRequests).toBe(1);
    } finally {
      await stack.close();
    }
  });
});

describe("a submit that arrives before its row is committed", () => {
  it("is handed back and runs once the row exists, instead of being dropped", async () => {
    const stack = await startStack({ sandbox: FAST });
    const queue = createSubmitQueue(stack.queueBackend);
    try {
      const jobId = randomUUID();
      await enqueueSubmits(queue, [jobId]);
      // The worker sees the submit with no row behind it (what the api's overlapped batch insert allows).
      await waitFor(async () => ((await queue.getDelayedCount()) === 1 ? true : undefined), { what: "submit handed back" });
      await createBatch(stack.api.db, { items: encodeBatchItems([{ video_id: video(950), prompt: "late row" }]), jobIds: [jobId] });
      const row = await waitFor(async () => {
        const r = await stack.api.db.prisma.job.findUniqueOrThrow({ where: { id: jobId } });
        return r.status === "succeeded" ? r : undefined;
      }, { timeoutMs: 15_000, what: "job succeeded" });
      expect(row.attempts).toBe(1);
    } finally {
      await queue.close();
      await stack.close();
    }
  });
});

describe("one cap shared by several workers", () => {
  it("never has more than KLING_MAX_IN_FLIGHT tasks upstream across 3 workers", async () => {
    const stack = await startStack({ sandbox: { ...FAST, maxConcurrency: 0 }, worker: { KLING_MAX_IN_FLIGHT: "4", WORKER_CONCURRENCY: "8" }, workers: 3 });
    try {
      const batch = await submitBatch(stack, 60, 8000);
      const done = await waitForBatch(stack, batch.id, 90_000);
      expect(done.counts.succeeded).toBe(60);
      const stats = stack.sandbox.stats();
      expect(stats.peakInFlight).toBeLessThanOrEqual(4);
      expect(stats.peakInFlight).toBeGreaterThanOrEqual(2);
      expect(stats.jobsWithMultipleTasks).toBe(0);
    } finally {
      await stack.close();
    }
  });
});
