import { startSandbox, type RunningSandbox } from "../src/sandbox";
import { FAST, FRESH_VIDEO, SandboxClient, waitFor } from "./helpers";

const DAY_MS = 24 * 60 * 60 * 1000;

describe("sandbox lifecycle, videos and concurrency", () => {
  let sandbox: RunningSandbox;
  let client: SandboxClient;
  let now: number;

  beforeEach(async () => {
    now = Date.now();
    sandbox = await startSandbox({ ...FAST, now: () => now });
    client = new SandboxClient(sandbox);
  });
  afterEach(() => sandbox.close());

  async function extend(videoId: string, extra: Record<string, unknown> = {}) {
    const created = await client.create({ video_id: videoId, prompt: "keep going", ...extra });
    expect(created.body).toMatchObject({ code: 0 });
    return client.waitFinished(created.body.data.task_id as string);
  }

  it("goes submitted → processing → succeed, adding 4.5 s to a fresh 5.0 s source", async () => {
    // Delays long enough that the first query lands before `processing` even on a loaded machine (at
    // 80 ms it did not once, with 2 cores running the whole suite).
    sandbox.setOptions({ processingDelayMs: 1000, completeDelayMinMs: 80, completeDelayMaxMs: 80 });
    const created = await client.create({ video_id: FRESH_VIDEO, prompt: "p" });
    const taskId = created.body.data.task_id as string;
    expect((await client.get(taskId)).body.data.task_status).toBe("submitted");
    await waitFor(async () => (await client.get(taskId)).body.data.task_status === "processing");
    const done = await client.waitFinished(taskId);
    expect(done.task_status).toBe("succeed");
    expect(done.task_status_msg).toBe("");
    expect(done.final_unit_deduction).toBe("1");
    expect(done.updated_at).toBeGreaterThanOrEqual(done.created_at);
    const video = done.task_result.videos[0];
    expect(done.task_result.videos).toHaveLength(1);
    expect(video.id).toMatch(/^\d{18}$/);
    expect(video.url).toBe(`${sandbox.url}/videos/${video.id}.mp4`);
    expect(video.duration).toBe("9.5");
    expect((await fetch(video.url)).status).toBe(200);
  });

  it("chains: the result video can be extended again, to 14.0 s", async () => {
    const first = await extend(FRESH_VIDEO);
    const second = await extend(first.task_result.videos[0].id);
    expect(second.task_info.parent_video).toMatchObject({ id: first.task_result.videos[0].id, duration: "9.5" });
    expect(second.task_result.videos[0].duration).toBe("14.0");
    expect(second.task_result.videos[0].id).not.toBe(first.task_result.videos[0].id);
  });

  it("allows a result of exactly 180 s and refuses one past it with 400/1201", async () => {
    sandbox.setOptions({ extendSeconds: 87.5 });
    const first = await extend(FRESH_VIDEO); // 5 + 87.5 = 92.5
    expect(first.task_result.videos[0].duration).toBe("92.5");
    const second = await extend(first.task_result.videos[0].id); // 180.0: at the limit
    expect(second.task_result.videos[0].duration).toBe("180.0");
    const third = await client.create({ video_id: second.task_result.videos[0].id, prompt: "too long" }); // 267.5
    expect(third.status).toBe(400);
    expect(third.body.code).toBe(1201);
    expect(third.body.message).toMatch(/180/);
  });

  it("forgets videos after 30 days (injected clock): 404/1203", async () => {
    const done = await extend(FRESH_VIDEO);
    const resultId = done.task_result.videos[0].id as string;
    now += 30 * DAY_MS; // exactly 30 days: still there
    expect((await client.create({ video_id: resultId, prompt: "p" })).status).toBe(200);
    now += 1;
    const expired = await client.create({ video_id: resultId, prompt: "p" });
    expect(expired.status).toBe(404);
    expect(expired.body.code).toBe(1203);
    // The fresh source was first seen at the same moment, so it is gone too.
    expect((await client.create({ video_id: FRESH_VIDEO, prompt: "p" })).body.code).toBe(1203);
    expect((await fetch(done.task_result.videos[0].url)).status).toBe(404);
  });

  it("fails tasks at failureRate with a task_status_msg and no result", async () => {
    sandbox.setOptions({ failureRate: 1 });
    const done = await extend(FRESH_VIDEO);
    expect(done.task_status).toBe("failed");
    expect(done.task_status_msg).toBe("content risk control");
    expect(done.task_result).toBeUndefined();
    expect(sandbox.stats().tasksByStatus).toEqual({ submitted: 0, processing: 0, succeed: 0, failed: 1 });
  });

  it("answers 429/1303 at maxConcurrency and frees the slot when a task finishes", async () => {
    sandbox.setOptions({ maxConcurrency: 2, processingDelayMs: 50, completeDelayMinMs: 150, completeDelayMaxMs: 150 });
    const a = await client.create({ video_id: FRESH_VIDEO, prompt: "a" });
    const b = await client.create({ video_id: FRESH_VIDEO, prompt: "b" });
    expect([a.status, b.status]).toEqual([200, 200]);
    const c = await client.create({ video_id: FRESH_VIDEO, prompt: "c" });
    expect(c.status).toBe(429);
    expect(c.body.code).toBe(1303);
    expect(sandbox.stats()).toMatchObject({ inFlight: 2, peakInFlight: 2, tasksCreated: 2, rejectedByCode: { "1303": 1 } });

    await client.waitFinished(a.body.data.task_id);
    await client.waitFinished(b.body.data.task_id);
    const d = await client.create({ video_id: FRESH_VIDEO, prompt: "d" });
    expect(d.status).toBe(200);
    expect(sandbox.stats()).toMatchObject({ inFlight: 1, peakInFlight: 2, tasksCreated: 3 });
  });

  it("treats maxConcurrency 0 as unlimited", async () => {
    sandbox.setOptions({ maxConcurrency: 0, processingDelayMs: 60_000 });
    for (let i = 0; i < 15; i++) expect((await client.create({ video_id: FRESH_VIDEO, prompt: `${i}` })).status).toBe(200);
    expect(sandbox.stats()).toMatchObject({ inFlight: 15, peakInFlight: 15 });
  });

  it("runs instantly with all delays at 0", async () => {
    sandbox.setOptions({ processingDelayMs: 0, completeDelayMinMs: 0, completeDelayMaxMs: 0 });
    const created = await client.create({ video_id: FRESH_VIDEO, prompt: "p" });
    expect(created.body.data.task_status).toBe("submitted");
    await sandbox.waitForIdle(1000);
    expect((await client.get(created.body.data.task_id)).body.data.task_status).toBe("succeed");
  });

  it("counts tasks, requests and rejections in stats (also over HTTP)", async () => {
    sandbox.setOptions({ processingDelayMs: 60_000 });
    await client.create({ video_id: FRESH_VIDEO, prompt: "p", external_task_id: "job1-1" });
    await client.create({ video_id: FRESH_VIDEO, prompt: "p", external_task_id: "job1-2" }); // same job, second task
    await client.create({ video_id: FRESH_VIDEO, prompt: "p", external_task_id: "job2-1" });
    await client.create({ video_id: FRESH_VIDEO, prompt: "p", external_task_id: "job2-1" }); // refused duplicate
    await client.create({ video_id: "404000000000000000", prompt: "p" });
    await client.create({ video_id: FRESH_VIDEO, prompt: "" });
    await client.get("job1-1"); // queries are not create requests
    const viaHttp = await (await fetch(`${sandbox.url}/__sandbox/stats`)).json();
    expect(viaHttp).toEqual(sandbox.stats());
    expect(viaHttp).toMatchObject({
      tasksCreated: 3,
      tasksByStatus: { submitted: 3, processing: 0, succeed: 0, failed: 0 },
      inFlight: 3,
      peakInFlight: 3,
      createRequests: 6,
      rejectedByCode: { "1201": 2, "1203": 1 },
      jobsWithMultipleTasks: 1,
    });
  });
});
