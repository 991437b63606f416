// The kling client against the sandbox, the one fake upstream: both auth modes, errors and timeouts as a real
// HTTP exchange.
import { classifyUpstreamError, createKlingClient, type KlingAuth, type KlingClient, type KlingResult, type KlingTask } from "@kex/kling";
import { startSandbox, type RunningSandbox } from "@kex/sandbox";

const FRESH_VIDEO = "123456789012345678";
const ACCESS_KEY = "ak-test";
const SECRET_KEY = "sk-test-secret";
const STATIC_KEY = "static-test-key";

function unwrap<T>(result: KlingResult<T>): T {
  if (!result.ok) throw new Error(`expected success, got ${JSON.stringify(result)}`);
  return result.data;
}

const modes: Array<{ name: string; pathPrefix: string; auth: KlingAuth }> = [
  { name: "proxy mode, static key", pathPrefix: "/kling", auth: { mode: "static", apiKey: STATIC_KEY } },
  { name: "official mode, JWT", pathPrefix: "", auth: { mode: "jwt", accessKey: ACCESS_KEY, secretKey: SECRET_KEY } },
];

describe.each(modes)("kling client against the sandbox: $name", ({ pathPrefix, auth }) => {
  let sandbox: RunningSandbox;
  let client: KlingClient;

  beforeEach(async () => {
    sandbox = await startSandbox({
      pathPrefix,
      apiKey: auth.mode === "static" ? STATIC_KEY : null,
      accessKey: auth.mode === "jwt" ? ACCESS_KEY : null,
      secretKey: auth.mode === "jwt" ? SECRET_KEY : null,
      processingDelayMs: 5,
      completeDelayMinMs: 5,
      completeDelayMaxMs: 10,
      seed: 3,
    });
    client = createKlingClient({ baseUrl: `${sandbox.url}/`, pathPrefix, auth, timeoutMs: 2000 });
  });
  afterEach(() => sandbox.close());

  it("creates, gets by task id and by external id, and lists", async () => {
    const created = await client.createTask({ video_id: FRESH_VIDEO, prompt: "the cat keeps walking", external_task_id: "job-9-1" });
    expect(created.ok).toBe(true);
    if (!created.ok) return;
    expect(created.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.data.task_status).toBe("submitted");
    expect(created.data.task_info?.external_task_id).toBe("job-9-1");
    const taskId = created.data.task_id;

    const byId = unwrap(await client.getTask(taskId));
    expect(byId.task_id).toBe(taskId);
    expect(byId.task_info?.parent_video?.duration).toBe("5.0");

    await sandbox.waitForIdle();
    const byExternal = unwrap(await client.getTask("job-9-1"));
    expect(byExternal.task_id).toBe(taskId);
    expect(byExternal.task_status).toBe("succeed");
    expect(byExternal.task_result?.videos[0]?.duration).toBe("9.5");

    unwrap(await client.createTask({ video_id: FRESH_VIDEO, prompt: "second" }));
    const listed = unwrap(await client.listTasks({ pageNum: 1, pageSize: 10 }));
    expect(listed).toHaveLength(2);
    expect(listed[1]?.task_id).toBe(taskId); // newest first
    expect(unwrap(await client.listTasks({ pageNum: 2, pageSize: 1 })).map((t: KlingTask) => t.task_id)).toEqual([taskId]);
  });

  it("returns upstream errors as results with status, code and message", async () => {
    const missing = await client.getTask("no such/task");
    expect(missing).toMatchObject({ ok: false, httpStatus: 404, code: 1203 });
    const invalid = await client.createTask({ video_id: FRESH_VIDEO, prompt: "x".repeat(2501) });
    expect(invalid).toMatchObject({ ok: false, httpStatus: 400, code: 1201, message: expect.stringMatching(/prompt/) });
    if (!invalid.ok) expect(classifyUpstreamError(invalid)).toMatchObject({ kind: "permanent", code: "1201" });
    const badPage = await client.listTasks({ pageNum: 0, pageSize: 10 });
    expect(badPage).toMatchObject({ ok: false, httpStatus: 400, code: 1201 });
  });

  it("reads 429/1303 as at_capacity", async () => {
    sandbox.setOptions({ maxConcurrency: 1, processingDelayMs: 60_000 });
    unwrap(await client.createTask({ video_id: FRESH_VIDEO, prompt: "a" }));
    const full = await client.createTask({ video_id: FRESH_VIDEO, prompt: "b" });
    expect(full).toMatchObject({ ok: false, httpStatus: 429, code: 1303 });
    if (!full.ok) expect(classifyUpstreamError(full).kind).toBe("at_capacity");
  });

  it("times out to httpStatus 0 when the sandbox answers too slowly", async () => {
    sandbox.setOptions({ responseDelayMs: 3000 });
    const slow = createKlingClient({ baseUrl: sandbox.url, pathPrefix, auth, timeoutMs: 100 });
    const started = Date.now();
    const result = await slow.getTask("whatever");
    expect(Date.now() - started).toBeLessThan(2500);
    expect(result).toMatchObject({ ok: false, httpStatus: 0, code: null, message: expect.stringMatching(/timeout/) });
    if (!result.ok) expect(classifyUpstreamError(result).kind).toBe("retry");
  });
});

describe("kling client authentication failures", () => {
  let sandbox: RunningSandbox;
  beforeEach(async () => {
    sandbox = await startSandbox({ apiKey: STATIC_KEY, accessKey: ACCESS_KEY, secretKey: SECRET_KEY, processingDelayMs: 60_000 });
  });
  afterEach(() => sandbox.close());

  const body = { video_id: FRESH_VIDEO, prompt: "p" };

  it("a wrong static key gives 401 with a 100x code, and the key is not in the message", async () => {
    const client = createKlingClient({
      baseUrl: sandbox.url,
      pathPrefix: "/kling",
      auth: { mode: "static", apiKey: "wrong-key-123" },
      timeoutMs: 2000,
    });
    const result = await client.createTask(body);
    expect(result).toMatchObject({ ok: false, httpStatus: 401 });
    if (result.ok) return;
    expect(result.code).toBeGreaterThanOrEqual(1000);
    expect(result.code).toBeLessThanOrEqual(1004);
    expect(result.message).not.toContain("wrong-key-123");
    expect(classifyUpstreamError(result)).toMatchObject({ kind: "permanent", alert: true });
  });

  it("JWT signed with the wrong secret gives 401/1002", async () => {
    const client = createKlingClient({
      baseUrl: sandbox.url,
      pathPrefix: "/kling",
      auth: { mode: "jwt", accessKey: ACCESS_KEY, secretKey: "not-the-secret" },
      timeoutMs: 2000,
    });
    expect(await client.createTask(body)).toMatchObject({ ok: false, httpStatus: 401, code: 1002 });
  });

  it("a JWT from a clock 31 minutes behind is expired: 401/1004", async () => {
    const client = createKlingClient({
      baseUrl: sandbox.url,
      pathPrefix: "/kling",
      auth: { mode: "jwt", accessKey: ACCESS_KEY, secretKey: SECRET_KEY },
      timeoutMs: 2000,
      now: () => Date.now() - 31 * 60 * 1000,
    });
    expect(await client.createTask(body)).toMatchObject({ ok: false, httpStatus: 401, code: 1004 });
  });

  it("a JWT from a clock ahead is not yet valid: 401/1003", async () => {
    const client = createKlingClient({
      baseUrl: sandbox.url,
      pathPrefix: "/kling",
      auth: { mode: "jwt", accessKey: ACCESS_KEY, secretKey: SECRET_KEY },
      timeoutMs: 2000,
      now: () => Date.now() + 60 * 1000,
    });
    expect(await client.getTask("1")).toMatchObject({ ok: false, httpStatus: 401, code: 1003 });
  });

  it("both auth modes work against one sandbox configured for both", async () => {
    for (const auth of [
      { mode: "static", apiKey: STATIC_KEY } as const,
      { mode: "jwt", accessKey: ACCESS_KEY, secretKey: SECRET_KEY } as const,
    ]) {
      const client = createKlingClient({ baseUrl: sandbox.url, pathPrefix: "/kling", auth, timeoutMs: 2000 });
      expect((await client.createTask(body)).ok).toBe(true);
    }
  });
});
