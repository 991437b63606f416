import { setTimeout as sleep } from "node:timers/promises";
import { createQueueBackend, PostgresBackend, RedisBackend, type AnyQueue, type QueueBackend, type QueueBackendKind } from "@kex/queue";
import { createTestDatabase, createTestQueue, TEST_QUEUE_BACKEND, type TestDatabase, type TestQueue } from "@kex/testing";
import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";

/**
 * The same contract for both implementations of QueueBackend. The Postgres one always runs; the Redis
 * one runs on TEST_QUEUE_BACKEND=redis (on postgres it is a test about Redis itself: skipped, one line).
 */
const kinds: QueueBackendKind[] = TEST_QUEUE_BACKEND === "redis" ? ["redis", "postgres"] : ["postgres"];
if (TEST_QUEUE_BACKEND !== "redis") process.stderr.write(`skipped "QueueBackend contract (redis)" on TEST_QUEUE_BACKEND=${TEST_QUEUE_BACKEND}: about Redis itself\n`);

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.drop());

describe.each(kinds)("QueueBackend contract (%s)", (kind) => {
  const opened: Array<{ tq: TestQueue; backend: QueueBackend }> = [];
  const open = async () => {
    const tq = createTestQueue({ databaseUrl: database.url, kind });
    const backend = await tq.open();
    opened.push({ tq, backend });
    return backend;
  };
  const queues: AnyQueue[] = [];
  afterAll(async () => {
    await Promise.all(queues.map((q) => q.close()));
    for (const { tq, backend } of opened) {
      await backend.close();
      await tq.cleanup();
    }
  });

  it("is the implementation it says and answers readiness", async () => {
    const backend = await open();
    expect(backend.kind).toBe(kind);
    expect(backend).toBeInstanceOf(kind === "redis" ? RedisBackend : PostgresBackend);
    expect(await backend.ping()).toBe(true);
  });

  it("keeps an account pause until it expires or is cleared, shared by every process on the queue", async () => {
    const a = await open();
    const sameQueue = await createQueueBackend(opened.at(-1)!.tq.settings);
    try {
      expect(await a.pauses.current("default")).toBeNull();
      const pause = await a.pauses.pause("default", { code: 1102, message: "arrears", durationMs: 60_000, now: new Date("2026-01-01T00:00:00Z") });
      expect(pause).toEqual({ code: 1102, message: "arrears", until: "2026-01-01T00:01:00.000Z" });
      expect(await sameQueue.pauses.current("default")).toEqual(pause);
      await sameQueue.pauses.clear("default");
      expect(await a.pauses.current("default")).toBeNull();
      await a.pauses.pause("default", { code: 1100, message: "exception", durationMs: 400 });
      expect((await a.pauses.current("default"))?.code).toBe(1100);
      await sleep(700);
      expect(await a.pauses.current("default")).toBeNull();
      // A new pause after an expired one is in force again.
      await a.pauses.pause("default", { code: 1101, message: "again", durationMs: 60_000 });
      expect((await sameQueue.pauses.current("default"))?.code).toBe(1101);
    } finally {
      await sameQueue.close();
    }
  });

  it("keeps pauses per account: pausing one account leaves the others running, clearing one leaves the others paused", async () => {
    const a = await open();
    await a.pauses.pause("acct-a", { code: 1102, message: "arrears", durationMs: 60_000 });
    expect((await a.pauses.current("acct-a"))?.code).toBe(1102);
    expect(await a.pauses.current("acct-b")).toBeNull();
    expect(await a.pauses.current("default")).toBeNull();
    await a.pauses.pause("acct-b", { code: 1101, message: "pack", durationMs: 60_000 });
    await a.pauses.clear("acct-a");
    expect(await a.pauses.current("acct-a")).toBeNull();
    expect((await a.pauses.current("acct-b"))?.code).toBe(1101);
  });

  it("isolates queues by prefix: jobs, pause and rate limit of one are invisible to another", async () => {
    const a = await open();
    const b = await open();
    expect(a.prefix).not.toBe(b.prefix);
    const qa = a.createQueue<{ n: number }>("submit");
    const qb = b.createQueue<{ n: number }>("submit");
    queues.push(qa, qb);
    await qa.add("submit", { n: 1 }, { jobId: "same-id" });
    expect(await qa.getJobState("same-id")).toBe("waiting");
    expect(await qb.getJobState("same-id")).toBe("unknown");
    expect((await qb.getJobCounts("waiting")).waiting).toBe(0);
    await a.pauses.pause("default", { code: 1102, message: "a only", durationMs: 60_000 });
    expect(await b.pauses.current("default")).toBeNull();
    const la = a.rateLimiter({ keyPrefix: "t", points: 1, durationSec: 10, insuranceLimiter: new RateLimiterMemory({ points: 1, duration: 10 }) });
    const lb = b.rateLimiter({ keyPrefix: "t", points: 1, durationSec: 10, insuranceLimiter: new RateLimiterMemory({ points: 1, duration: 10 }) });
    await la.consume("tenant");
    await expect(lb.consume("tenant")).resolves.toBeDefined();
  });

  it("counts a rate limit across processes and refuses past it", async () => {
    const a = await open();
    const sameQueue = await createQueueBackend(opened.at(-1)!.tq.settings);
    try {
      const limiter = (backend: QueueBackend) =>
        backend.rateLimiter({ keyPrefix: "ratelimit", points: 3, durationSec: 5, insuranceLimiter: new RateLimiterMemory({ points: 3, duration: 5 }) });
      const one = limiter(a);
      const two = limiter(sameQueue);
      await one.consume("tenant-1");
      await two.consume("tenant-1");
      const third = await one.consume("tenant-1");
      expect(third.remainingPoints).toBe(0);
      const refused = await two.consume("tenant-1").catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(RateLimiterRes);
      expect((refused as RateLimiterRes).msBeforeNext).toBeGreaterThan(0);
      // Another tenant has its own budget.
      expect((await one.consume("tenant-2")).remainingPoints).toBe(2);
    } finally {
      await sameQueue.close();
    }
  });

  it("answers job states for many ids at once exactly as getJobState does, and queue depth", async () => {
    const backend = await open();
    const queue = backend.createQueue<{ n: number }>("states");
    queues.push(queue);
    await queue.add("x", { n: 1 }, { jobId: "waiting-1" });
    await queue.add("x", { n: 2 }, { jobId: "prioritized-1", priority: 5 });
    await queue.add("x", { n: 3 }, { jobId: "delayed-1", delay: 60_000 });
    await queue.add("x", { n: 4 }, { jobId: "done-1" });
    await queue.add("x", { n: 5 }, { jobId: "fail-1", attempts: 1 });
    const worker = backend.createWorker<{ n: number }>(
      "states",
      async (job) => {
        if (job.data.n === 5) throw new Error("no");
        return job.data.n;
      },
      { concurrency: 1, autorun: false },
    );
    // Run only until the two jobs we want finished are finished (the waiting ones go first by insertion).
    const finished = new Set<string>();
    worker.on("completed", (job) => finished.add(job.id!));
    worker.on("failed", (job) => finished.add(job!.id!));
    await queue.remove("waiting-1");
    await queue.remove("prioritized-1");
    void worker.run();
    for (let i = 0; i < 100 && finished.size < 2; i++) await sleep(100);
    await worker.close();
    await queue.add("x", { n: 1 }, { jobId: "waiting-1" });
    await queue.add("x", { n: 2 }, { jobId: "prioritized-1", priority: 5 });
    const ids = ["waiting-1", "prioritized-1", "delayed-1", "done-1", "fail-1", "never-added"];
    const expected = await Promise.all(ids.map((id) => queue.getJobState(id)));
    expect(expected).toEqual(["waiting", "prioritized", "delayed", "completed", "failed", "unknown"]);
    expect(await backend.jobStates(queue, ids)).toEqual(expected);
    expect(await backend.jobStates(queue, [])).toEqual([]);
    const counts = await queue.getJobCounts("waiting", "prioritized", "delayed", "completed", "failed", "active");
    expect(counts).toEqual({ waiting: 1, prioritized: 1, delayed: 1, completed: 1, failed: 1, active: 0 });
  });

  it("closes cleanly: readiness then says unreachable instead of throwing", async () => {
    const tq = createTestQueue({ databaseUrl: database.url, kind });
    const backend = await tq.open();
    expect(await backend.ping()).toBe(true);
    await backend.close();
    expect(await backend.ping()).toBe(false);
    await tq.cleanup();
  });
});
