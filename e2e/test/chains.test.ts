import { claimManyForSubmit, recordSubmitAttempt } from "@kex/db";
import { createKlingClient } from "@kex/kling";
import { waitFor } from "@kex/testing";
import request from "supertest";
import { STACK_API_TOKEN, startStack, type Stack } from "../src/stack";

const auth = { Authorization: `Bearer ${STACK_API_TOKEN}` };
const FAST = { processingDelayMs: 10, completeDelayMinMs: 20, completeDelayMaxMs: 40, maxConcurrency: 0 };

describe("extension chains", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ sandbox: FAST, api: { API_RATE_LIMIT_PER_SEC: "0" } });
  });
  afterAll(() => stack.close());

  const api = () => request(stack.api.url);
  const waitChain = (id: string, status: string) =>
    waitFor(
      async () => {
        const res = await api().get(`/v1/chains/${id}`).set(auth);
        return res.body.status === status ? res.body : undefined;
      },
      { timeoutMs: 30_000, what: `chain ${id} ${status}` },
    );

  it("extends step by step, each step extending the previous result, and shows the final video", async () => {
    const created = await api()
      .post("/v1/chains")
      .set(auth)
      .send({ video_id: "210000000000000001", steps: [{ prompt: "one" }, { prompt: "two", cfg_scale: 0.3 }, { prompt: "three", negative_prompt: "blur" }] });
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({ status: "running", current_step: 0 });
    const done = await waitChain(created.body.id, "succeeded");
    const steps = done.steps as Array<{ index: number; prompt: string; job: { video_id: string; status: string; result: { video_id: string; duration: number } } }>;
    expect(steps.map((s) => s.job.result.duration)).toEqual([9.5, 14, 18.5]);
    expect(steps[0]!.job.video_id).toBe("210000000000000001");
    expect(steps[1]!.job.video_id).toBe(steps[0]!.job.result.video_id);
    expect(steps[2]!.job.video_id).toBe(steps[1]!.job.result.video_id);
    expect(done.final_video).toEqual(steps[2]!.job.result);
    expect(stack.sandbox.stats().jobsWithMultipleTasks).toBe(0);
  });

  it("refuses up front a chain that must pass 3 minutes", async () => {
    const steps = Array.from({ length: 41 }, () => ({ prompt: "x" }));
    const res = await api().post("/v1/chains").set(auth).send({ video_id: "210000000000000002", steps });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0]).toMatchObject({ field: "steps" });
    expect(res.body.error.details[0].message).toMatch(/3 minutes/);
  });

  it("stops at the step that would pass 3 minutes, before sending it upstream", async () => {
    stack.sandbox.setOptions({ sourceVideoSeconds: 170 });
    try {
      const created = await api()
        .post("/v1/chains")
        .set(auth)
        .send({ video_id: "210000000000000003", steps: [{ prompt: "a" }, { prompt: "b" }, { prompt: "c" }] });
      const failed = await waitChain(created.body.id, "failed");
      expect(failed.current_step).toBe(2);
      expect(failed.error.code).toBe("video_too_long");
      expect(failed.error.message).toMatch(/183\.5 s.*180 s \(3 minutes\)/);
      expect(failed.steps[1].job.result.duration).toBe(179);
      expect(failed.steps[2].job).toBeNull();
      const retry = await api().post(`/v1/chains/${created.body.id}/retry`).set(auth);
      expect(retry.status).toBe(409);
      expect(retry.body.error.code).toBe("video_too_long");
    } finally {
      stack.sandbox.setOptions({ sourceVideoSeconds: 5 });
    }
  });

  it("a failed step stops the chain; retry resumes from it", async () => {
    stack.sandbox.setOptions({ failureRate: 1 });
    const created = await api().post("/v1/chains").set(auth).send({ video_id: "210000000000000004", steps: [{ prompt: "a" }, { prompt: "b" }] });
    const failed = await waitChain(created.body.id, "failed");
    expect(failed.current_step).toBe(0);
    expect(failed.error).toMatchObject({ code: "task_failed" });
    expect(failed.steps[1].job).toBeNull();
    stack.sandbox.setOptions({ failureRate: 0 });

    const retried = await api().post(`/v1/chains/${created.body.id}/retry`).set(auth);
    expect(retried.status).toBe(202);
    expect(retried.body.status).toBe("running");
    const done = await waitChain(created.body.id, "succeeded");
    expect(done.steps[0].attempts).toBe(2);
    expect(done.steps[1].attempts).toBe(1);
    expect(done.final_video.duration).toBe(14);
    expect((await api().post(`/v1/chains/${created.body.id}/retry`).set(auth)).status).toBe(409);
  });

  it("validates input and hides other tenants' chains", async () => {
    expect((await api().post("/v1/chains").set(auth).send({ video_id: "1", steps: [] })).status).toBe(400);
    expect((await api().post("/v1/chains").set(auth).send({ video_id: "1", steps: [{ prompt: "" }] })).status).toBe(400);
    expect((await api().post("/v1/chains").set(auth).send({ video_id: "1", steps: [{ prompt: "a", extra: 1 }] })).status).toBe(400);
    expect((await api().post("/v1/chains").set(auth).set("Content-Type", "application/json").send("{")).status).toBe(400);
    expect((await api().get("/v1/chains/0b7f6f8e-1111-4222-8333-444455556666").set(auth)).status).toBe(404);
    expect((await api().post("/v1/chains/nope/retry").set(auth)).status).toBe(404);
    const mine = await api().post("/v1/chains").set(auth).send({ video_id: "210000000000000005", steps: [{ prompt: "a" }] });
    const other = (await api().post("/v1/tenants").set(auth).send({ name: "other" })).body.api_key.key;
    expect((await api().get(`/v1/chains/${mine.body.id}`).set({ Authorization: `Bearer ${other}` })).status).toBe(404);
    expect((await api().post(`/v1/chains/${mine.body.id}/retry`).set({ Authorization: `Bearer ${other}` })).status).toBe(404);
  });
});

describe("a chain step that finishes on the worker's own lookup", () => {
  it("starts the next step at once, not at the next sweep", async () => {
    // No scheduled sweeps during the test: only the worker itself can enqueue the next step.
    const stack = await startStack({ sandbox: FAST, api: { API_RATE_LIMIT_PER_SEC: "0" }, worker: { SWEEP_INTERVAL_MS: "600000" }, workers: 0 });
    try {
      const created = await request(stack.api.url)
        .post("/v1/chains")
        .set(auth)
        .send({ video_id: "210000000000000077", steps: [{ prompt: "one" }, { prompt: "two" }] });
      expect(created.status).toBe(202);
      const first = created.body.steps[0].job.id as string;
      // A worker died after its create reached upstream (no callback URL, so no callback will come),
      // and the task finished meanwhile.
      expect((await claimManyForSubmit(stack.api.db, { jobIds: [first], maxInFlight: 0 })).get(first)).toBe("claimed");
      await recordSubmitAttempt(stack.api.db, first);
      const kling = createKlingClient({ baseUrl: stack.sandbox.url, pathPrefix: "/kling", auth: { mode: "static", apiKey: "sandbox-key" }, timeoutMs: 5000 });
      expect((await kling.createTask({ video_id: "210000000000000077", prompt: "one", external_task_id: `${first}-1` })).ok).toBe(true);
      await waitFor(async () => {
        const task = await kling.getTask(`${first}-1`);
        return task.ok && task.data.task_status === "succeed" ? true : undefined;
      });
      const worker = await stack.addWorker();
      await new Promise((r) => setTimeout(r, 50));
      // The worker sweeps once as it starts; this makes sure the stranded step is back in the queue.
      await worker.maintenance.sweep(new Date(Date.now() + 60_000));
      const done = await waitFor(
        async () => {
          const res = await request(stack.api.url).get(`/v1/chains/${created.body.id}`).set(auth);
          return res.body.status === "succeeded" ? res.body : undefined;
        },
        { timeoutMs: 30_000, what: "the chain to finish without a sweep" },
      );
      expect(done.steps[0].job.upstream_task_id).toBeTruthy();
      expect(done.steps[1].job.video_id).toBe(done.steps[0].job.result.video_id);
    } finally {
      await stack.close();
    }
  });
});
