import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import { startSandbox, type RunningSandbox } from "../src/sandbox";
import { FAST, SandboxClient, adminPost, waitFor } from "./helpers";

/** Two sandboxes stand for two Kling accounts: each has its own key, tasks, videos and cap. */
describe("sandbox as separate accounts", () => {
  let a: RunningSandbox;
  let b: RunningSandbox;
  let clientA: SandboxClient;
  let clientB: SandboxClient;
  const SOURCE_A = "710000000000000001";
  const SOURCE_B = "720000000000000001";

  beforeEach(async () => {
    a = await startSandbox({ ...FAST, apiKey: "key-a", idPrefix: "71", maxConcurrency: 1 });
    b = await startSandbox({ ...FAST, seed: 2, apiKey: "key-b", idPrefix: "72", maxConcurrency: 2 });
    clientA = new SandboxClient(a, "key-a");
    clientB = new SandboxClient(b, "key-b");
  });
  afterEach(async () => {
    await a.close();
    await b.close();
  });

  it("keeps keys, tasks and caps apart between two instances in one process", async () => {
    a.setOptions({ processingDelayMs: 60_000 });
    b.setOptions({ processingDelayMs: 60_000 });
    // Each account's key works only on its own instance.
    expect((await new SandboxClient(b, "key-a").create({ video_id: SOURCE_B, prompt: "p" })).body.code).toBe(1000);
    expect((await new SandboxClient(a, "key-b").create({ video_id: SOURCE_A, prompt: "p" })).body.code).toBe(1000);

    const onA = await clientA.create({ video_id: SOURCE_A, prompt: "p", external_task_id: "job-1-1" });
    expect(onA.body.code).toBe(0);
    expect(onA.body.data.task_id).toMatch(/^71\d{16}$/);
    // A's task and its external_task_id are unknown to B; the same external_task_id is free there.
    expect((await clientB.get(onA.body.data.task_id)).body.code).toBe(1203);
    expect((await clientB.get("job-1-1")).body.code).toBe(1203);
    expect((await clientB.create({ video_id: SOURCE_B, prompt: "p", external_task_id: "job-1-1" })).body.code).toBe(0);

    // A's cap (1) is full; B (cap 2) still has a slot.
    expect((await clientA.create({ video_id: SOURCE_A, prompt: "p" })).body.code).toBe(1303);
    expect((await clientB.create({ video_id: SOURCE_B, prompt: "p" })).body.code).toBe(0);
    expect((await clientB.create({ video_id: SOURCE_B, prompt: "p" })).body.code).toBe(1303);

    expect(a.stats()).toMatchObject({ tasksCreated: 1, inFlight: 1, rejectedByCode: { "1000": 1, "1303": 1 } });
    expect(b.stats()).toMatchObject({ tasksCreated: 2, inFlight: 2, rejectedByCode: { "1000": 1, "1303": 1 } });
    expect((await clientA.list("")).body.data).toHaveLength(1);
    expect((await clientB.list("")).body.data).toHaveLength(2);
  });

  it("lets only the owner extend a video: another account answers 404/1203", async () => {
    const created = await clientA.create({ video_id: SOURCE_A, prompt: "p" });
    const done = await clientA.waitFinished(created.body.data.task_id);
    const resultId = done.task_result.videos[0].id as string;
    expect(resultId).toMatch(/^71\d{16}$/);

    const foreign = await clientB.create({ video_id: resultId, prompt: "p" });
    expect(foreign.status).toBe(404);
    expect(foreign.body.code).toBe(1203);
    expect(foreign.body.message).toMatch(/does not exist in this account/);
    // A fresh source of A's is foreign to B as well, and the owner can go on extending.
    expect((await clientB.create({ video_id: SOURCE_A, prompt: "p" })).body.code).toBe(1203);
    const again = await clientA.create({ video_id: resultId, prompt: "p" });
    expect(again.body.code).toBe(0);
    expect(b.stats()).toMatchObject({ tasksCreated: 0, rejectedByCode: { "1203": 2 } });
  });

  it("refuses a prefix starting with 404 or not made of 1-6 digits", async () => {
    for (const idPrefix of ["404", "7a", "1234567", ""]) {
      expect((await adminPost(a, "options", { idPrefix })).status).toBe(400);
    }
    expect((await adminPost(a, "options", { idPrefix: null })).status).toBe(200);
  });

  it("keeps two sandbox processes apart (configured through the environment)", async () => {
    const children: ChildProcess[] = [];
    try {
      const urls: string[] = [];
      for (const [key, prefix] of [
        ["proc-a", "81"],
        ["proc-b", "82"],
      ] as const) {
        const { child, url } = await spawnSandbox({
          SANDBOX_PORT: "0",
          SANDBOX_API_KEY: key,
          SANDBOX_ID_PREFIX: prefix,
          SANDBOX_MAX_CONCURRENCY: "1",
          SANDBOX_PROCESSING_DELAY_MS: "0",
          SANDBOX_COMPLETE_DELAY_MIN_MS: "0",
          SANDBOX_COMPLETE_DELAY_MAX_MS: "0",
        });
        children.push(child);
        urls.push(url);
      }
      const call = async (url: string, key: string, body: unknown) => {
        const response = await fetch(`${url}/kling/v1/videos/video-extend`, {
          method: "POST",
          headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
          body: JSON.stringify(body),
        });
        return (await response.json()) as { code: number; data?: { task_id: string } };
      };
      const first = await call(urls[0]!, "proc-a", { video_id: "810000000000000001", prompt: "p" });
      expect(first.code).toBe(0);
      expect(first.data!.task_id).toMatch(/^81/);
      // Wrong key, foreign video.
      expect((await call(urls[1]!, "proc-a", { video_id: "820000000000000001", prompt: "p" })).code).toBe(1000);
      expect((await call(urls[1]!, "proc-b", { video_id: "810000000000000001", prompt: "p" })).code).toBe(1203);
      const statsB = (await (await fetch(`${urls[1]}/__sandbox/stats`)).json()) as { tasksCreated: number };
      expect(statsB.tasksCreated).toBe(0);
      const statsA = await waitFor(async () => {
        const stats = (await (await fetch(`${urls[0]}/__sandbox/stats`)).json()) as { tasksCreated: number; inFlight: number };
        return stats.inFlight === 0 ? stats : undefined;
      });
      expect(statsA.tasksCreated).toBe(1);
    } finally {
      for (const child of children) child.kill("SIGTERM");
      await Promise.all(children.map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once("exit", resolve)))));
    }
  });
});

/** Starts `src/main.ts` in its own process and waits for its "sandbox listening" line. */
async function spawnSandbox(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const root = path.resolve(__dirname, "..");
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: root,
    env: { PATH: process.env.PATH, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = readline.createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sandbox process did not start: ${stderr}`)), 30_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`sandbox process exited with ${code}: ${stderr}`));
    });
    lines.on("line", (line) => {
      try {
        const message = JSON.parse(line) as { msg?: string; url?: string };
        if (message.msg === "sandbox listening" && message.url) {
          clearTimeout(timer);
          resolve(message.url);
        }
      } catch {
        // not a JSON line
      }
    });
  });
  return { child, url };
}
