import { gzipSync } from "node:zlib";
import { callbackToken } from "@kex/core";
import { claimManyForSubmit, createJob, getJobEvents } from "@kex/db";
import { parseMetrics, sumSamples } from "@kex/metrics";
import { Webhook } from "standardwebhooks";
import { loadApiConfig } from "../src/config";
import { CALLBACK_SECRET, startApiHarness, validItem, type ApiHarness } from "./helpers";

const secret = (seed: string) => `whsec_${Buffer.from(`${seed}-0123456789abcdef0123`).toString("base64")}`;
const OLD = secret("old");
const NEW = secret("new");
const OTHER = secret("someone-else");

let taskSeq = 700_000_000_000_000_000n;
async function submittedJob(h: ApiHarness): Promise<{ id: string; taskId: string }> {
  const job = await createJob(h.api.db, { input: validItem() });
  expect((await claimManyForSubmit(h.api.db, { jobIds: [job.id], maxInFlight: 0 })).get(job.id)).toBe("claimed");
  const taskId = String(taskSeq++);
  await h.api.engine.adoptUpstreamTask({ jobId: job.id, task: { task_id: taskId, task_status: "submitted" }, source: "worker" });
  return { id: job.id, taskId };
}

const succeed = (taskId: string) => ({
  task_id: taskId,
  task_status: "succeed",
  final_unit_deduction: "2",
  task_result: { videos: [{ id: "900000000000000001", url: "https://cdn.example/v.mp4", duration: "9.5" }] },
});

let msgSeq = 0;
/** Standard Webhooks headers for `body`, one signature per secret (two imitate a rotation). */
function signedHeaders(body: string, secrets: string[], { id = `msg_${++msgSeq}`, skewMs = 0 } = {}) {
  const at = new Date(Date.now() + skewMs);
  return {
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": secrets.map((s) => new Webhook(s).sign(id, at, body)).join(" "),
  };
}

async function post(h: ApiHarness, jobId: string, body: string | Buffer, headers: Record<string, string> = {}) {
  const res = await fetch(`${h.api.url}/webhooks/kling/${jobId}?token=${encodeURIComponent(callbackToken(CALLBACK_SECRET, jobId))}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as { [key: string]: any } };
}

const job = (h: ApiHarness, id: string) => h.api.db.prisma.job.findUniqueOrThrow({ where: { id } });
const signatureFailures = async (h: ApiHarness, reason: string) =>
  sumSamples(parseMetrics(await (await fetch(`${h.api.url}/metrics`)).text()), "kex_callback_signature_failures_total", { reason });

describe("signed callbacks: KLING_WEBHOOK_SECRETS set (old and new secret, as during a rotation)", () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiHarness({ KLING_WEBHOOK_SECRETS: `${OLD}, ${NEW}` });
  });
  afterAll(() => h.close());

  it("applies a callback signed with either secret, or carrying two signatures", async () => {
    for (const secrets of [[NEW], [OLD], [OTHER, NEW]]) {
      const { id, taskId } = await submittedJob(h);
      const body = JSON.stringify(succeed(taskId));
      const res = await post(h, id, body, signedHeaders(body, secrets));
      expect([res.status, res.body]).toEqual([200, { ok: true, changed: true, status: "succeeded" }]);
      expect(await job(h, id)).toMatchObject({ status: "succeeded", finalUnitDeduction: "2" });
    }
  });

  it.each([
    ["signed with another secret", "mismatch", (body: string) => signedHeaders(body, [OTHER])],
    ["unsigned", "missing", () => ({})],
    ["without webhook-id", "missing", (body: string) => ({ ...signedHeaders(body, [NEW]), "webhook-id": "" })],
    ["stamped 6 minutes ago", "timestamp", (body: string) => signedHeaders(body, [NEW], { skewMs: -6 * 60_000 })],
    ["stamped 6 minutes ahead", "timestamp", (body: string) => signedHeaders(body, [NEW], { skewMs: 6 * 60_000 })],
    ["signed over another body", "mismatch", (body: string) => signedHeaders(body.replace("9.5", "9.6"), [NEW])],
  ])("%s: 401 naming the rule, nothing written, counted", async (_what, reason, headersFor) => {
    const { id, taskId } = await submittedJob(h);
    const before = await job(h, id);
    const eventsBefore = (await getJobEvents(h.api.db, id)).length;
    const failuresBefore = await signatureFailures(h, reason);
    const body = JSON.stringify(succeed(taskId));
    const res = await post(h, id, body, headersFor(body));
    expect(res.status).toBe(401);
    expect(res.body.error).toMatchObject({ code: "unauthorized", details: [{ field: "webhook-signature", rule: reason }] });
    for (const s of [OLD, NEW, OLD.slice(6), NEW.slice(6)]) expect(res.text).not.toContain(s);
    expect(await job(h, id)).toStrictEqual(before);
    expect(await getJobEvents(h.api.db, id)).toHaveLength(eventsBefore);
    expect(await h.api.db.prisma.klingWebhookMessage.count({ where: { jobId: id } })).toBe(0);
    expect(await signatureFailures(h, reason)).toBe(failuresBefore + 1);
  });

  it("a second delivery of one webhook-id is answered 200 duplicate and not applied again", async () => {
    const { id, taskId } = await submittedJob(h);
    const processing = JSON.stringify({ task_id: taskId, task_status: "processing" });
    const headers = signedHeaders(processing, [NEW], { id: "msg_replayed" });
    expect((await post(h, id, processing, headers)).body).toEqual({ ok: true, changed: true, status: "processing" });
    const events = (await getJobEvents(h.api.db, id)).length;
    // The same message again, re-signed now (as a replay is), even after the job moved on.
    const done = JSON.stringify(succeed(taskId));
    expect((await post(h, id, done, signedHeaders(done, [NEW]))).body.status).toBe("succeeded");
    const replay = await post(h, id, processing, signedHeaders(processing, [NEW], { id: "msg_replayed" }));
    expect([replay.status, replay.body]).toEqual([200, { ok: true, changed: false, status: "succeeded", reason: "duplicate" }]);
    expect(await getJobEvents(h.api.db, id)).toHaveLength(events + 1);
    expect(await h.api.db.prisma.klingWebhookMessage.findMany({ where: { jobId: id }, select: { webhookId: true } })).toHaveLength(2);
    // A message id seen on another job is a duplicate there too.
    const other = await submittedJob(h);
    const res = await post(h, other.id, processing, signedHeaders(processing, [NEW], { id: "msg_replayed" }));
    expect(res.body.reason).toBe("duplicate");
    expect((await job(h, other.id)).status).toBe("submitted");
  });

  it("verifies the payload of a gzip-encoded callback, and keeps a very long webhook-id by its hash", async () => {
    const { id, taskId } = await submittedJob(h);
    const body = JSON.stringify({ task_id: taskId, task_status: "processing" });
    const longId = `msg_${"x".repeat(1000)}`;
    const res = await post(h, id, gzipSync(body), { ...signedHeaders(body, [NEW], { id: longId }), "content-encoding": "gzip" });
    expect([res.status, res.body.status]).toEqual([200, "processing"]);
    const [seen] = await h.api.db.prisma.klingWebhookMessage.findMany({ where: { jobId: id } });
    expect(seen!.webhookId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((await post(h, id, gzipSync(body), { ...signedHeaders(body, [NEW], { id: longId }), "content-encoding": "gzip" })).body.reason).toBe("duplicate");
  });

  it("reads the 3.x shape with the newer spelling, signed", async () => {
    const { id, taskId } = await submittedJob(h);
    const body = JSON.stringify({
      id: taskId,
      status: "succeeded",
      outputs: [{ type: "video", id: "900000000000000002", url: "https://cdn.example/w.mp4", duration: "9.5" }],
      billing: [{ type: "unit", amount: "3" }, { type: "balance", quota: "0.8", list_price: "1.0" }],
    });
    const res = await post(h, id, body, signedHeaders(body, [NEW]));
    expect(res.body).toEqual({ ok: true, changed: true, status: "succeeded" });
    expect(await job(h, id)).toMatchObject({
      status: "succeeded",
      upstreamStatus: "succeed",
      resultVideoId: "900000000000000002",
      finalUnitDeduction: "3",
      finalBalanceQuota: "0.8",
      finalBalanceListPrice: "1.0",
    });
  });

  it("the URL token is still checked first: a valid signature does not make up for a wrong token", async () => {
    const { id, taskId } = await submittedJob(h);
    const body = JSON.stringify(succeed(taskId));
    const res = await fetch(`${h.api.url}/webhooks/kling/${id}?token=wrong`, { method: "POST", headers: { "content-type": "application/json", ...signedHeaders(body, [NEW]) }, body });
    expect(res.status).toBe(401);
    expect((await job(h, id)).status).toBe("submitted");
  });
});

describe("no webhook secret set: callbacks need no signature (as before)", () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiHarness();
  });
  afterAll(() => h.close());

  it("applies an unsigned callback, and ignores signature headers it cannot check", async () => {
    const { id, taskId } = await submittedJob(h);
    const processing = JSON.stringify({ task_id: taskId, task_status: "processing" });
    expect((await post(h, id, processing)).body.status).toBe("processing");
    const done = JSON.stringify({ ...succeed(taskId), task_status: "succeeded" });
    expect((await post(h, id, done, signedHeaders(done, [OTHER]))).body).toEqual({ ok: true, changed: true, status: "succeeded" });
    expect(await h.api.db.prisma.klingWebhookMessage.count()).toBe(0);
  });
});

describe("KLING_WEBHOOK_SECRETS", () => {
  const env = { API_TOKEN: "test-api-token-0123456789", CALLBACK_SECRET };
  it("splits on spaces and commas; empty means none", () => {
    expect(loadApiConfig({ ...env, KLING_WEBHOOK_SECRETS: ` ${OLD} ,${NEW}  ` }).KLING_WEBHOOK_SECRETS).toEqual([OLD, NEW]);
    expect(loadApiConfig({ ...env, KLING_WEBHOOK_SECRETS: "" }).KLING_WEBHOOK_SECRETS).toEqual([]);
    expect(loadApiConfig(env).KLING_WEBHOOK_SECRETS).toEqual([]);
  });

  it("stops the app on a value that is not whsec_ + base64, naming the variable and not the value", () => {
    for (const bad of ["not-a-webhook-secret", `${NEW} whsec_%%%notbase64%%%`]) {
      let message = "";
      try {
        loadApiConfig({ ...env, KLING_WEBHOOK_SECRETS: bad });
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/KLING_WEBHOOK_SECRETS: secret \d: .*whsec_/);
      expect(message).not.toContain("not-a-webhook-secret");
      expect(message).not.toContain("notbase64");
    }
  });
});
