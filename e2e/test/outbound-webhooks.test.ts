import { startWebhookReceiver, waitFor, type ReceivedWebhook, type WebhookReceiver } from "@kex/testing";
import request from "supertest";
import { STACK_API_TOKEN, startStack, type Stack } from "../src/stack";

const admin = { Authorization: `Bearer ${STACK_API_TOKEN}` };
const video = (i: number) => `7${String(i).padStart(17, "0")}`;

interface DeliveryBody {
  id: string;
  event_type: string;
  status: string;
  attempts: number;
  url: string;
  next_attempt_at: string | null;
  delivered_at: string | null;
  last_error: string | null;
  attempt_log: Array<{ attempt: number; at: string; status_code: number | null; latency_ms: number; error: string | null }>;
}

describe("outbound webhooks end to end: api → worker → sandbox → outbox → dispatcher → receiver", () => {
  let stack: Stack;
  let receiver: WebhookReceiver;
  let secret: string;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    stack = await startStack({
      sandbox: { maxConcurrency: 10, processingDelayMs: 20, completeDelayMinMs: 200, completeDelayMaxMs: 300 },
      worker: { WEBHOOK_RETRY_SCHEDULE_MS: "0,50,50", WEBHOOK_POLL_MS: "50" },
    });
    const res = await request(stack.api.url).get("/v1/webhook-secret").set(admin);
    expect(res.status).toBe(200);
    secret = res.body.secret;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
  });
  afterAll(async () => {
    await stack?.close();
    await receiver?.close();
  });

  async function createJob(body: object, auth: Record<string, string> = admin): Promise<{ id: string }> {
    const res = await request(stack.api.url).post("/v1/extensions").set(auth).send(body);
    expect(res.status).toBe(202);
    return res.body;
  }

  async function hooksAt(path: string, count: number): Promise<ReceivedWebhook[]> {
    return waitFor(async () => (receiver.on(path).length >= count ? receiver.on(path) : undefined), { timeoutMs: 20_000, what: `${count} webhook(s) at ${path}` });
  }

  async function deliveries(jobId: string, auth: Record<string, string> = admin): Promise<DeliveryBody[]> {
    const res = await request(stack.api.url).get(`/v1/extensions/${jobId}/deliveries`).set(auth);
    expect(res.status).toBe(200);
    return res.body.data;
  }

  async function settled(jobId: string): Promise<DeliveryBody> {
    return waitFor(
      async () => {
        const [d] = await deliveries(jobId);
        return d && d.status !== "pending" ? d : undefined;
      },
      { timeoutMs: 20_000, what: `the delivery of ${jobId} to settle` },
    );
  }

  it("extension.succeeded: the job object, signed with the tenant's whsec_ secret, webhook-id = delivery id", async () => {
    const job = await createJob({ video_id: video(1), prompt: "succeeds", callback_url: `${receiver.url}/hooks/succeeded` });
    const [hook] = await hooksAt("/hooks/succeeded", 1);
    const event = receiver.verify(hook!, secret) as ReceivedWebhook["event"];
    const current = (await request(stack.api.url).get(`/v1/extensions/${job.id}`).set(admin)).body;
    expect(event.type).toBe("extension.succeeded");
    expect(new Date(event.timestamp).getTime()).not.toBeNaN();
    expect(event.data).toMatchObject({
      id: job.id,
      status: "succeeded",
      video_id: video(1),
      result: current.result,
      finished_at: current.finished_at,
      callback_url: `${receiver.url}/hooks/succeeded`,
    });
    expect(current.result).toMatchObject({ video_id: expect.stringMatching(/^\d{18}$/) });

    const d = await settled(job.id);
    expect(hook!.headers["webhook-id"]).toBe(d.id);
    expect(d).toMatchObject({
      event_type: "extension.succeeded",
      status: "delivered",
      attempts: 1,
      url: `${receiver.url}/hooks/succeeded`,
      next_attempt_at: null,
      last_error: null,
      attempt_log: [{ attempt: 1, status_code: 200, error: null }],
    });
    expect(d.delivered_at).not.toBeNull();
    expect(d.attempt_log[0]!.latency_ms).toBeGreaterThanOrEqual(0);
  });

  it("extension.failed: upstream refused the video (1203)", async () => {
    const job = await createJob({ video_id: "404000000000000001", prompt: "fails", callback_url: `${receiver.url}/hooks/failed` });
    const [hook] = await hooksAt("/hooks/failed", 1);
    expect(receiver.verify(hook!, secret)).toMatchObject({
      type: "extension.failed",
      data: { id: job.id, status: "failed", error: { code: "1203" }, result: null },
    });
  });

  it("extension.canceled", async () => {
    const job = await createJob({ video_id: video(2), prompt: "canceled", callback_url: `${receiver.url}/hooks/canceled` });
    expect((await request(stack.api.url).post(`/v1/extensions/${job.id}/cancel`).set(admin)).status).toBe(200);
    const [hook] = await hooksAt("/hooks/canceled", 1);
    expect(receiver.verify(hook!, secret)).toMatchObject({ type: "extension.canceled", data: { id: job.id, status: "canceled" } });
  });

  it("batch.completed: exactly once, with the counts, beside every job's own event", async () => {
    const items = [0, 1, 2, 3].map((i) => ({ video_id: video(10 + i), prompt: `shot ${i}` }));
    items.push({ video_id: "404000000000000002", prompt: "missing" });
    const res = await request(stack.api.url).post("/v1/batches").set(admin).send({ items, callback_url: `${receiver.url}/hooks/batch` });
    expect(res.status).toBe(202);
    const batchId = res.body.id as string;
    await waitFor(async () => (receiver.on("/hooks/batch").some((h) => h.event.type === "batch.completed") ? true : undefined), { timeoutMs: 30_000 });
    // Anything late would come within a few polls.
    await new Promise((r) => setTimeout(r, 500));
    const hooks = receiver.on("/hooks/batch");
    for (const h of hooks) receiver.verify(h, secret);
    const completed = hooks.filter((h) => h.event.type === "batch.completed");
    expect(completed).toHaveLength(1);
    expect(completed[0]!.event.data).toEqual({
      id: batchId,
      name: null,
      metadata: null,
      total: 5,
      callback_url: `${receiver.url}/hooks/batch`,
      counts: { queued: 0, submitting: 0, submitted: 0, processing: 0, succeeded: 4, failed: 1, canceled: 0 },
      done: true,
      created_at: expect.any(String),
    });
    const perJob = hooks.filter((h) => h.event.type !== "batch.completed");
    expect(perJob.map((h) => h.event.type).sort()).toEqual(["extension.failed", ...Array(4).fill("extension.succeeded")]);
    expect(new Set(perJob.map((h) => h.event.data.id))).toEqual(new Set(res.body.jobs));

    const batchDeliveries = (await request(stack.api.url).get(`/v1/batches/${batchId}/deliveries`).set(admin)).body.data as DeliveryBody[];
    expect(batchDeliveries).toHaveLength(1);
    expect(batchDeliveries[0]).toMatchObject({ event_type: "batch.completed", status: "delivered", attempts: 1, id: completed[0]!.headers["webhook-id"] });
  });

  it("a receiver answering 500 twice, then 200: three attempts logged with status codes and latencies, delivered", async () => {
    receiver.reply("/hooks/flaky", 500, 500, 200);
    const job = await createJob({ video_id: video(3), prompt: "flaky", callback_url: `${receiver.url}/hooks/flaky` });
    const d = await settled(job.id);
    expect(d).toMatchObject({ status: "delivered", attempts: 3, last_error: null });
    expect(d.attempt_log.map((a) => [a.attempt, a.status_code, a.error])).toEqual([
      [1, 500, "HTTP 500: receiver says 500"],
      [2, 500, "HTTP 500: receiver says 500"],
      [3, 200, null],
    ]);
    for (const a of d.attempt_log) {
      expect(typeof a.latency_ms).toBe("number");
      expect(a.latency_ms).toBeGreaterThanOrEqual(0);
    }
    const hooks = receiver.on("/hooks/flaky");
    expect(hooks).toHaveLength(3);
    for (const h of hooks) {
      expect(h.headers["webhook-id"]).toBe(d.id);
      receiver.verify(h, secret);
    }
  });

  it("a receiver that never succeeds: failed after the schedule; redeliver sends it once more", async () => {
    receiver.reply("/hooks/down", 503);
    const job = await createJob({ video_id: video(4), prompt: "down", callback_url: `${receiver.url}/hooks/down` });
    const failed = await settled(job.id);
    expect(failed).toMatchObject({ status: "failed", attempts: 3, last_error: "HTTP 503: receiver says 503", next_attempt_at: null, delivered_at: null });
    expect(failed.attempt_log.map((a) => a.status_code)).toEqual([503, 503, 503]);

    receiver.reply("/hooks/down", 503, 503, 503, 200);
    const res = await request(stack.api.url).post(`/v1/deliveries/${failed.id}/redeliver`).set(admin);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ id: failed.id, status: "pending", attempts: 3 });
    expect(res.body.next_attempt_at).not.toBeNull();
    const again = await settled(job.id);
    expect(again).toMatchObject({ status: "delivered", attempts: 4, last_error: null });
    expect(again.attempt_log.map((a) => a.status_code)).toEqual([503, 503, 503, 200]);
    const hooks = receiver.on("/hooks/down");
    expect(hooks).toHaveLength(4);
    expect(new Set(hooks.map((h) => h.headers["webhook-id"]))).toEqual(new Set([failed.id]));
  });

  it("tenant isolation: another tenant's deliveries are 404, and each tenant's webhooks carry its own signature", async () => {
    const tenant = await request(stack.api.url).post("/v1/tenants").set(admin).send({ name: "other" });
    expect(tenant.status).toBe(201);
    const other = { Authorization: `Bearer ${tenant.body.api_key.key}` };
    const otherSecret = tenant.body.webhook_secret as string;
    expect((await request(stack.api.url).get("/v1/webhook-secret").set(other)).body).toEqual({ secret: otherSecret });
    expect(otherSecret).not.toBe(secret);

    const mine = await createJob({ video_id: video(5), prompt: "mine", callback_url: `${receiver.url}/hooks/mine` });
    const myDelivery = await settled(mine.id);
    const theirs = await createJob({ video_id: video(6), prompt: "theirs", callback_url: `${receiver.url}/hooks/theirs` }, other);
    const [hook] = await hooksAt("/hooks/theirs", 1);
    expect(receiver.verify(hook!, otherSecret)).toMatchObject({ type: "extension.succeeded", data: { id: theirs.id } });
    expect(() => receiver.verify(hook!, secret)).toThrow();

    const batch = await request(stack.api.url).post("/v1/batches").set(admin).send({ items: [{ video_id: video(7), prompt: "b" }] });
    expect((await request(stack.api.url).get(`/v1/extensions/${mine.id}/deliveries`).set(other)).status).toBe(404);
    expect((await request(stack.api.url).get(`/v1/batches/${batch.body.id}/deliveries`).set(other)).status).toBe(404);
    const redeliver = await request(stack.api.url).post(`/v1/deliveries/${myDelivery.id}/redeliver`).set(other);
    expect(redeliver.status).toBe(404);
    expect(redeliver.body.error.code).toBe("not_found");
    expect((await request(stack.api.url).get(`/v1/extensions/${theirs.id}/deliveries`).set(admin)).status).toBe(404);
    expect(await deliveries(theirs.id, other)).toHaveLength(1);
    // The refused redelivery changed nothing.
    expect((await deliveries(mine.id))[0]).toMatchObject({ status: "delivered", attempts: 1 });
  });
});
