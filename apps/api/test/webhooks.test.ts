import { callbackToken } from "@kex/core";
import { claimManyForSubmit, createJob, getJobEvents } from "@kex/db";
import request from "supertest";
import { CALLBACK_SECRET, startApiHarness, validItem, type ApiHarness } from "./helpers";

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness();
});
afterAll(async () => {
  await h.close();
});

let taskSeq = 100_000_000_000_000_000n;
/** A job that upstream has accepted (status `submitted`, task id stored). */
async function submittedJob(): Promise<{ id: string; taskId: string }> {
  const job = await createJob(h.api.db, { input: validItem() });
  expect((await claimManyForSubmit(h.api.db, { jobIds: [job.id], maxInFlight: 0 })).get(job.id)).toBe("claimed");
  const taskId = String(taskSeq++);
  await h.api.engine.adoptUpstreamTask({ jobId: job.id, task: { task_id: taskId, task_status: "submitted" }, source: "worker" });
  return { id: job.id, taskId };
}

const callback = (jobId: string, body: unknown, token = callbackToken(CALLBACK_SECRET, jobId)) =>
  request(h.api.url).post(`/webhooks/kling/${jobId}?token=${encodeURIComponent(token)}`).send(body as object);

const succeed = (taskId: string) => ({
  task_id: taskId,
  task_status: "succeed",
  task_status_msg: "",
  created_at: 1722769557708,
  updated_at: 1722769560000,
  final_unit_deduction: "1",
  task_info: { parent_video: { id: "1", url: "https://x/1.mp4", duration: "5.0" }, external_task_id: "e" },
  task_result: { videos: [{ id: "900000000000000001", url: "https://cdn.example/v.mp4", duration: "9.5" }] },
  some_future_field: { nested: true },
});

describe("POST /webhooks/kling/:jobId", () => {
  it("401 for a missing or wrong token, without touching the job", async () => {
    const { id, taskId } = await submittedJob();
    const missing = await request(h.api.url).post(`/webhooks/kling/${id}`).send(succeed(taskId));
    expect(missing.status).toBe(401);
    const wrong = await callback(id, succeed(taskId), callbackToken("another-secret-xxxxxxxx", id));
    expect(wrong.status).toBe(401);
    const otherJobs = await callback(id, succeed(taskId), callbackToken(CALLBACK_SECRET, "0b7f6f8e-1111-4222-8333-444455556666"));
    expect(otherJobs.status).toBe(401);
    expect((await h.api.db.prisma.job.findUnique({ where: { id } }))?.status).toBe("submitted");
  });

  it("404 for an unknown job with a valid token", async () => {
    const unknown = "0b7f6f8e-1111-4222-8333-444455556666";
    const res = await callback(unknown, succeed("1"));
    expect(res.status).toBe(404);
  });

  it("400 for malformed JSON or a body that is not a task", async () => {
    const { id, taskId } = await submittedJob();
    const bad = await request(h.api.url)
      .post(`/webhooks/kling/${id}?token=${callbackToken(CALLBACK_SECRET, id)}`)
      .set("Content-Type", "application/json")
      .send("{not json");
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("invalid_json");
    for (const body of [{}, { task_id: taskId }, { task_id: taskId, task_status: "done" }, { task_id: taskId, task_status: "succeed" }]) {
      const res = await callback(id, body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("validation_failed");
    }
    expect((await h.api.db.prisma.job.findUnique({ where: { id } }))?.status).toBe("submitted");
  });

  it("applies processing then succeed, storing the result; duplicates and stale callbacks change nothing", async () => {
    const { id, taskId } = await submittedJob();
    const processing = await callback(id, { task_id: taskId, task_status: "processing" });
    expect(processing.body).toEqual({ ok: true, changed: true, status: "processing" });
    const done = await callback(id, succeed(taskId));
    expect(done.body).toEqual({ ok: true, changed: true, status: "succeeded" });
    const after = await h.api.db.prisma.job.findUniqueOrThrow({ where: { id } });

    for (const late of [succeed(taskId), { task_id: taskId, task_status: "processing" }, { task_id: taskId, task_status: "submitted" }, { task_id: taskId, task_status: "failed", task_status_msg: "late" }]) {
      const res = await callback(id, late);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ ok: true, changed: false, status: "succeeded", reason: "terminal" });
    }
    const row = await h.api.db.prisma.job.findUniqueOrThrow({ where: { id } });
    expect(row).toMatchObject({
      status: "succeeded",
      upstreamStatus: "succeed",
      resultVideoId: "900000000000000001",
      resultUrl: "https://cdn.example/v.mp4",
      resultDuration: 9.5,
      errorCode: null,
    });
    expect(row.finishedAt).toEqual(after.finishedAt);
    const events = await getJobEvents(h.api.db, id);
    const webhookEvents = events.filter((e) => e.source === "webhook");
    expect(webhookEvents.map((e) => [e.type, e.fromStatus, e.toStatus])).toEqual([
      ["upstream_processing", "submitted", "processing"],
      ["upstream_succeed", "processing", "succeeded"],
      ["upstream_succeed", "succeeded", null],
      ["upstream_processing", "succeeded", null],
      ["upstream_submitted", "succeeded", null],
      ["upstream_failed", "succeeded", null],
    ]);
    expect(webhookEvents[1]?.payload).toMatchObject({ some_future_field: { nested: true } });
  });

  it("a stale `submitted` after `processing` is recorded but changes nothing", async () => {
    const { id, taskId } = await submittedJob();
    await callback(id, { task_id: taskId, task_status: "processing" });
    const stale = await callback(id, { task_id: taskId, task_status: "submitted" });
    expect(stale.body).toMatchObject({ changed: false, status: "processing", reason: "stale" });
  });

  it("records a failed task with upstream's reason", async () => {
    const { id, taskId } = await submittedJob();
    const res = await callback(id, { task_id: taskId, task_status: "failed", task_status_msg: "content risk control" });
    expect(res.body).toMatchObject({ changed: true, status: "failed" });
    const job = await request(h.api.url).get(`/v1/extensions/${id}`).set({ Authorization: `Bearer ${h.config.API_TOKEN}` });
    expect(job.body).toMatchObject({ status: "failed", error: { code: "task_failed", message: "content risk control" }, result: null });
    expect(job.body.finished_at).not.toBeNull();
  });

  it("ignores a report about another task than the job holds", async () => {
    const { id } = await submittedJob();
    const res = await callback(id, { task_id: "123456789012345678", task_status: "failed" });
    expect(res.body).toMatchObject({ changed: false, status: "submitted" });
    const events = await getJobEvents(h.api.db, id);
    expect(events.at(-1)?.detail).toMatch(/task mismatch/);
  });

  it("adopts the task id from a callback that beats the worker's own update", async () => {
    const job = await createJob(h.api.db, { input: validItem() });
    await claimManyForSubmit(h.api.db, { jobIds: [job.id], maxInFlight: 0 });
    const res = await callback(job.id, { task_id: "555555555555555555", task_status: "processing" });
    expect(res.body).toMatchObject({ changed: true, status: "processing" });
    const row = await h.api.db.prisma.job.findUniqueOrThrow({ where: { id: job.id } });
    expect(row.upstreamTaskId).toBe("555555555555555555");
    expect(row.submittedAt).not.toBeNull();
    // The worker's late "accepted" for the same task then changes nothing.
    const late = await h.api.engine.adoptUpstreamTask({ jobId: job.id, task: { task_id: "555555555555555555", task_status: "submitted" }, source: "worker" });
    expect(late.outcome).toBe("unchanged");
  });

  it("same final rows whatever the order and repetition of callbacks", async () => {
    const orders = [
      ["submitted", "processing", "succeed"],
      ["succeed", "processing", "submitted"],
      ["processing", "succeed", "succeed", "processing"],
      ["succeed", "succeed"],
    ];
    const finals = [];
    for (const order of orders) {
      const { id, taskId } = await submittedJob();
      for (const status of order) {
        await callback(id, status === "succeed" ? succeed(taskId) : { task_id: taskId, task_status: status });
      }
      const row = await h.api.db.prisma.job.findUniqueOrThrow({ where: { id } });
      finals.push({ status: row.status, upstream: row.upstreamStatus, video: row.resultVideoId, duration: row.resultDuration });
    }
    expect(new Set(finals.map((f) => JSON.stringify(f))).size).toBe(1);
    expect(finals[0]).toEqual({ status: "succeeded", upstream: "succeed", video: "900000000000000001", duration: 9.5 });
  });
});
