import { randomUUID } from "node:crypto";
import { createLogger, type ResolveAll } from "@kex/core";
import { claimDueDeliveries, createDb, DEFAULT_TENANT_ID, ensureWebhookSecret, redeliverDelivery, type Db } from "@kex/db";
import { createMetricsRegistry } from "@kex/metrics";
import { createTestDatabase, startWebhookReceiver, tableResolver, waitFor, type TestDatabase, type WebhookReceiver } from "@kex/testing";
import { createWorkerMetrics } from "../src/metrics";
import { createWebhookDispatcher, type WebhookDispatcherSettings } from "../src/webhook-dispatcher";

const silent = createLogger({ name: "webhooks", level: process.env.TEST_LOG_LEVEL ?? "silent" });

/** Resolvers from a table: these tests never ask DNS (and never connect anywhere but 127.0.0.1). */
const table = tableResolver;

describe("webhook dispatcher (real Postgres, a receiver on 127.0.0.1)", () => {
  let database: TestDatabase;
  let db: Db;
  let receiver: WebhookReceiver;
  let secret: string;
  const open: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    db = createDb({ url: database.url });
    receiver = await startWebhookReceiver();
    secret = await ensureWebhookSecret(db, DEFAULT_TENANT_ID);
  });
  afterAll(async () => {
    await receiver?.close();
    await db?.close();
    await database?.drop();
  });
  beforeEach(async () => {
    await db.prisma.webhookDelivery.deleteMany();
    receiver.received.length = 0;
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((d) => d.close()));
  });

  function dispatcher(settings: Partial<WebhookDispatcherSettings> = {}, resolve?: ResolveAll) {
    const registry = createMetricsRegistry();
    const metrics = createWorkerMetrics(registry);
    const d = createWebhookDispatcher({
      db,
      logger: silent,
      metrics,
      resolve,
      settings: { pollMs: 20, concurrency: 10, timeoutMs: 2000, retryScheduleMs: [0, 30, 30], allowPrivateUrls: true, ...settings },
    });
    open.push(d);
    return { ...d, metrics };
  }

  async function addDelivery(url: string, data: Record<string, unknown> = { id: randomUUID(), status: "succeeded" }): Promise<string> {
    const id = randomUUID();
    await db.prisma.webhookDelivery.create({
      data: {
        id,
        tenantId: DEFAULT_TENANT_ID,
        eventType: "extension.succeeded",
        dedupeKey: `test:${id}`,
        url,
        payload: { type: "extension.succeeded", timestamp: new Date().toISOString(), data } as object,
      },
    });
    return id;
  }

  const row = (id: string) => db.prisma.webhookDelivery.findUniqueOrThrow({ where: { id }, include: { attemptLog: { orderBy: { id: "asc" } } } });

  /** Runs the dispatcher until the delivery leaves `pending`. */
  async function settle(d: { runOnce(): Promise<number> }, id: string) {
    return waitFor(
      async () => {
        await d.runOnce();
        const r = await row(id);
        return r.status === "pending" ? undefined : r;
      },
      { timeoutMs: 10_000, intervalMs: 20, what: `delivery ${id} to settle` },
    );
  }

  it("sends the stored payload, signed per Standard Webhooks with the tenant's secret", async () => {
    const id = await addDelivery(`${receiver.url}/ok`, { id: "job-1", status: "succeeded" });
    const d = dispatcher();
    expect(await d.runOnce()).toBe(1);
    const [hook] = receiver.on("/ok");
    expect(hook!.headers["webhook-id"]).toBe(id);
    expect(hook!.headers["content-type"]).toBe("application/json");
    expect(hook!.body).toMatch(/^\{"type":"extension\.succeeded","timestamp":"[^"]+","data":\{/);
    expect(receiver.verify(hook!, secret)).toMatchObject({ type: "extension.succeeded", data: { id: "job-1", status: "succeeded" } });
    expect(() => receiver.verify(hook!, "whsec_" + Buffer.alloc(24, 1).toString("base64"))).toThrow(/signature/i);
    const r = await row(id);
    expect(r).toMatchObject({ status: "delivered", attempts: 1, lastError: null });
    expect(r.deliveredAt).not.toBeNull();
    expect(r.attemptLog).toMatchObject([{ attempt: 1, statusCode: 200, error: null }]);
    expect(await d.metrics.webhookDeliveries.get()).toMatchObject({ values: [{ labels: { result: "delivered" }, value: 1 }] });
  });

  it("500, 500, then 200: three attempts logged with status codes and latencies, one webhook-id", async () => {
    receiver.reply("/flaky", 500, 500, 200);
    const id = await addDelivery(`${receiver.url}/flaky`);
    const d = dispatcher();
    const r = await settle(d, id);
    expect(r).toMatchObject({ status: "delivered", attempts: 3, lastError: null });
    expect(r.attemptLog.map((a) => [a.attempt, a.statusCode])).toEqual([
      [1, 500],
      [2, 500],
      [3, 200],
    ]);
    expect(r.attemptLog[0]!.error).toBe("HTTP 500: receiver says 500");
    for (const a of r.attemptLog) expect(a.latencyMs).toBeGreaterThanOrEqual(0);
    const hooks = receiver.on("/flaky");
    expect(hooks).toHaveLength(3);
    expect(new Set(hooks.map((h) => h.headers["webhook-id"]))).toEqual(new Set([id]));
    for (const h of hooks) receiver.verify(h, secret);
    // The retry waited for its slot in the schedule (30 ms after each failure).
    expect(r.attemptLog[1]!.at.getTime() - r.attemptLog[0]!.at.getTime()).toBeGreaterThanOrEqual(25);
    const counts = Object.fromEntries((await d.metrics.webhookDeliveries.get()).values.map((v) => [v.labels.result, v.value]));
    expect(counts).toEqual({ retrying: 2, delivered: 1 });
  });

  it("a receiver that never succeeds: failed after the whole schedule, last error kept", async () => {
    receiver.reply("/down", 503);
    const id = await addDelivery(`${receiver.url}/down`);
    const d = dispatcher({ retryScheduleMs: [0, 10, 10, 10] });
    const r = await settle(d, id);
    expect(r).toMatchObject({ status: "failed", attempts: 4, lastError: "HTTP 503: receiver says 503", deliveredAt: null });
    expect(r.attemptLog.map((a) => a.statusCode)).toEqual([503, 503, 503, 503]);
    expect(receiver.on("/down")).toHaveLength(4);
    await d.runOnce();
    expect(receiver.on("/down")).toHaveLength(4);
    const counts = Object.fromEntries((await d.metrics.webhookDeliveries.get()).values.map((v) => [v.labels.result, v.value]));
    expect(counts).toEqual({ retrying: 3, failed: 1 });
  });

  it("a receiver slower than the timeout is a failed attempt with no status code", async () => {
    receiver.reply("/slow", (res) => setTimeout(() => res.status(200).end(), 1500));
    const id = await addDelivery(`${receiver.url}/slow`);
    await dispatcher({ timeoutMs: 200, retryScheduleMs: [0, 60_000] }).runOnce();
    const r = await row(id);
    expect(r).toMatchObject({ status: "pending", attempts: 1, lastError: "timed out after 200 ms" });
    expect(r.attemptLog[0]).toMatchObject({ statusCode: null, error: "timed out after 200 ms" });
    expect(r.attemptLog[0]!.latencyMs).toBeGreaterThanOrEqual(150);
    expect(r.nextAttemptAt.getTime()).toBeGreaterThan(Date.now() + 50_000);
  });

  it("redirects are never followed: a 3xx is a failed attempt", async () => {
    receiver.reply("/moved", (res) => res.redirect(302, "http://169.254.169.254/latest/meta-data/"));
    receiver.reply("/moved-home", (res) => res.redirect(307, `${receiver.url}/elsewhere`));
    const a = await addDelivery(`${receiver.url}/moved`);
    const b = await addDelivery(`${receiver.url}/moved-home`);
    await dispatcher({ retryScheduleMs: [0, 60_000] }).runOnce();
    expect((await row(a)).attemptLog[0]).toMatchObject({ statusCode: 302, error: "redirect not followed (to http://169.254.169.254/latest/meta-data/)" });
    expect((await row(b)).attemptLog[0]).toMatchObject({ statusCode: 307, error: `redirect not followed (to ${receiver.url}/elsewhere)` });
    expect(receiver.on("/elsewhere")).toHaveLength(0);
  });

  describe("SSRF guard at connect time (ALLOW_PRIVATE_WEBHOOK_URLS off)", () => {
    const port = () => new URL(receiver.url).port;

    it.each([
      ["an IP literal on loopback", () => `http://127.0.0.1:${port()}/direct`, /^refused: destination 127\.0\.0\.1 is a loopback address/],
      ["localhost", () => `http://localhost:${port()}/named`, /^refused: destination localhost resolves to 127\.0\.0\.1, a loopback address/],
      ["a name resolving to loopback (rebinding)", () => `http://rebind.test:${port()}/rebind`, /^refused: destination rebind\.test resolves to 127\.0\.0\.1/],
      ["IPv6 loopback", () => `http://[::1]:${port()}/v6`, /^refused: destination ::1 is a loopback address/],
    ])("%s is refused and the receiver never hears of it", async (_what, url, error) => {
      const resolve = table({ "rebind.test": ["127.0.0.1"] });
      const id = await addDelivery(url());
      await dispatcher({ allowPrivateUrls: false, retryScheduleMs: [0, 60_000] }, resolve).runOnce();
      const r = await row(id);
      expect(r).toMatchObject({ status: "pending", attempts: 1 });
      expect(r.attemptLog[0]!.statusCode).toBeNull();
      expect(r.attemptLog[0]!.error).toMatch(error);
      expect(receiver.received).toHaveLength(0);
    });

    // Non-loopback destinations: refused before any connection is attempted (the lookup fails, or
    // the literal is checked first), so no packet leaves this machine.
    it.each([
      ["a name resolving to 10.0.0.1", "http://internal.test/hook", /resolves to 10\.0\.0\.1, a private address/],
      ["a name resolving to the metadata address", "http://metadata.test/latest/meta-data/", /resolves to 169\.254\.169\.254, a linkLocal address/],
      ["a name with one private address among public ones", "http://mixed.test/hook", /resolves to 192\.168\.1\.7, a private address/],
      ["10.0.0.1", "http://10.0.0.1/hook", /destination 10\.0\.0\.1 is a private address/],
      ["169.254.169.254", "http://169.254.169.254/latest/meta-data/", /destination 169\.254\.169\.254 is a linkLocal address/],
      ["192.168.1.1", "http://192.168.1.1/", /destination 192\.168\.1\.1 is a private address/],
      ["IPv4-mapped 10.0.0.1", "http://[::ffff:10.0.0.1]/", /is a private address/],
    ])("%s is refused", async (_what, url, error) => {
      const resolve = table({
        "internal.test": ["10.0.0.1"],
        "metadata.test": ["169.254.169.254"],
        "mixed.test": ["93.184.215.14", "192.168.1.7"],
      });
      const id = await addDelivery(url);
      await dispatcher({ allowPrivateUrls: false, retryScheduleMs: [0, 60_000] }, resolve).runOnce();
      const r = await row(id);
      expect(r.attemptLog).toHaveLength(1);
      expect(r.attemptLog[0]!.statusCode).toBeNull();
      expect(r.attemptLog[0]!.error).toMatch(/^refused: /);
      expect(r.attemptLog[0]!.error).toMatch(error);
      if (url.includes(".test")) expect(resolve.calls).toEqual([new URL(url).hostname]);
      else expect(resolve.calls).toEqual([]);
    });
  });

  it("several dispatchers never send the same delivery twice", async () => {
    const ids = await Promise.all(Array.from({ length: 30 }, (_, i) => addDelivery(`${receiver.url}/many/${i}`)));
    const ds = [dispatcher({ concurrency: 4 }), dispatcher({ concurrency: 4 }), dispatcher({ concurrency: 4 })];
    await waitFor(
      async () => {
        await Promise.all(ds.map((d) => d.runOnce()));
        return (await db.prisma.webhookDelivery.count({ where: { status: "pending" } })) === 0 ? true : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 10 },
    );
    expect(receiver.received).toHaveLength(30);
    expect(new Set(receiver.received.map((r) => r.headers["webhook-id"]))).toEqual(new Set(ids));
    expect(await db.prisma.webhookAttempt.count()).toBe(30);
  });

  it("a claimed delivery is leased: not claimed again until the lease runs out", async () => {
    const id = await addDelivery(`${receiver.url}/leased`);
    const now = new Date();
    expect((await claimDueDeliveries(db, { now, limit: 10, leaseMs: 60_000 })).map((d) => d.id)).toEqual([id]);
    expect(await claimDueDeliveries(db, { now: new Date(now.getTime() + 59_000), limit: 10, leaseMs: 60_000 })).toEqual([]);
    expect((await claimDueDeliveries(db, { now: new Date(now.getTime() + 60_001), limit: 10, leaseMs: 60_000 })).map((d) => d.id)).toEqual([id]);
  });

  it("redelivery re-arms a delivered or failed delivery; the history stays", async () => {
    receiver.reply("/again", 200, 500, 200);
    const id = await addDelivery(`${receiver.url}/again`);
    const d = dispatcher({ retryScheduleMs: [0] });
    await settle(d, id);
    expect((await redeliverDelivery(db, DEFAULT_TENANT_ID, id))?.status).toBe("pending");
    expect(await redeliverDelivery(db, randomUUID(), id)).toBeNull();
    expect(await settle(d, id)).toMatchObject({ status: "failed", attempts: 2, lastError: "HTTP 500: receiver says 500" });
    await redeliverDelivery(db, DEFAULT_TENANT_ID, id);
    const r = await settle(d, id);
    expect(r).toMatchObject({ status: "delivered", attempts: 3, lastError: null });
    expect(r.attemptLog.map((a) => [a.attempt, a.statusCode])).toEqual([
      [1, 200],
      [2, 500],
      [3, 200],
    ]);
    expect(new Set(receiver.on("/again").map((h) => h.headers["webhook-id"]))).toEqual(new Set([id]));
  });

  it("started, it polls by itself; closed, it stops", async () => {
    const d = dispatcher();
    d.start();
    const id = await addDelivery(`${receiver.url}/polled`);
    await waitFor(async () => ((await row(id)).status === "delivered" ? true : undefined), { timeoutMs: 5000 });
    await d.close();
    await addDelivery(`${receiver.url}/after-close`);
    await new Promise((r) => setTimeout(r, 100));
    expect(receiver.on("/after-close")).toHaveLength(0);
  });
});
