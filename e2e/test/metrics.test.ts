import { createJob } from "@kex/db";
import { parseMetrics, sumSamples, type MetricSample } from "@kex/metrics";
import { waitFor } from "@kex/testing";
import request from "supertest";
import { STACK_API_TOKEN, startStack, type Stack } from "../src/stack";

const auth = { Authorization: `Bearer ${STACK_API_TOKEN}` };
const video = (i: number) => `5${String(i).padStart(17, "0")}`;

async function scrape(baseUrl: string): Promise<MetricSample[]> {
  const res = await request(baseUrl).get("/metrics");
  expect(res.status).toBe(200);
  expect(res.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(res.text);
}

async function submitBatch(stack: Stack, items: object[]): Promise<{ id: string; jobs: string[] }> {
  const res = await request(stack.api.url).post("/v1/batches").set(auth).send({ items });
  expect(res.status).toBe(202);
  return res.body;
}

describe("metrics after real traffic (api → worker → sandbox → callbacks)", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      sandbox: { maxConcurrency: 10, processingDelayMs: 10, completeDelayMinMs: 10, completeDelayMaxMs: 60 },
      worker: { KLING_MAX_IN_FLIGHT: "7", METRICS_PORT: "0", RECONCILE_INTERVAL_MS: "600000", SWEEP_INTERVAL_MS: "600000" },
    });
  });
  afterAll(() => stack.close());

  const workerUrl = () => stack.workers[0]!.metricsUrl!;

  it("serves /metrics and /healthz on the worker, with the in-flight limit and queue depths", async () => {
    expect(workerUrl()).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await request(workerUrl()).get("/healthz").expect(200, { status: "ok" });
    const samples = await scrape(workerUrl());
    expect(sumSamples(samples, "kex_inflight_limit")).toBe(7);
    expect(sumSamples(samples, "kex_inflight_used")).toBe(0);
    for (const queue of ["submit", "maintenance"]) {
      for (const state of ["waiting", "active", "delayed", "failed"]) {
        expect(samples.filter((s) => s.name === "kex_queue_jobs" && s.labels.queue === queue && s.labels.state === state)).toHaveLength(1);
      }
    }
    expect(samples.some((s) => s.name === "process_resident_memory_bytes")).toBe(true);
  });

  it("counts jobs created, upstream calls, latency and finished jobs as a batch runs", async () => {
    const [apiBefore, workerBefore] = [await scrape(stack.api.url), await scrape(workerUrl())];
    const items = Array.from({ length: 12 }, (_, i) => ({ video_id: video(i), prompt: `shot ${i}` }));
    items.push({ video_id: "404000000000000077", prompt: "missing source" });
    const batch = await submitBatch(stack, items);

    // While it runs, the in-flight gauge never shows more than the cap.
    let peak = 0;
    const done = await waitFor(
      async () => {
        peak = Math.max(peak, sumSamples(await scrape(workerUrl()), "kex_inflight_used"));
        const res = await request(stack.api.url).get(`/v1/batches/${batch.id}`).set(auth);
        return res.body.done ? res.body : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 50, what: "batch" },
    );
    expect(done.counts).toMatchObject({ succeeded: 12, failed: 1 });
    expect(peak).toBeLessThanOrEqual(7);

    const [apiAfter, workerAfter] = [await scrape(stack.api.url), await scrape(workerUrl())];
    const delta = (after: MetricSample[], before: MetricSample[], name: string, labels: Record<string, string> = {}) =>
      sumSamples(after, name, labels) - sumSamples(before, name, labels);

    expect(delta(apiAfter, apiBefore, "kex_jobs_created_total", { kind: "batch" })).toBe(13);
    // Every create upstream accepted (never twice: a retry looks the task up first), and the refused one
    // with its code (more than once only if recording the refusal failed and the submit was retried).
    expect(delta(workerAfter, workerBefore, "kex_upstream_requests_total", { operation: "create", code: "0" })).toBe(12);
    expect(delta(workerAfter, workerBefore, "kex_upstream_requests_total", { operation: "create", code: "1203" })).toBeGreaterThanOrEqual(
      1,
    );
    const creates = delta(workerAfter, workerBefore, "kex_upstream_requests_total", { operation: "create" });
    expect(delta(workerAfter, workerBefore, "kex_upstream_request_duration_seconds_count", { operation: "create" })).toBe(creates);
    expect(sumSamples(workerAfter, "kex_upstream_request_duration_seconds_sum", { operation: "create" })).toBeGreaterThan(0);
    // Successes arrive by callback (the api), the refusal is decided by the worker.
    expect(delta(apiAfter, apiBefore, "kex_jobs_finished_total", { status: "succeeded", source: "webhook" })).toBe(12);
    expect(delta(workerAfter, workerBefore, "kex_jobs_finished_total", { status: "failed", source: "worker" })).toBe(1);
    expect(delta(apiAfter, apiBefore, "kex_webhook_duration_seconds_count", { outcome: "changed" })).toBeGreaterThanOrEqual(24);
    // Afterwards every slot is free again and the submit queue is empty.
    expect(sumSamples(workerAfter, "kex_inflight_used")).toBe(0);
    expect(sumSamples(workerAfter, "kex_queue_jobs", { queue: "submit", state: "waiting" })).toBe(0);
    expect(sumSamples(workerAfter, "kex_queue_jobs", { queue: "submit", state: "active" })).toBe(0);
  });

  it("counts canceled jobs where the cancel happens (the api)", async () => {
    stack.sandbox.setOptions({ completeDelayMinMs: 600_000, completeDelayMaxMs: 600_000 });
    try {
      const before = await scrape(stack.api.url);
      const batch = await submitBatch(stack, [
        { video_id: video(100), prompt: "slow" },
        { video_id: video(101), prompt: "slow" },
      ]);
      await request(stack.api.url).post(`/v1/batches/${batch.id}/cancel`).set(auth).expect(200);
      const after = await scrape(stack.api.url);
      expect(
        sumSamples(after, "kex_jobs_finished_total", { status: "canceled", source: "api" }) -
          sumSamples(before, "kex_jobs_finished_total", { status: "canceled", source: "api" }),
      ).toBe(2);
    } finally {
      stack.sandbox.setOptions({ completeDelayMinMs: 10, completeDelayMaxMs: 60 });
    }
  });

  it("counts sweeper requeues and reconciler corrections", async () => {
    const worker = stack.workers[0]!;
    const before = await scrape(workerUrl());

    // A job stored behind the api's back (as when Redis was away): only the sweeper puts it on the queue.
    const orphan = await createJob(stack.api.db, { input: { video_id: video(200), prompt: "orphan" } });
    const swept = await worker.maintenance.sweep(new Date(Date.now() + 60_000));
    expect(swept.requeued).toBeGreaterThanOrEqual(1);
    const afterSweep = await scrape(workerUrl());
    expect(sumSamples(afterSweep, "kex_sweeper_requeued_total") - sumSamples(before, "kex_sweeper_requeued_total")).toBe(swept.requeued);
    await waitFor(async () => {
      const row = await stack.api.db.prisma.job.findUnique({ where: { id: orphan.id } });
      return row?.status === "succeeded" ? row : undefined;
    });

    // A lost callback: upstream finished the task, we never heard; the reconciler polls and applies it.
    stack.sandbox.setOptions({ callbackDropRate: 1 });
    try {
      const lost = await submitBatch(stack, [{ video_id: video(300), prompt: "lost callback" }]);
      await waitFor(async () =>
        (await stack.api.db.prisma.job.count({ where: { batchId: lost.id, upstreamTaskId: { not: null } } })) === 1 ? true : undefined,
      );
      await stack.sandbox.waitForIdle(10_000);
      await waitFor(async () => {
        await worker.maintenance.reconcile(new Date(Date.now() + 600_000));
        return (await stack.api.db.prisma.job.count({ where: { batchId: lost.id, status: "succeeded" } })) === 1 ? true : undefined;
      });
    } finally {
      stack.sandbox.setOptions({ callbackDropRate: 0 });
    }
    const after = await scrape(workerUrl());
    expect(sumSamples(after, "kex_reconciler_corrections_total", { kind: "missed_callback" })).toBeGreaterThanOrEqual(1);
    expect(
      sumSamples(after, "kex_jobs_finished_total", { status: "succeeded", source: "reconciler" }) -
        sumSamples(before, "kex_jobs_finished_total", { status: "succeeded", source: "reconciler" }),
    ).toBeGreaterThanOrEqual(1);
    expect(sumSamples(after, "kex_upstream_requests_total", { operation: "get", code: "0" })).toBeGreaterThanOrEqual(1);
  });
});
