import { callbackToken, createLogger } from "@kex/core";
import { claimManyForSubmit, createJob } from "@kex/db";
import { CALLBACK_SECRET, startApiHarness, validItem, type ApiHarness } from "./helpers";
import { sendRaw } from "./raw-http";

/**
 * The callback receiver is on the open internet: a forged callback must cost a token check and
 * nothing more (no body read), and an authentic one is a few KB of JSON, so that is all it may send.
 */

let h: ApiHarness;
const lines: string[] = [];
beforeAll(async () => {
  const logger = createLogger({ name: "api", level: "debug", destination: { write: (line: string) => void lines.push(line) } });
  h = await startApiHarness({}, { logger });
});
afterAll(() => h.close());

const JSON_TYPE = { "Content-Type": "application/json" };
const callbackPath = (jobId: string, token = callbackToken(CALLBACK_SECRET, jobId)) => `/webhooks/kling/${jobId}?token=${encodeURIComponent(token)}`;

let taskSeq = 300_000_000_000_000_000n;
async function submittedJob(): Promise<{ id: string; taskId: string }> {
  const job = await createJob(h.api.db, { input: validItem() });
  expect((await claimManyForSubmit(h.api.db, { jobIds: [job.id], maxInFlight: 0 })).get(job.id)).toBe("claimed");
  const taskId = String(taskSeq++);
  await h.api.engine.adoptUpstreamTask({ jobId: job.id, task: { task_id: taskId, task_status: "submitted" }, source: "worker" });
  return { id: job.id, taskId };
}

describe("the token is checked before the body is read", () => {
  it("answers 401 to a forged callback while its body is still being sent", async () => {
    const { id } = await submittedJob();
    const answer = await sendRaw(h.api.url, {
      method: "POST",
      path: callbackPath(id, "forged-token-value"),
      headers: { ...JSON_TYPE, "Content-Length": String(1024 * 1024) },
      body: `{"task_id":"1","task_status":"succeed","pad":"${"x".repeat(1000)}`,
      keepOpen: true,
      timeoutMs: 5000,
    });
    expect(answer.status).toBe(401);
    expect((await h.api.db.prisma.job.findUniqueOrThrow({ where: { id } })).status).toBe("submitted");
    // Nothing of the unread body reaches the log.
    expect(lines.some((l) => l.includes("xxxxxxxxxx"))).toBe(false);
  });

  it("answers 401 to a forged callback sent as text/plain or with a huge body: the token comes first", async () => {
    const { id } = await submittedJob();
    for (const headers of [{ "Content-Type": "text/plain" }, { ...JSON_TYPE, "Content-Length": String(50 * 1024 * 1024) }]) {
      const answer = await sendRaw(h.api.url, { method: "POST", path: callbackPath(id, "forged"), headers, body: "{", keepOpen: true, timeoutMs: 5000 });
      expect(answer.status).toBe(401);
    }
  });
});

describe("an authentic callback", () => {
  const processing = (taskId: string, extra: object = {}) => JSON.stringify({ task_id: taskId, task_status: "processing", ...extra });

  it("is accepted with a long status message and signed URLs (a few KB)", async () => {
    const { id, taskId } = await submittedJob();
    const body = processing(taskId, { task_status_msg: "m".repeat(4000), task_info: { parent_video: { id: "1", url: `https://cdn.example/v.mp4?${"s".repeat(2000)}`, duration: "5" } } });
    const answer = await sendRaw(h.api.url, { method: "POST", path: callbackPath(id), headers: JSON_TYPE, body });
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ ok: true, changed: true, status: "processing" });
  });

  it("is refused with 413 past 64 KB, changing nothing", async () => {
    const { id, taskId } = await submittedJob();
    const body = processing(taskId, { pad: "x".repeat(65 * 1024) });
    const answer = await sendRaw(h.api.url, { method: "POST", path: callbackPath(id), headers: JSON_TYPE, body });
    expect(answer.status).toBe(413);
    expect(answer.json).toMatchObject({ error: { code: "payload_too_large", details: [{ field: "(body)", rule: "too_large" }] } });
    expect((await h.api.db.prisma.job.findUniqueOrThrow({ where: { id } })).status).toBe("submitted");
  });

  it("sent as text/plain is refused with 415, not a 400 about its shape", async () => {
    const { id, taskId } = await submittedJob();
    const answer = await sendRaw(h.api.url, { method: "POST", path: callbackPath(id), headers: { "Content-Type": "text/plain" }, body: processing(taskId) });
    expect(answer.status).toBe(415);
    expect(answer.json).toMatchObject({ error: { code: "unsupported_media_type" } });
    expect((await h.api.db.prisma.job.findUniqueOrThrow({ where: { id } })).status).toBe("submitted");
  });
});
