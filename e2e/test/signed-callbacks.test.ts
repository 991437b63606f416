import { callbackToken } from "@kex/core";
import { getJobEvents } from "@kex/db";
import { parseMetrics, sumSamples } from "@kex/metrics";
import { waitFor } from "@kex/testing";
import { STACK_API_TOKEN, startStack, type Stack } from "../src/stack";

/**
 * Signed upstream callbacks end to end, over real HTTP: the sandbox signs its callbacks with Standard Webhooks
 * (`webhookSecrets`), the api requires a valid signature (`KLING_WEBHOOK_SECRETS`) on top of the URL token, and
 * drops a second delivery of a `webhook-id`. Then both status spellings and both callback shapes, HTTP 200 with a
 * failed task, and the deductions from callbacks and from queries, on an api without a secret.
 */

const secret = (seed: string) => `whsec_${Buffer.from(`${seed}-e2e-0123456789abcdef`).toString("base64")}`;
const OLD = secret("old");
const NEW = secret("new");
const OTHER = secret("other");

const auth = { authorization: `Bearer ${STACK_API_TOKEN}`, "content-type": "application/json" };
const FAST = { processingDelayMs: 10, completeDelayMinMs: 20, completeDelayMaxMs: 40, seed: 7 };

let videoSeq = 0;
async function submit(stack: Stack): Promise<string> {
  const res = await fetch(`${stack.api.url}/v1/extensions`, {
    method: "POST",
    headers: auth,
    body: JSON.stringify({ video_id: `61${String(++videoSeq).padStart(16, "0")}`, prompt: "waves" }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

interface JobBody {
  status: string;
  upstream_status: string | null;
  result: { video_id: string } | null;
  error: { code: string; message: string } | null;
  final_unit_deduction: string | null;
  final_balance_deduction: { quota: string; list_price: string } | null;
}
const getJob = async (stack: Stack, id: string) => (await (await fetch(`${stack.api.url}/v1/extensions/${id}`, { headers: auth })).json()) as JobBody;
const finished = (stack: Stack, id: string) =>
  waitFor(async () => {
    const job = await getJob(stack, id);
    return ["succeeded", "failed", "canceled"].includes(job.status) ? job : undefined;
  }, { timeoutMs: 30_000, intervalMs: 100, what: `job ${id} to finish` });
const webhookEvents = async (stack: Stack, id: string) => (await getJobEvents(stack.api.db, id)).filter((e) => e.source === "webhook");
const signatureFailures = async (stack: Stack, reason: string) =>
  sumSamples(parseMetrics(await (await fetch(`${stack.api.url}/metrics`)).text()), "kex_callback_signature_failures_total", { reason });

describe("with a webhook secret set", () => {
  let stack: Stack;
  beforeAll(async () => {
    // The reconciler stays away, so a job moves only by callbacks (or its create answer).
    stack = await startStack({
      sandbox: { ...FAST, webhookSecrets: [NEW], unitDeduction: "2", balanceDeduction: { quota: "0.75", list_price: "1.40" } },
      api: { KLING_WEBHOOK_SECRETS: `${OLD} ${NEW}` },
      worker: { RECONCILE_MIN_AFTER_MS: "600000", RECONCILE_AFTER_MS: "600000" },
    });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.sandbox.setOptions({ webhookSecrets: [NEW], webhookTimestampOffsetMs: 0 }));

  it("signed callbacks are applied: the job succeeds, with what upstream charged", async () => {
    const id = await submit(stack);
    const job = await finished(stack, id);
    expect(job).toMatchObject({ status: "succeeded", final_unit_deduction: "2", final_balance_deduction: { quota: "0.75", list_price: "1.40" } });
    expect((await webhookEvents(stack, id)).map((e) => e.type)).toContain("upstream_succeed");
  });

  it("rotation: callbacks signed with the old and the new secret at once are applied", async () => {
    stack.sandbox.setOptions({ webhookSecrets: [OLD, NEW] });
    expect((await finished(stack, await submit(stack))).status).toBe("succeeded");
    stack.sandbox.setOptions({ webhookSecrets: [OLD] });
    expect((await finished(stack, await submit(stack))).status).toBe("succeeded");
  });

  it.each([
    ["signed with a secret we do not have", "mismatch", { webhookSecrets: [OTHER] }],
    ["stamped 6 minutes ago", "timestamp", { webhookTimestampOffsetMs: -6 * 60_000 }],
    ["unsigned", "missing", { webhookSecrets: [] }],
  ])("%s: refused with 401 and counted, the job unchanged", async (_what, reason, options) => {
    stack.sandbox.setOptions(options);
    const before = { failed: stack.sandbox.stats().callbacksFailed, refused: await signatureFailures(stack, reason) };
    const id = await submit(stack);
    const row = await waitFor(async () => {
      const r = await stack.api.db.prisma.job.findUniqueOrThrow({ where: { id } });
      return r.upstreamTaskId ? r : undefined;
    }, { timeoutMs: 20_000, intervalMs: 50, what: "the task to be created" });
    // Every callback of the task (submitted, processing, succeed) is refused, after the sandbox's retries.
    await waitFor(async () => (stack.sandbox.stats().callbacksFailed - before.failed >= 3 ? true : undefined), {
      timeoutMs: 20_000,
      intervalMs: 50,
      what: "the task's callbacks to be refused",
    });
    await stack.sandbox.waitForIdle();
    expect(await signatureFailures(stack, reason)).toBeGreaterThanOrEqual(before.refused + 3);
    expect(await getJob(stack, id)).toMatchObject({ status: "submitted", upstream_status: "submitted", final_unit_deduction: null });
    expect(await webhookEvents(stack, id)).toEqual([]);
    // Upstream saw every delivery refused: none of them counts as delivered.
    const replay = await fetch(`${stack.sandbox.url}/__sandbox/callbacks/replay`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ task_id: row.upstreamTaskId }) });
    expect(replay.status).toBe(404);
  });

  it("a replayed webhook-id is answered 200 duplicate and applied once", async () => {
    const id = await submit(stack);
    await finished(stack, id);
    await stack.sandbox.waitForIdle();
    const row = await stack.api.db.prisma.job.findUniqueOrThrow({ where: { id } });
    const events = (await getJobEvents(stack.api.db, id)).length;
    const seen = await stack.api.db.prisma.klingWebhookMessage.count({ where: { jobId: id } });
    expect(seen).toBeGreaterThanOrEqual(2);
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${stack.sandbox.url}/__sandbox/callbacks/replay`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ task_id: row.upstreamTaskId }) });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ task_id: row.upstreamTaskId, delivered: true });
    }
    expect(await getJobEvents(stack.api.db, id)).toHaveLength(events);
    expect(await stack.api.db.prisma.klingWebhookMessage.count({ where: { jobId: id } })).toBe(seen);
    expect(await stack.api.db.prisma.job.findUniqueOrThrow({ where: { id } })).toStrictEqual(row);
  });
});

describe("without a webhook secret: spellings, shapes, HTTP 200 with a failed task, deductions", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      sandbox: { ...FAST, unitDeduction: "3" },
      worker: { RECONCILE_INTERVAL_MS: "200", RECONCILE_MIN_AFTER_MS: "300", RECONCILE_AFTER_MS: "1000" },
    });
  });
  afterAll(() => stack.close());

  it.each([
    ["succeed", "legacy"],
    ["succeeded", "legacy"],
    ["succeed", "v3"],
    ["succeeded", "v3"],
  ] as const)("status spelled %s, %s callbacks: unsigned callbacks end the job as succeeded, with its result and units", async (statusSpelling, callbackShape) => {
    stack.sandbox.setOptions({ statusSpelling, callbackShape, callbackDropRate: 0 });
    const id = await submit(stack);
    const job = await finished(stack, id);
    expect(job).toMatchObject({ status: "succeeded", upstream_status: "succeed", error: null, final_unit_deduction: "3" });
    expect(job.result?.video_id).toMatch(/^\d{18}$/);
    // By callback, not by the reconciler.
    expect((await webhookEvents(stack, id)).map((e) => e.type)).toContain("upstream_succeed");
  });

  it("HTTP 200 carrying a failed task is a failure", async () => {
    stack.sandbox.setOptions({ statusSpelling: "succeed", callbackShape: "legacy", failOnCreateRate: 1 });
    const job = await finished(stack, await submit(stack));
    stack.sandbox.setOptions({ failOnCreateRate: 0 });
    expect(job).toMatchObject({ status: "failed", error: { code: "task_failed", message: "content risk control" }, final_unit_deduction: "0" });
  });

  it("deductions from a query answer when callbacks are lost, recorded once", async () => {
    stack.sandbox.setOptions({ callbackDropRate: 1, unitDeduction: "4", balanceDeduction: { quota: "0.5", list_price: "0.9" } });
    const id = await submit(stack);
    const job = await finished(stack, id);
    expect(job).toMatchObject({ status: "succeeded", final_unit_deduction: "4", final_balance_deduction: { quota: "0.5", list_price: "0.9" } });
    const events = await getJobEvents(stack.api.db, id);
    expect(events.filter((e) => e.source === "reconciler" && e.toStatus === "succeeded")).toHaveLength(1);
    expect(await webhookEvents(stack, id)).toEqual([]);
    // Callbacks back on, and the final one delivered late: nothing is counted again.
    stack.sandbox.setOptions({ callbackDropRate: 0, unitDeduction: "5" });
    const row = await stack.api.db.prisma.job.findUniqueOrThrow({ where: { id } });
    const body = JSON.stringify({ task_id: row.upstreamTaskId, task_status: "succeed", final_unit_deduction: "4", task_result: { videos: [{ id: row.resultVideoId, url: row.resultUrl, duration: "9.5" }] } });
    const late = await fetch(`${stack.api.url}/webhooks/kling/${id}?token=${encodeURIComponent(callbackToken(stack.workerConfig.CALLBACK_SECRET, id))}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    expect(await late.json()).toMatchObject({ changed: false, reason: "terminal" });
    expect(await getJob(stack, id)).toMatchObject({ final_unit_deduction: "4", final_balance_deduction: { quota: "0.5", list_price: "0.9" } });
  });
});
