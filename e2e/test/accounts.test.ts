import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startSandbox, type RunningSandbox } from "@kex/sandbox";
import { waitFor } from "@kex/testing";
import { startStack, STACK_API_TOKEN, type Stack } from "../src/stack";

// Two sandboxes are two Kling accounts: each one's task and video ids start with its prefix, and
// extending another account's video fails upstream with 1203. A third account is configured disabled.
const FAST = { processingDelayMs: 10, completeDelayMinMs: 30, completeDelayMaxMs: 120, seed: 7 };
const CAP_A = 3;
const CAP_B = 2;
const videoA = (i: number) => `71${String(i).padStart(16, "0")}`;
const videoB = (i: number) => `72${String(i).padStart(16, "0")}`;
const headers = { authorization: `Bearer ${STACK_API_TOKEN}`, "content-type": "application/json" };

let a: RunningSandbox;
let b: RunningSandbox;
let stack: Stack;
let dir: string;

async function post(route: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${stack.api.url}${route}`, { method: "POST", headers, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}
async function get(route: string): Promise<{ status: number; body: any; text: string }> {
  const res = await fetch(`${stack.api.url}${route}`, { headers });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), text };
}
const jobRow = (id: string) => stack.api.db.prisma.job.findUniqueOrThrow({ where: { id } });
const finished = (id: string, timeoutMs = 30_000) =>
  waitFor(
    async () => {
      const row = await jobRow(id);
      return ["succeeded", "failed", "canceled"].includes(row.status) ? row : undefined;
    },
    { timeoutMs, what: `job ${id} to finish` },
  );

beforeAll(async () => {
  a = await startSandbox({ ...FAST, apiKey: "sandbox-key-of-account-a", idPrefix: "71", maxConcurrency: 20 });
  b = await startSandbox({ ...FAST, seed: 8, apiKey: "sandbox-key-of-account-b", idPrefix: "72", maxConcurrency: 20 });
  dir = mkdtempSync(path.join(tmpdir(), "kex-accounts-"));
  const file = path.join(dir, "accounts.json");
  writeFileSync(
    file,
    JSON.stringify({
      default: "a",
      accounts: [
        { name: "a", mode: "static", api_key: "sandbox-key-of-account-a", base_url: a.url, path_prefix: "/kling", max_in_flight: CAP_A },
        {
          name: "b",
          mode: "static",
          api_key: "sandbox-key-of-account-b",
          base_url: b.url,
          path_prefix: "/kling",
          max_in_flight: CAP_B,
          callback_secrets: ["whsec_c2VjcmV0LW9mLWFjY291bnQtYi0wMTIzNDU2Nzg5"],
        },
        { name: "off", mode: "jwt", access_key: "access-key-of-off", secret_key: "secret-key-of-off", base_url: b.url, path_prefix: "", enabled: false },
      ],
    }),
  );
  stack = await startStack({
    api: { KLING_ACCOUNTS_FILE: file },
    worker: { KLING_ACCOUNTS_FILE: file, KLING_API_KEY: "", ACCOUNT_PAUSE_MS: "1000", WORKER_CONCURRENCY: "16" },
  });
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await a?.close();
  await b?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("GET /v1/accounts", () => {
  it("shows every account's settings and state, and no credential or callback secret", async () => {
    const res = await get("/v1/accounts");
    expect(res.status).toBe(200);
    expect(res.body.data.map((x: { name: string }) => x.name)).toEqual(["a", "b", "off"]);
    expect(res.body.data[0]).toEqual({
      name: "a",
      mode: "static",
      base_url: a.url,
      path_prefix: "/kling",
      enabled: true,
      default: true,
      max_in_flight: CAP_A,
      in_flight: 0,
      callback_signing: false,
      paused_until: null,
      paused_reason: null,
    });
    expect(res.body.data[1]).toMatchObject({ name: "b", callback_signing: true, default: false });
    expect(res.body.data[2]).toMatchObject({ name: "off", mode: "jwt", enabled: false });
    for (const secret of ["sandbox-key-of-account-a", "sandbox-key-of-account-b", "access-key-of-off", "secret-key-of-off", "whsec_"]) {
      expect(res.text).not.toContain(secret);
    }
  });

  it("is for the admin token only", async () => {
    const tenant = await post("/v1/tenants", { name: "accounts-reader" });
    const res = await fetch(`${stack.api.url}/v1/accounts`, { headers: { authorization: `Bearer ${tenant.body.api_key.key}` } });
    expect(res.status).toBe(403);
  });
});

describe("routing by ownership", () => {
  it("a result video of account b, extended without naming an account, runs on b", async () => {
    const first = await post("/v1/extensions", { video_id: videoB(1), prompt: "on b", account: "b" });
    expect(first.status).toBe(202);
    expect(first.body.account).toBe("b");
    const done = await finished(first.body.id);
    expect(done.status).toBe("succeeded");
    expect(done.resultVideoId!.startsWith("72")).toBe(true);
    expect(await stack.api.db.prisma.videoOwner.findUnique({ where: { videoId: done.resultVideoId! } })).toMatchObject({ account: "b", jobId: done.id });

    const createsOnA = a.stats().createRequests;
    const next = await post("/v1/extensions", { video_id: done.resultVideoId, prompt: "extend b's video" });
    expect(next.status).toBe(202);
    expect(next.body.account).toBe("b");
    expect(await finished(next.body.id)).toMatchObject({ status: "succeeded", account: "b" });
    expect(a.stats().createRequests).toBe(createsOnA);
    expect((await get(`/v1/extensions/${next.body.id}`)).body.account).toBe("b");

    // Naming another account than the video's owner: 409 naming both; nothing stored.
    const before = await stack.api.db.prisma.job.count();
    const conflict = await post("/v1/extensions", { video_id: done.resultVideoId, prompt: "wrong account", account: "a" });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe("account_conflict");
    expect(conflict.body.error.message).toContain('"b"');
    expect(conflict.body.error.message).toContain('"a"');
    expect(conflict.body.error.details[0]).toMatchObject({ field: "account", rule: "account_conflict" });
    const batchConflict = await post("/v1/batches", { items: [{ video_id: videoA(50), prompt: "ok" }, { video_id: done.resultVideoId, prompt: "x" }], account: "a" });
    expect(batchConflict.status).toBe(409);
    expect(batchConflict.body.error.details[0]).toMatchObject({ field: "account", rule: "account_conflict" });
    expect(await stack.api.db.prisma.job.count()).toBe(before);
  }, 60_000);

  it("without an account or a known owner a job runs on the default account; a batch's account applies to items naming none", async () => {
    const plain = await post("/v1/extensions", { video_id: videoA(2), prompt: "default" });
    expect(plain.body.account).toBe("a");
    const batch = await post("/v1/batches", { account: "b", items: [{ video_id: videoB(3), prompt: "b" }, { video_id: videoA(3), prompt: "a", account: "a" }] });
    expect(batch.status).toBe(202);
    const [onB, onA] = await Promise.all(batch.body.jobs.map((id: string) => finished(id)));
    expect(onB).toMatchObject({ account: "b", status: "succeeded" });
    expect(onA).toMatchObject({ account: "a", status: "succeeded" });
    expect(await finished(plain.body.id)).toMatchObject({ account: "a", status: "succeeded" });
  }, 60_000);

  it("an unknown or disabled account is a 400 naming the field and the account", async () => {
    const before = await stack.api.db.prisma.job.count();
    const unknown = await post("/v1/extensions", { video_id: videoA(4), prompt: "x", account: "nope" });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details[0]).toMatchObject({ field: "account", rule: "unknown_account" });
    expect(unknown.body.error.message).toContain('"nope"');
    const disabled = await post("/v1/extensions", { video_id: videoA(4), prompt: "x", account: "off" });
    expect(disabled.status).toBe(400);
    expect(disabled.body.error.details[0]).toMatchObject({ field: "account", rule: "account_disabled" });
    expect(disabled.body.error.message).toContain('"off"');
    const item = await post("/v1/batches", { items: [{ video_id: videoA(5), prompt: "ok" }, { video_id: videoA(6), prompt: "x", account: "nope" }] });
    expect(item.status).toBe(400);
    expect(item.body.error.details).toEqual([expect.objectContaining({ field: "items.1.account", rule: "unknown_account" })]);
    const chain = await post("/v1/chains", { video_id: videoA(7), steps: [{ prompt: "x" }], account: "off" });
    expect(chain.status).toBe(400);
    expect(chain.body.error.details[0]).toMatchObject({ field: "account", rule: "account_disabled" });
    expect(await stack.api.db.prisma.job.count()).toBe(before);
  });

  it("a chain is pinned to its account: every step runs there", async () => {
    const createsOnA = a.stats().createRequests;
    const created = await post("/v1/chains", { video_id: videoB(8), account: "b", steps: [{ prompt: "one" }, { prompt: "two" }, { prompt: "three" }] });
    expect(created.status).toBe(202);
    expect(created.body.account).toBe("b");
    const chain = await waitFor(
      async () => {
        const view = (await get(`/v1/chains/${created.body.id}`)).body;
        return view.status === "running" ? undefined : view;
      },
      { timeoutMs: 60_000, what: "the chain to finish" },
    );
    expect(chain.status).toBe("succeeded");
    expect(chain.steps.map((s: { job: { account: string } }) => s.job.account)).toEqual(["b", "b", "b"]);
    expect(chain.final_video.video_id.startsWith("72")).toBe(true);
    expect(a.stats().createRequests).toBe(createsOnA);
  }, 90_000);
});

describe("per-account caps and pauses", () => {
  // No sandbox reset in between: a reset restarts its id sequence, and a task id seen before would collide.
  it("each account's peak in flight stays within its own ceiling", async () => {
    const [aBefore, bBefore] = [a.stats().tasksCreated, b.stats().tasksCreated];
    a.setOptions({ completeDelayMinMs: 1000, completeDelayMaxMs: 1200 });
    b.setOptions({ completeDelayMinMs: 1000, completeDelayMaxMs: 1200 });
    const items = [
      ...Array.from({ length: 12 }, (_, i) => ({ video_id: videoA(100 + i), prompt: `a${i}` })),
      ...Array.from({ length: 10 }, (_, i) => ({ video_id: videoB(100 + i), prompt: `b${i}`, account: "b" })),
    ];
    const batch = await post("/v1/batches", { items });
    expect(batch.status).toBe(202);
    const rows = await Promise.all(batch.body.jobs.map((id: string) => finished(id, 60_000)));
    expect(rows.every((r) => r.status === "succeeded")).toBe(true);
    expect(a.stats().tasksCreated - aBefore).toBe(12);
    expect(b.stats().tasksCreated - bBefore).toBe(10);
    expect(a.stats().jobsWithMultipleTasks + b.stats().jobsWithMultipleTasks).toBe(0);
    expect(a.stats().peakInFlight).toBeLessThanOrEqual(CAP_A);
    expect(b.stats().peakInFlight).toBeLessThanOrEqual(CAP_B);
    // Both ran at their cap at some point: the caps are per account, not one shared cap.
    expect(a.stats().peakInFlight).toBe(CAP_A);
    expect(b.stats().peakInFlight).toBe(CAP_B);
    a.setOptions(FAST);
    b.setOptions(FAST);
  }, 90_000);

  it("account a paused by 1102 while account b completes its jobs; a resumes once upstream takes it again", async () => {
    const aBefore = a.stats().tasksCreated;
    a.setOptions({ accountError: 1102 });
    try {
      const onA = await post("/v1/batches", { items: Array.from({ length: 4 }, (_, i) => ({ video_id: videoA(200 + i), prompt: `a${i}` })) });
      await waitFor(async () => ((await stack.queueBackend.pauses.current("a")) ? true : undefined), { what: "account a paused" });
      const ready = await get("/readyz");
      expect(ready.status).toBe(200);
      expect(ready.body.checks.accounts.a).toMatchObject({ status: "paused", code: 1102 });
      expect(ready.body.checks.accounts.b).toBe("ok");
      const listed = (await get("/v1/accounts")).body.data;
      expect(listed.find((x: { name: string }) => x.name === "a").paused_reason).toMatch(/^1102: /);
      expect(listed.find((x: { name: string }) => x.name === "b").paused_until).toBeNull();

      const onB = await post("/v1/batches", { account: "b", items: Array.from({ length: 6 }, (_, i) => ({ video_id: videoB(200 + i), prompt: `b${i}` })) });
      const bRows = await Promise.all(onB.body.jobs.map((id: string) => finished(id, 30_000)));
      expect(bRows.every((r) => r.status === "succeeded")).toBe(true);
      expect(await stack.api.db.prisma.job.count({ where: { id: { in: onA.body.jobs }, status: { in: ["succeeded", "failed"] } } })).toBe(0);
      expect(a.stats().tasksCreated).toBe(aBefore);

      a.setOptions({ accountError: null });
      const aRows = await Promise.all(onA.body.jobs.map((id: string) => finished(id, 30_000)));
      expect(aRows.every((r) => r.status === "succeeded")).toBe(true);
      expect(a.stats().tasksCreated - aBefore).toBe(4);
      expect(a.stats().jobsWithMultipleTasks).toBe(0);
    } finally {
      a.setOptions({ accountError: null });
    }
  }, 90_000);
});
