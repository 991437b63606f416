import { KlingCallbackSchema } from "@kex/kling";
import { startSandbox, type RunningSandbox } from "../src/sandbox";
import { FAST, FRESH_VIDEO, SandboxClient, deadPort, startReceiver, waitFor, type Receiver } from "./helpers";

describe("sandbox callbacks", () => {
  let sandbox: RunningSandbox;
  let client: SandboxClient;
  let receiver: Receiver;

  beforeEach(async () => {
    receiver = await startReceiver();
    sandbox = await startSandbox({ ...FAST });
    client = new SandboxClient(sandbox);
  });
  afterEach(async () => {
    await sandbox.close();
    await receiver.close();
  });

  async function runTask(name: string, extra: Record<string, unknown> = {}): Promise<string> {
    const created = await client.create({
      video_id: FRESH_VIDEO,
      prompt: "p",
      callback_url: `${receiver.url}/hook/${name}?token=secret-${name}`,
      external_task_id: `${name}-1`,
      ...extra,
    });
    expect(created.body.code).toBe(0);
    const taskId = created.body.data.task_id as string;
    await client.waitFinished(taskId);
    await sandbox.waitForIdle();
    return taskId;
  }

  const statuses = (name: string) =>
    receiver.received.filter((r) => r.path === `/hook/${name}`).map((r) => r.body.task_status as string);

  it("posts the flat task object on every transition, in order", async () => {
    const taskId = await runTask("plain");
    expect(statuses("plain")).toEqual(["submitted", "processing", "succeed"]);
    for (const { body, contentType } of receiver.received) {
      expect(contentType).toMatch(/^application\/json/);
      expect(KlingCallbackSchema.safeParse(body).success).toBe(true);
      expect(body.code).toBeUndefined(); // no envelope
      expect(body.task_id).toBe(taskId);
      expect(body.task_info.external_task_id).toBe("plain-1");
    }
    const last = receiver.received.at(-1)!.body;
    expect(last.task_result.videos[0].duration).toBe("9.5");
    expect(sandbox.stats()).toMatchObject({ callbacksSent: 3, callbackAttempts: 3, callbacksDropped: 0, callbacksFailed: 0 });
  });

  it("skips the submitted callback when callbackOnSubmitted is false", async () => {
    sandbox.setOptions({ callbackOnSubmitted: false });
    await runTask("nosubmit");
    expect(statuses("nosubmit")).toEqual(["processing", "succeed"]);
  });

  it("sends a failed callback with the reason", async () => {
    sandbox.setOptions({ failureRate: 1 });
    await runTask("fails");
    expect(statuses("fails")).toEqual(["submitted", "processing", "failed"]);
    expect(receiver.received.at(-1)!.body.task_status_msg).toBe("content risk control");
  });

  it("duplicates every callback at callbackDuplicateRate 1", async () => {
    sandbox.setOptions({ callbackDuplicateRate: 1 });
    await runTask("dup");
    expect(statuses("dup")).toEqual(["submitted", "submitted", "processing", "processing", "succeed", "succeed"]);
    expect(sandbox.stats()).toMatchObject({ callbacksSent: 6, callbacksDuplicated: 3 });
  });

  it("drops every callback at callbackDropRate 1", async () => {
    sandbox.setOptions({ callbackDropRate: 1 });
    await runTask("drop");
    expect(receiver.received).toHaveLength(0);
    expect(sandbox.stats()).toMatchObject({ callbacksSent: 0, callbacksDropped: 3, callbackAttempts: 0 });
  });

  it("holds callbacks back behind the next one at callbackReorderRate 1", async () => {
    sandbox.setOptions({ callbackReorderRate: 1 });
    await runTask("reorder");
    // The final callback cannot be held; the held ones follow it, latest first.
    expect(statuses("reorder")).toEqual(["succeed", "processing", "submitted"]);
    expect(sandbox.stats()).toMatchObject({ callbacksSent: 3, callbacksReordered: 2 });
  });

  it("delays each callback by callbackDelayMs", async () => {
    sandbox.setOptions({ callbackDelayMs: 150, callbackOnSubmitted: false, processingDelayMs: 0 });
    // Taken before the create is sent: the sandbox starts the delay when it receives the create, so the
    // callback cannot arrive sooner than this plus the delay, however slow the create's answer is.
    const sentAt = Date.now();
    const created = await client.create({ video_id: FRESH_VIDEO, prompt: "p", callback_url: `${receiver.url}/hook/slow` });
    await waitFor(() => receiver.received.length > 0);
    expect(receiver.received[0]!.at - sentAt).toBeGreaterThanOrEqual(148);
    await client.waitFinished(created.body.data.task_id);
  });

  it("[ours] retries a failed delivery with backoff, then gives up", async () => {
    // First two attempts answer 500, then 200: the submitted callback arrives on the third attempt.
    receiver.respond = (index) => (index < 2 ? 500 : 200);
    sandbox.setOptions({ callbackRetries: 3 });
    await runTask("retry");
    expect(statuses("retry")).toEqual(["submitted", "processing", "succeed"]);
    expect(sandbox.stats()).toMatchObject({ callbacksSent: 3, callbackAttempts: 5, callbacksFailed: 0 });

    receiver.respond = () => 503;
    sandbox.setOptions({ callbackRetries: 1 });
    await runTask("down");
    expect(statuses("down")).toEqual([]);
    expect(sandbox.stats()).toMatchObject({ callbacksSent: 3, callbackAttempts: 5 + 3 * 2, callbacksFailed: 3 });
  });

  it("[ours] counts a refused connection as a failed delivery", async () => {
    sandbox.setOptions({ callbackRetries: 2, callbackOnSubmitted: false });
    const port = await deadPort();
    const created = await client.create({ video_id: FRESH_VIDEO, prompt: "p", callback_url: `http://127.0.0.1:${port}/hook` });
    await client.waitFinished(created.body.data.task_id);
    await sandbox.waitForIdle();
    expect(sandbox.stats()).toMatchObject({ callbacksSent: 0, callbacksFailed: 2, callbackAttempts: 6 });
  });

  it("close() aborts pending callbacks without waiting for their delays", async () => {
    sandbox.setOptions({ callbackDelayMs: 30_000 });
    await client.create({ video_id: FRESH_VIDEO, prompt: "p", callback_url: `${receiver.url}/hook/late` });
    const started = Date.now();
    await sandbox.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(receiver.received).toHaveLength(0);
  });
});
