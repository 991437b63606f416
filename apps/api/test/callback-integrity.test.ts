import { randomBytes } from "node:crypto";
import { callbackToken } from "@kex/core";
import { claimManyForSubmit, createJob, getJobEvents, TRUNCATED } from "@kex/db";
import { CALLBACK_SECRET, startApiHarness, validItem, type ApiHarness } from "./helpers";
import { sendRaw } from "./raw-http";

/**
 * Upstream's callbacks, authentic but odd: text Postgres cannot hold, fields nested far deeper than any
 * body we accept from clients, a task another job holds, a task for a job that never sent one. None may
 * cost a 5xx (upstream would retry, then give up: the callback is lost), and none may bind a task to a
 * job that did not create it.
 */

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness();
});
afterAll(() => h.close());

let taskSeq = 400_000_000_000_000_000n;
const nextTaskId = () => String(taskSeq++);

async function claimedJob(): Promise<{ id: string; externalTaskId: string }> {
  const job = await createJob(h.api.db, { input: validItem() });
  expect((await claimManyForSubmit(h.api.db, { jobIds: [job.id], maxInFlight: 0 })).get(job.id)).toBe("claimed");
  const row = await h.api.db.prisma.job.findUniqueOrThrow({ where: { id: job.id } });
  return { id: job.id, externalTaskId: row.externalTaskId! };
}

async function submittedJob(): Promise<{ id: string; taskId: string }> {
  const { id } = await claimedJob();
  const taskId = nextTaskId();
  await h.api.engine.adoptUpstreamTask({ jobId: id, task: { task_id: taskId, task_status: "submitted" }, source: "worker" });
  return { id, taskId };
}

/** Sends `body` as written: `\u0000` and `\ud800` escapes reach the parser as they are. */
const post = (jobId: string, body: string) =>
  sendRaw(h.api.url, {
    method: "POST",
    path: `/webhooks/kling/${jobId}?token=${encodeURIComponent(callbackToken(CALLBACK_SECRET, jobId))}`,
    headers: { "Content-Type": "application/json" },
    body,
  });

const row = (id: string) => h.api.db.prisma.job.findUniqueOrThrow({ where: { id } });
const lastEvent = async (id: string) => (await getJobEvents(h.api.db, id)).at(-1);

describe("text Postgres cannot hold is stored, not refused", () => {
  it("a failure message with NUL and lone surrogates: 200, stored with U+FFFD in their place", async () => {
    const { id, taskId } = await submittedJob();
    const answer = await post(id, `{"task_id":"${taskId}","task_status":"failed","task_status_msg":"bad\\u0000frame \\ud800 \\udc00 ok \\ud83d\\ude00"}`);
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ ok: true, changed: true, status: "failed" });
    expect((await row(id)).errorMessage).toBe("bad\ufffdframe \ufffd \ufffd ok \u{1f600}");
    expect((await lastEvent(id))?.payload).toMatchObject({ task_status_msg: "bad\ufffdframe \ufffd \ufffd ok \u{1f600}" });
  });

  it("a result video whose id and url hold NUL and a lone surrogate: 200, the job succeeds", async () => {
    const { id, taskId } = await submittedJob();
    const answer = await post(
      id,
      `{"task_id":"${taskId}","task_status":"succeed","task_result":{"videos":[{"id":"9\\u00001","url":"https://cdn.example/\\udbff.mp4","duration":"9.5"}]}}`,
    );
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ changed: true, status: "succeeded" });
    expect(await row(id)).toMatchObject({ status: "succeeded", resultVideoId: "9\ufffd1", resultUrl: "https://cdn.example/\ufffd.mp4", resultDuration: 9.5 });
  });

  it("unknown fields holding NUL and lone surrogates, in values and in keys: 200, kept in the event", async () => {
    const { id, taskId } = await submittedJob();
    const answer = await post(id, `{"task_id":"${taskId}","task_status":"processing","note":"a\\u0000b","k\\ud800":["\\udfff",{"x\\u0000":1}]}`);
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ changed: true, status: "processing" });
    expect((await lastEvent(id))?.payload).toEqual({ task_id: taskId, task_status: "processing", note: "a\ufffdb", "k\ufffd": ["\ufffd", { "x\ufffd": 1 }] });
  });

  it("an unknown field nested 5,000 deep (and one 30,000 deep): 200, the event keeps its first levels", async () => {
    const { id, taskId } = await submittedJob();
    const deep = (n: number) => `${'{"a":'.repeat(n)}1${"}".repeat(n)}`;
    const answer = await post(id, `{"task_id":"${taskId}","task_status":"processing","extra":${deep(5000)}}`);
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ changed: true, status: "processing" });
    let level: unknown = (await lastEvent(id))?.payload;
    let depth = 0;
    while (level !== null && typeof level === "object") {
      level = (level as Record<string, unknown>).extra ?? (level as Record<string, unknown>).a;
      depth++;
    }
    expect(level).toBe(TRUNCATED);
    expect(depth).toBeGreaterThan(8);

    const arrays = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;
    const deeper = await post(id, `{"task_id":"${taskId}","task_status":"processing","extra":${arrays(30_000)}}`);
    expect(deeper.status).toBe(200);
    expect(deeper.json).toMatchObject({ changed: false, reason: "duplicate" });
  });

  it("a task id holding NUL: bound as stored, and its next callback still matches it", async () => {
    const { id } = await claimedJob();
    const first = await post(id, `{"task_id":"77\\u00007","task_status":"processing"}`);
    expect(first.json).toMatchObject({ changed: true, status: "processing" });
    expect((await row(id)).upstreamTaskId).toBe("77\ufffd7");
    const second = await post(id, `{"task_id":"77\\u00007","task_status":"failed","task_status_msg":"x"}`);
    expect(second.json).toMatchObject({ changed: true, status: "failed" });
  });
});

describe("a task id no upstream task could have", () => {
  it("30,000 random characters (past what the task id index can hold): 200, logged, not bound", async () => {
    const { id } = await claimedJob();
    const before = await row(id);
    const answer = await post(id, JSON.stringify({ task_id: randomBytes(22_500).toString("base64"), task_status: "processing" }));
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ ok: true, changed: false, status: "submitting", reason: "not_applicable" });
    expect(await row(id)).toStrictEqual(before);
    expect((await lastEvent(id))?.detail).toMatch(/not bound/);
  });
});

describe("a callback naming a task another job holds", () => {
  it("is recorded on the job it was sent to and answered 200; neither job takes the task", async () => {
    const holder = await submittedJob();
    const { id } = await claimedJob();
    const answer = await post(id, JSON.stringify({ task_id: holder.taskId, task_status: "succeed", task_result: { videos: [{ id: "1", url: "https://x/1.mp4", duration: "5" }] } }));
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ ok: true, changed: false, status: "submitting", reason: "not_applicable" });
    expect(await row(id)).toMatchObject({ status: "submitting", upstreamTaskId: null, upstreamStatus: null, resultUrl: null });
    expect(await lastEvent(id)).toMatchObject({ source: "webhook", type: "upstream_succeed", fromStatus: "submitting", toStatus: null });
    expect((await lastEvent(id))?.detail).toMatch(/another job holds it/);
    expect(await row(holder.id)).toMatchObject({ status: "submitted", upstreamTaskId: holder.taskId });
  });
});

describe("a callback that changes nothing writes nothing but its event", () => {
  const forged = (taskId: string, extra: object = {}) =>
    JSON.stringify({ task_id: taskId, task_status: "succeed", task_result: { videos: [{ id: "666", url: "https://forged.example/v.mp4", duration: "5" }] }, ...extra });

  it("for a job still queued: no task id, no upstream status", async () => {
    const job = await createJob(h.api.db, { input: validItem() });
    const before = await row(job.id);
    const answer = await post(job.id, forged(nextTaskId()));
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ ok: true, changed: false, status: "queued", reason: "not_applicable" });
    expect(await row(job.id)).toStrictEqual(before);
    expect(await lastEvent(job.id)).toMatchObject({ source: "webhook", type: "upstream_succeed", fromStatus: "queued", toStatus: null });
    expect((await lastEvent(job.id))?.detail).toMatch(/not bound/);
  });

  it("for a job that failed before upstream took it: no task id, no upstream status", async () => {
    const { id } = await claimedJob();
    await h.api.engine.applyEvent({ jobId: id, event: { type: "submit_rejected", error: { code: "1201", message: "bad video" } }, source: "worker" });
    const before = await row(id);
    expect(before.status).toBe("failed");
    const answer = await post(id, forged(nextTaskId()));
    expect(answer.json).toMatchObject({ changed: false, status: "failed" });
    expect(await row(id)).toStrictEqual(before);
  });

  it("for a submitting job, a task created for another external_task_id is not bound; its own is", async () => {
    const { id, externalTaskId } = await claimedJob();
    const before = await row(id);
    const other = await post(id, forged(nextTaskId(), { task_info: { external_task_id: `${externalTaskId}x` } }));
    expect(other.json).toMatchObject({ changed: false, status: "submitting", reason: "not_applicable" });
    expect(await row(id)).toStrictEqual(before);
    expect((await lastEvent(id))?.detail).toMatch(/external_task_id/);

    const taskId = nextTaskId();
    const own = await post(id, JSON.stringify({ task_id: taskId, task_status: "processing", task_info: { external_task_id: externalTaskId } }));
    expect(own.json).toMatchObject({ changed: true, status: "processing" });
    expect(await row(id)).toMatchObject({ upstreamTaskId: taskId, upstreamStatus: "processing" });
  });
});
