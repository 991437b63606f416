import { createSandbox, startSandbox, type RunningSandbox } from "../src/sandbox";
import { FAST, FRESH_VIDEO, SandboxClient, adminPost, adminStats, startReceiver } from "./helpers";

describe("sandbox fault knobs (set over POST /__sandbox/options)", () => {
  let sandbox: RunningSandbox;
  let client: SandboxClient;

  beforeEach(async () => {
    sandbox = await startSandbox({ ...FAST, processingDelayMs: 60_000 });
    client = new SandboxClient(sandbox);
  });
  afterEach(() => sandbox.close());

  const body = (extra: Record<string, unknown> = {}) => ({ video_id: FRESH_VIDEO, prompt: "p", ...extra });

  it("error5xxRate 1: 500/5000, 503/5001 or 504/5002, and no task is created", async () => {
    expect((await adminPost(sandbox, "options", { error5xxRate: 1 })).status).toBe(200);
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const answer = await client.create(body({ external_task_id: `five-${i}` }));
      seen.add(`${answer.status}/${answer.body.code}`);
      expect(answer.body.data).toBeUndefined();
    }
    expect([...seen].sort()).toEqual(["500/5000", "503/5001", "504/5002"]);
    const stats = await adminStats(sandbox);
    expect(stats.tasksCreated).toBe(0);
    expect(stats.createRequests).toBe(30);
    expect(stats.rejectedByCode["5000"] + stats.rejectedByCode["5001"] + stats.rejectedByCode["5002"]).toBe(30);
    expect((await client.get("five-0")).body.code).toBe(1203);
  });

  it("error5xxRate 0.5 lets some through (seeded)", async () => {
    await adminPost(sandbox, "options", { error5xxRate: 0.5, seed: 7 });
    const codes: number[] = [];
    for (let i = 0; i < 40; i++) codes.push((await client.create(body())).body.code);
    const ok = codes.filter((c) => c === 0).length;
    expect(ok).toBeGreaterThan(5);
    expect(ok).toBeLessThan(35);
    expect(sandbox.stats().tasksCreated).toBe(ok);
  });

  it("rateLimitRate 1: 429/1302", async () => {
    await adminPost(sandbox, "options", { rateLimitRate: 1 });
    const answer = await client.create(body());
    expect(answer.status).toBe(429);
    expect(answer.body.code).toBe(1302);
    expect(sandbox.stats()).toMatchObject({ tasksCreated: 0, rejectedByCode: { "1302": 1 } });
  });

  it.each([1100, 1101, 1102])("accountError %d: every create answers 429 with it until cleared", async (code) => {
    await adminPost(sandbox, "options", { accountError: code });
    for (let i = 0; i < 3; i++) {
      const answer = await client.create(body());
      expect([answer.status, answer.body.code]).toEqual([429, code]);
    }
    // Queries still work.
    expect((await client.list("")).status).toBe(200);
    await adminPost(sandbox, "options", { accountError: null });
    expect((await client.create(body())).status).toBe(200);
  });

  it("acceptThenFailRate 1: answers 500/5000 but the task exists and is found by external_task_id", async () => {
    await adminPost(sandbox, "options", { acceptThenFailRate: 1 });
    const answer = await client.create(body({ external_task_id: "lost-1" }));
    expect([answer.status, answer.body.code]).toEqual([500, 5000]);
    const found = await client.get("lost-1");
    expect(found.status).toBe(200);
    expect(found.body.data.task_info.external_task_id).toBe("lost-1");
    expect(sandbox.stats()).toMatchObject({ tasksCreated: 1, inFlight: 1, rejectedByCode: { "5000": 1 } });
    // Retrying with the same external id is refused: the client must look the task up instead.
    await adminPost(sandbox, "options", { acceptThenFailRate: 0 });
    expect((await client.create(body({ external_task_id: "lost-1" }))).body.code).toBe(1201);
  });

  it("responseDelayMs delays every API answer", async () => {
    // Long enough that the undelayed control plane stays well under it even on a busy machine.
    await adminPost(sandbox, "options", { responseDelayMs: 800 });
    let started = Date.now();
    await client.list("");
    expect(Date.now() - started).toBeGreaterThanOrEqual(790);
    started = Date.now();
    await client.create(body());
    expect(Date.now() - started).toBeGreaterThanOrEqual(790);
    // The control plane is not delayed.
    started = Date.now();
    await adminStats(sandbox);
    expect(Date.now() - started).toBeLessThan(790);
  });

  it("refuses invalid option patches with 400 and changes nothing", async () => {
    for (const patch of [{ error5xxRate: 2 }, { accountError: 1200 }, { maxConcurrency: -1 }, { nope: 1 }, { completeDelayMinMs: 5000 }]) {
      const answer = await adminPost(sandbox, "options", patch);
      expect({ patch, status: answer.status }).toEqual({ patch, status: 400 });
      expect(answer.body.error).toMatch(/invalid sandbox options/);
    }
    expect(sandbox.options()).toMatchObject({ error5xxRate: 0, accountError: null, maxConcurrency: 10, completeDelayMinMs: 10 });
    const current = await (await fetch(`${sandbox.url}/__sandbox/options`)).json();
    expect(current).toMatchObject({ error5xxRate: 0, pathPrefix: "/kling", apiKey: "sandbox-key" });
  });

  it("can move the API to another prefix at run time", async () => {
    await adminPost(sandbox, "options", { pathPrefix: "" });
    expect((await new SandboxClient(sandbox, undefined, "").create(body())).status).toBe(200);
    expect((await client.create(body())).status).toBe(404);
  });

  it("POST /__sandbox/reset forgets tasks and counters and restores the start options", async () => {
    await adminPost(sandbox, "options", { rateLimitRate: 1 });
    await client.create(body());
    await adminPost(sandbox, "options", { rateLimitRate: 0 });
    await client.create(body({ external_task_id: "r-1" }));
    expect(sandbox.stats().tasksCreated).toBe(1);
    await adminPost(sandbox, "options", { error5xxRate: 1 });

    const answer = await adminPost(sandbox, "reset");
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ tasksCreated: 0, createRequests: 0, rejectedByCode: {}, inFlight: 0, peakInFlight: 0 });
    expect(sandbox.options().error5xxRate).toBe(0);
    expect((await client.get("r-1")).body.code).toBe(1203);
    expect((await client.create(body({ external_task_id: "r-1" }))).status).toBe(200);
  });

  it("reset cancels pending callbacks of the old tasks", async () => {
    const receiver = await startReceiver();
    try {
      sandbox.setOptions({ callbackDelayMs: 200, processingDelayMs: 0 });
      await client.create(body({ callback_url: `${receiver.url}/hook/x` }));
      sandbox.reset();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(receiver.received).toHaveLength(0);
      expect(sandbox.stats().callbacksSent).toBe(0);
    } finally {
      await receiver.close();
    }
  });

  it("replays the same ids and fault decisions from the same seed", async () => {
    async function run(): Promise<string[]> {
      const s = createSandbox({ ...FAST, seed: 99, error5xxRate: 0.3, processingDelayMs: 60_000 });
      const running = await startSandboxFrom(s);
      try {
        const c = new SandboxClient(running);
        const out: string[] = [];
        for (let i = 0; i < 10; i++) {
          const answer = await c.create(body());
          out.push(answer.body.code === 0 ? answer.body.data.task_id : String(answer.body.code));
        }
        return out;
      } finally {
        await running.close();
      }
    }
    const first = await run();
    const second = await run();
    expect(first).toEqual(second);
    expect(first.some((x) => x.length === 18)).toBe(true);
    expect(first.some((x) => x.length === 4)).toBe(true);
  });
});

/** createSandbox gives an app; serve it the way a host application would. */
async function startSandboxFrom(sandbox: ReturnType<typeof createSandbox>): Promise<RunningSandbox> {
  const http = await import("node:http");
  const server = http.createServer(sandbox.app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as import("node:net").AddressInfo;
  return {
    ...sandbox,
    url: `http://127.0.0.1:${address.port}`,
    server,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await sandbox.close();
      await closed;
    },
  };
}
