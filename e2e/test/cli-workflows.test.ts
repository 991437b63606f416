import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import { allOutput, createdBatches, exportCommandIds, kex, sourceVideo } from "../src/kex-cli";
import { STACK_API_TOKEN, startStack, type Stack } from "../src/stack";

/**
 * The CLI's everyday workflows against a running stack: an export that joins back to the input row for
 * row, a rerun that creates nothing, the commands around batches, chains, cancel and keys, what it says
 * when the API goes away, and its error messages. The stack starts without a worker (jobs stay queued
 * for the cancel and chain checks); a worker is added for the runs that must finish.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- API answers of every shape
async function api<T = any>(stack: Stack, method: string, route: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(stack.api.url + route, {
    method,
    headers: { Authorization: `Bearer ${STACK_API_TOKEN}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Every batch of the tenant, through GET /v1/batches. */
async function allBatches(stack: Stack): Promise<Array<{ id: string; name: string | null; total: number }>> {
  const out = [];
  let cursor: string | null = null;
  do {
    const page: { body: { data: Array<{ id: string; name: string | null; total: number }>; next_cursor: string | null } } = await api(
      stack,
      "GET",
      `/v1/batches?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
    );
    out.push(...page.body.data);
    cursor = page.body.next_cursor;
  } while (cursor);
  return out;
}

/** A TCP proxy in front of the api that the test can take away, as an outage would. */
async function startProxy(target: string): Promise<{ url: string; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

describe("kex workflows against a running stack", () => {
  let stack: Stack;
  let dir: string;
  let env: Record<string, string>;
  const file = (name: string) => path.join(dir, name);

  beforeAll(async () => {
    stack = await startStack({
      sandbox: { maxConcurrency: 10, processingDelayMs: 20, completeDelayMinMs: 20, completeDelayMaxMs: 100 },
      worker: { KLING_MAX_IN_FLIGHT: "10", WORKER_CONCURRENCY: "16" },
      workers: 0,
    });
    dir = await mkdtemp(path.join(tmpdir(), "kex-workflows-"));
    env = { KEX_URL: stack.api.url, KEX_TOKEN: STACK_API_TOKEN };
  });
  afterAll(async () => {
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe("with no worker running (jobs stay queued)", () => {
    it("cancels a job, then the rest of its batch; says so when there is nothing left to cancel", async () => {
      await writeFile(
        file("cancel.jsonl"),
        [0, 1, 2].map((i) => JSON.stringify({ video_id: sourceVideo(900 + i), prompt: `c${i}` })).join("\n"),
      );
      const submitted = await kex(["submit", file("cancel.jsonl")], env);
      expect(submitted.code).toBe(0);
      const [batch] = createdBatches(submitted.stdout);
      const created = await api(stack, "GET", `/v1/extensions?batch_id=${batch!.id}`);
      const jobId = created.body.data[0].id as string;

      const one = await kex(["cancel", jobId], env);
      expect(one.code).toBe(0);
      expect(one.stdout).toContain(`canceled job ${jobId}`);
      expect((await api(stack, "GET", `/v1/extensions/${jobId}`)).body.status).toBe("canceled");

      const rest = await kex(["cancel", batch!.id], env);
      expect(rest.code).toBe(0);
      expect(rest.stdout).toContain(`canceled 2 unfinished jobs of batch ${batch!.id}`);
      expect((await api(stack, "GET", `/v1/batches/${batch!.id}`)).body).toMatchObject({ done: true, counts: { canceled: 3 } });

      const again = await kex(["cancel", batch!.id], env);
      expect(again.code).toBe(3);
      expect(again.stderr).toContain("already finished");
      const unknown = await kex(["cancel", "00000000-0000-4000-8000-00000000cafe"], env);
      expect(unknown.code).toBe(3);
      expect(unknown.stderr).toContain("no job or batch with id 00000000-0000-4000-8000-00000000cafe");
    });

    it("creates a chain, and `kex status <chain id>` shows it", async () => {
      const created = await kex(["chains", "create", sourceVideo(950), "--step", "walks in", "--step", "turns around", "--json"], env);
      expect(created.code).toBe(0);
      const chain = JSON.parse(created.stdout) as { id: string; steps: unknown[] };
      expect(chain.steps).toHaveLength(2);

      const status = await kex(["status", chain.id], env);
      expect(status.code).toBe(0);
      expect(status.stdout).toMatch(new RegExp(`^chain\\s+${chain.id}$`, "m"));
      expect(status.stdout).toMatch(/^status\s+running$/m);
      expect(status.stdout).toMatch(/^step\s+1 of 2$/m);
      expect(status.stdout).toMatch(/^1\s+queued\s+[0-9a-f-]{36}\s+1\s+walks in$/m);
      expect(status.stdout).toMatch(/^2\s+-\s+-\s+0\s+turns around$/m);
      const shown = await kex(["chains", "show", chain.id, "--json"], env);
      expect(JSON.parse(shown.stdout)).toMatchObject({ id: chain.id, status: "running" });

      const tooLong = await kex(
        ["chains", "create", sourceVideo(951), ...Array.from({ length: 41 }, () => ["--step", "more"]).flat()],
        env,
      );
      expect(tooLong.code).toBe(2);
      expect(tooLong.stderr).toContain("steps: at most 40 steps");
      const missing = await kex(["status", "00000000-0000-4000-8000-00000000f00d"], env);
      expect(missing.stderr).toContain("no job, batch or chain with id 00000000-0000-4000-8000-00000000f00d");
    });

    it("lists another tenant's keys with the admin token and --tenant-id", async () => {
      const tenant = await api(stack, "POST", "/v1/tenants", { name: "other" });
      const listed = await kex(["keys", "list", "--tenant-id", tenant.body.id, "--json"], env);
      expect(listed.code).toBe(0);
      const keys = JSON.parse(listed.stdout) as Array<{ id: string; tenant_id: string; name: string }>;
      expect(keys).toEqual([expect.objectContaining({ id: tenant.body.api_key.id, tenant_id: tenant.body.id, name: "initial" })]);
      const own = JSON.parse((await kex(["keys", "list", "--json"], env)).stdout) as Array<{ tenant_id: string }>;
      expect(own.every((k) => k.tenant_id !== tenant.body.id)).toBe(true);
    });

    it("says 'API unreachable, retrying…' as soon as the API goes away, and how to resume when it gives up", async () => {
      await writeFile(file("outage.jsonl"), JSON.stringify({ video_id: sourceVideo(960), prompt: "waits" }));
      const [batch] = createdBatches((await kex(["submit", file("outage.jsonl")], env)).stdout);
      const proxy = await startProxy(stack.api.url);
      let warnedAt: number | undefined;
      let firstPoll: () => void = () => undefined;
      const polled = new Promise<void>((resolve) => (firstPoll = resolve));
      const run = kex(
        ["watch", batch!.id, "--interval", "200", "--give-up-after", "3"],
        { ...env, KEX_URL: proxy.url },
        {
          timeoutMs: 30_000,
          onStderr: (text) => {
            if (text.includes("succeeded 0")) firstPoll();
            if (text.includes("API unreachable, retrying…")) warnedAt ??= Date.now();
          },
        },
      );
      let closedAt: number;
      try {
        // The first progress line: the API answered through the proxy.
        await Promise.race([polled, run.then(() => Promise.reject(new Error("kex ended before its first progress line")))]);
      } finally {
        closedAt = Date.now();
        await proxy.close();
      }
      const result = await run;
      expect(result.code).toBe(3);
      expect(warnedAt).toBeDefined();
      expect(warnedAt! - closedAt).toBeLessThan(2000); // at once: the next poll, not after the retries
      expect(result.stderr).toContain(`the jobs go on without kex; resume with: kex watch ${batch!.id}`.replace("the jobs", "The jobs"));
    });
  });

  describe("with a worker", () => {
    beforeAll(async () => {
      await stack.addWorker();
    });

    const inputCsv = [
      "video_id,prompt,negative_prompt,cfg_scale,callback_url,metadata.shot,metadata.scene",
      `${sourceVideo(1)},"the camera drifts, slowly",blur,0.25,,A1,harbour`,
      `${sourceVideo(2)},"she says ""hello""\nand turns",,0.5,,A2,`,
      "",
      `404000000000000009,missing source,,,,A3,dock`,
      `${sourceVideo(3)},plain,,,,,`,
      `${sourceVideo(4)},  spaces around  ,,1,,A5,night`,
    ].join("\n");

    it("exports every batch of a file in input order, joining back to the input row for row", async () => {
      await writeFile(file("shots.csv"), `${inputCsv}\n`);
      const run = await kex(["submit", file("shots.csv"), "--batch-size", "2", "--wait", "--interval", "200"], env);
      expect(run.code).toBe(1); // one job failed
      const batches = createdBatches(run.stdout);
      expect(batches.map((b) => b.total)).toEqual([2, 2, 1]);
      expect(run.stdout).toContain("succeeded 4, failed 1, canceled 0 of 5");
      // The failed job is named by its input line (6: after a record on lines 3-4 and the blank line 5).
      expect(run.stdout).toMatch(/^ {2}line 6: failed: [0-9a-f-]{36} \(video 404000000000000009\): 1203: /m);
      // The summary names the real batches, not a placeholder.
      expect(exportCommandIds(run.stdout)).toEqual(batches.map((b) => b.id));

      const csvRun = await kex(["export", ...batches.map((b) => b.id), "--out", file("shots.out.csv")], env);
      expect(csvRun.code).toBe(0);
      const input = parseCsv(inputCsv, { columns: true, info: true, skip_empty_lines: true }) as Array<{ record: Record<string, string> }>;
      const inputLines = [2, 3, 6, 7, 8]; // where each record starts (a quoted line break, a blank line)
      const output = parseCsv(await readFile(file("shots.out.csv")), { columns: true }) as Array<Record<string, string>>;
      expect(Object.keys(output[0]!)).toEqual([
        "line",
        "video_id",
        "prompt",
        "negative_prompt",
        "cfg_scale",
        "callback_url",
        "metadata.shot",
        "metadata.scene",
        "batch_id",
        "id",
        "status",
        "result_video_id",
        "result_url",
        "result_duration",
        "error_code",
        "error_message",
        "created_at",
        "finished_at",
      ]);
      expect(output).toHaveLength(input.length);
      output.forEach((row, i) => {
        // Row for row: the input's own columns come back as they were read, with the line they came from.
        expect(row.line).toBe(String(inputLines[i]));
        for (const [column, value] of Object.entries(input[i]!.record)) expect([column, row[column]]).toEqual([column, value]);
      });
      expect(output.map((r) => r.status)).toEqual(["succeeded", "succeeded", "failed", "succeeded", "succeeded"]);
      expect(output[2]).toMatchObject({ error_code: "1203", result_url: "" });
      expect(output[0]!.result_url).toMatch(/^https?:\/\//);

      // Without --format and --out: JSONL on stdout, metadata as an object.
      const jsonlRun = await kex(["export", batches[0]!.id, batches[1]!.id], env);
      expect(jsonlRun.code).toBe(0);
      const lines = jsonlRun.stdout
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(lines.map((l) => l.line)).toEqual([2, 3, 6, 7]);
      expect(lines[1]).toMatchObject({
        video_id: sourceVideo(2),
        prompt: 'she says "hello"\nand turns',
        cfg_scale: 0.5,
        metadata: { shot: "A2" },
      });
      expect(lines[0]).toMatchObject({
        negative_prompt: "blur",
        cfg_scale: 0.25,
        metadata: { shot: "A1", scene: "harbour" },
        status: "succeeded",
      });
      expect(jsonlRun.stderr).toContain(`exported 2 jobs of batch ${batches[0]!.id}, 2 jobs of batch ${batches[1]!.id}`);
    });

    it("a rerun of the same file creates no batch and says its batches already exist", async () => {
      const rows = Array.from({ length: 7 }, (_, i) => JSON.stringify({ video_id: sourceVideo(500 + i), prompt: `again ${i}` }));
      await writeFile(file("again.jsonl"), rows.join("\n") + "\n");
      const first = await kex(["submit", file("again.jsonl"), "--batch-size", "5"], env);
      expect(first.code).toBe(0);
      const firstBatches = createdBatches(first.stdout);
      expect(firstBatches.map((b) => b.total)).toEqual([5, 2]);
      expect(first.stderr).toContain("submitted 7 jobs in 2 new batches");
      expect(first.stderr).toContain(`kex export ${firstBatches.map((b) => b.id).join(" ")}`);

      const second = await kex(["submit", file("again.jsonl"), "--batch-size", "5"], env);
      expect(second.code).toBe(0);
      expect(createdBatches(second.stdout)).toEqual(firstBatches);
      expect(second.stdout).toContain("already created by an earlier run: not created again");
      expect(second.stderr).toContain(
        "this file was already submitted: its 2 batches (7 jobs) exist from an earlier run and none was created again",
      );
      const named = (await allBatches(stack)).filter((b) => b.name === "again.jsonl");
      expect(named).toHaveLength(2);
      expect((await api(stack, "GET", `/v1/extensions?batch_id=${firstBatches[0]!.id}&limit=200`)).body.data).toHaveLength(5);

      // Options that change the batches' requests: refused for those rows, nothing created.
      const renamed = await kex(["submit", file("again.jsonl"), "--batch-size", "5", "--name", "other"], env);
      expect(renamed.code).toBe(3);
      expect(renamed.stderr).toContain("idempotency_conflict");
      expect(renamed.stderr).toContain("--resubmit");
      expect((await allBatches(stack)).filter((b) => b.name === "other")).toHaveLength(0);

      // --resubmit: new batches on purpose.
      const forced = await kex(["submit", file("again.jsonl"), "--batch-size", "5", "--resubmit"], env);
      expect(forced.code).toBe(0);
      expect(createdBatches(forced.stdout).map((b) => b.id)).not.toEqual(firstBatches.map((b) => b.id));
      expect((await allBatches(stack)).filter((b) => b.name === "again.jsonl")).toHaveLength(4);
    });

    it("lists batches with their name, progress and input lines", async () => {
      const run = await kex(["batches", "--limit", "3"], env);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^ID\s+NAME\s+CREATED\s+DONE\s+SUCCEEDED\s+FAILED\s+CANCELED\s+LINES\s+METADATA$/m);
      expect(run.stdout.trim().split("\n")).toHaveLength(4);
      expect(run.stdout).toMatch(/again\.jsonl .* 1-5 /);
      expect(run.stdout).toMatch(/again\.jsonl .* 6-7 /);
      expect(run.stderr).toMatch(/^more: kex batches --limit 3 --cursor \S+$/m);
      const cursor = /--cursor (\S+)/.exec(run.stderr)![1]!;
      const next = await kex(["batches", "--limit", "3", "--cursor", cursor, "--json"], env);
      const page = JSON.parse(next.stdout) as { data: Array<{ name: string; metadata: unknown }> };
      expect(page.data).toHaveLength(3);
      const shots = (await allBatches(stack)).filter((b) => b.name === "shots.csv");
      expect(shots).toHaveLength(3);
    });
  });

  describe("error messages", () => {
    it("names KEX_URL when the environment's URL is bad, and --url only when the flag was used", async () => {
      const fromEnv = await kex(["batches"], { KEX_URL: "localhost:3000", KEX_TOKEN: "t" });
      expect(fromEnv.code).toBe(2);
      expect(fromEnv.stderr).toContain('KEX_URL must be an absolute http(s) URL such as http://127.0.0.1:3000 (got "localhost:3000")');
      expect(fromEnv.stderr).not.toContain("--url");
      const fromFlag = await kex(["batches", "--url", "ftp://x"], { KEX_TOKEN: "t" });
      expect(fromFlag.code).toBe(2);
      expect(fromFlag.stderr).toContain('--url must be an absolute http(s) URL such as http://127.0.0.1:3000 (got "ftp://x")');
    });

    it("says which required cell is empty, with its line", async () => {
      await writeFile(file("holes.csv"), `video_id,prompt,cfg_scale\n${sourceVideo(1)},ok,0.5\n${sourceVideo(2)},,0.5\n,no video,\n`);
      const run = await kex(["submit", file("holes.csv")], env);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain("line 3: prompt: required (empty cell)");
      expect(run.stderr).toContain("line 4: video_id: required (empty cell)");
      expect(run.stderr).not.toContain("received undefined");
      await writeFile(file("holes.jsonl"), JSON.stringify({ video_id: sourceVideo(1) }) + "\n");
      const jsonl = await kex(["submit", file("holes.jsonl")], env);
      expect(jsonl.stderr).toContain("line 1: prompt: required (missing)");
    });
  });

  it("never printed the API token", () => {
    expect(allOutput.length).toBeGreaterThan(10);
    for (const text of allOutput) expect(text).not.toContain(STACK_API_TOKEN);
  });
});
