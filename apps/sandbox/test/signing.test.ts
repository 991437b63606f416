import http from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { startSandbox, type RunningSandbox } from "../src/sandbox";
import { FAST, FRESH_VIDEO, SandboxClient, adminPost, waitFor } from "./helpers";

const OLD_SECRET = `whsec_${Buffer.from("the old secret, 32 bytes long...").toString("base64")}`;
const NEW_SECRET = `whsec_${Buffer.from("the new secret, 32 bytes long!!!").toString("base64")}`;

interface Delivery {
  headers: http.IncomingHttpHeaders;
  raw: string;
}

/** Records raw bodies and headers: a signature covers the exact bytes. */
async function startRawReceiver(): Promise<{ url: string; received: Delivery[]; close(): Promise<void> }> {
  const received: Delivery[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      received.push({ headers: req.headers, raw: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

function verify(secret: string, delivery: Delivery): unknown {
  return new Webhook(secret).verify(delivery.raw, delivery.headers as Record<string, string>);
}

describe("sandbox signed callbacks (Standard Webhooks)", () => {
  let sandbox: RunningSandbox;
  let client: SandboxClient;
  let receiver: Awaited<ReturnType<typeof startRawReceiver>>;

  beforeEach(async () => {
    receiver = await startRawReceiver();
    sandbox = await startSandbox({ ...FAST });
    client = new SandboxClient(sandbox);
  });
  afterEach(async () => {
    await sandbox.close();
    await receiver.close();
  });

  async function runTask(): Promise<string> {
    const created = await client.create({ video_id: FRESH_VIDEO, prompt: "p", callback_url: receiver.url });
    const taskId = created.body.data.task_id as string;
    await client.waitFinished(taskId);
    await sandbox.waitForIdle();
    return taskId;
  }

  it("sends no webhook headers without a secret", async () => {
    await runTask();
    expect(receiver.received).toHaveLength(3);
    for (const { headers } of receiver.received) {
      expect(headers["webhook-id"]).toBeUndefined();
      expect(headers["webhook-signature"]).toBeUndefined();
      expect(headers["webhook-timestamp"]).toBeUndefined();
    }
  });

  it("signs id.timestamp.body with the secret: the library verifies it, another secret does not", async () => {
    expect((await adminPost(sandbox, "options", { webhookSecrets: [NEW_SECRET] })).status).toBe(200);
    const taskId = await runTask();
    expect(receiver.received).toHaveLength(3);
    const ids = new Set<string>();
    for (const delivery of receiver.received) {
      const { headers } = delivery;
      expect(headers["webhook-id"]).toMatch(/^msg_[0-9a-f-]{36}$/);
      ids.add(headers["webhook-id"] as string);
      expect(Math.abs(Number(headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(30);
      expect(headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
      expect(verify(NEW_SECRET, delivery)).toMatchObject({ task_id: taskId });
      expect(() => verify(OLD_SECRET, delivery)).toThrow(/No matching signature/);
      // A changed body no longer verifies.
      expect(() => verify(NEW_SECRET, { ...delivery, raw: delivery.raw.replace("task_id", "task_ld") })).toThrow();
    }
    expect(ids.size).toBe(3); // one id per callback
  });

  it("sends two space-separated signatures during a rotation, each verifiable with its own secret", async () => {
    sandbox.setOptions({ webhookSecrets: [OLD_SECRET, NEW_SECRET] });
    await runTask();
    for (const delivery of receiver.received) {
      const signatures = String(delivery.headers["webhook-signature"]).split(" ");
      expect(signatures).toHaveLength(2);
      for (const signature of signatures) expect(signature).toMatch(/^v1,/);
      expect(verify(OLD_SECRET, delivery)).toBeTruthy();
      expect(verify(NEW_SECRET, delivery)).toBeTruthy();
    }
  });

  it("webhookTimestampOffsetMs signs with a skewed timestamp that the ±5 min window refuses", async () => {
    sandbox.setOptions({ webhookSecrets: [NEW_SECRET], webhookTimestampOffsetMs: -6 * 60 * 1000, callbackOnSubmitted: false });
    await runTask();
    const delivery = receiver.received[0]!;
    expect(Date.now() / 1000 - Number(delivery.headers["webhook-timestamp"])).toBeGreaterThan(5 * 60);
    expect(() => verify(NEW_SECRET, delivery)).toThrow(/too old/);
  });

  it("keeps the webhook-id on a duplicate delivery", async () => {
    sandbox.setOptions({ webhookSecrets: [NEW_SECRET], callbackDuplicateRate: 1, callbackOnSubmitted: false });
    await runTask();
    const ids = receiver.received.map((d) => d.headers["webhook-id"]);
    expect(ids).toHaveLength(4);
    expect(ids[0]).toBe(ids[1]);
    expect(ids[2]).toBe(ids[3]);
    expect(ids[0]).not.toBe(ids[2]);
  });

  it("replays a delivered callback with the same webhook-id and body, freshly signed (POST /__sandbox/callbacks/replay)", async () => {
    sandbox.setOptions({ webhookSecrets: [NEW_SECRET] });
    const taskId = await runTask();
    const last = receiver.received.at(-1)!;

    const replay = await adminPost(sandbox, "callbacks/replay", { task_id: taskId });
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual({ task_id: taskId, webhook_id: last.headers["webhook-id"], delivered: true });
    await waitFor(() => receiver.received.length === 4);
    const again = receiver.received[3]!;
    expect(again.headers["webhook-id"]).toBe(last.headers["webhook-id"]);
    expect(again.raw).toBe(last.raw);
    expect(verify(NEW_SECRET, again)).toMatchObject({ task_id: taskId, task_status: "succeed" });
    expect(sandbox.stats()).toMatchObject({ callbacksReplayed: 1, callbacksSent: 4 });

    // Without a task id: the last callback delivered by anyone.
    expect((await adminPost(sandbox, "callbacks/replay", {})).body.webhook_id).toBe(last.headers["webhook-id"]);
    expect((await adminPost(sandbox, "callbacks/replay", { task_id: "999" })).status).toBe(404);
    expect((await adminPost(sandbox, "callbacks/replay", { task: taskId })).status).toBe(400);
  });

  it("refuses secrets that are not whsec_ base64, and never shows them in the options", async () => {
    for (const webhookSecrets of [["plain-text"], ["whsec_"], "whsec_abc"]) {
      expect((await adminPost(sandbox, "options", { webhookSecrets })).status).toBe(400);
    }
    const set = await adminPost(sandbox, "options", { webhookSecrets: [OLD_SECRET, NEW_SECRET] });
    expect(set.body.webhookSecrets).toEqual(["[set]", "[set]"]);
    expect(JSON.stringify(set.body)).not.toContain(OLD_SECRET.slice(6));
    const read = await (await fetch(`${sandbox.url}/__sandbox/options`)).json();
    expect(JSON.stringify(read)).not.toContain(NEW_SECRET.slice(6));
  });
});
