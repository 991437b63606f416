// The api under attack: its own database and queue prefix, started as a real process on loopback.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, readFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { Client } from "pg";

export const ROOT = path.resolve(__dirname, "../..");

export interface ApiUnderTest {
  url: string;
  pid: number;
  apiToken: string;
  logFile: string;
  /** Resident set size of the api process now, in bytes (Linux /proc). */
  rssBytes(): number;
  /** CPU time the api process has used so far, all its threads, in seconds (Linux /proc). */
  cpuSeconds(): number;
  /** CPU time of its main thread alone (the event loop that answers every tenant), in seconds. */
  mainThreadCpuSeconds(): number;
  /** Stops the api, drops its database and deletes its Redis keys. */
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function withAdmin<T>(serverUrl: string, run: (client: Client) => Promise<T>): Promise<T> {
  const admin = new URL(serverUrl);
  admin.pathname = "/postgres";
  const client = new Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

async function deleteRedisKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

/** Fields 14 and 15 of a /proc stat file (user and system time, in ticks of 1/100 s), after the command's name. */
function cpuSecondsOf(statFile: string): number {
  const fields = readFileSync(statFile, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** `kex_hostile_<random>` on the server of `serverUrl`, migrated; the api started on it. */
export async function startApiUnderTest(args: { serverUrl: string; redisUrl: string; env?: Record<string, string> }): Promise<ApiUnderTest> {
  const suffix = randomBytes(4).toString("hex");
  const database = `kex_hostile_${suffix}`;
  const databaseUrl = new URL(args.serverUrl);
  databaseUrl.pathname = `/${database}`;
  const queuePrefix = `kex-hostile-${suffix}`;
  await withAdmin(args.serverUrl, (c) => c.query(`CREATE DATABASE "${database}"`));
  const dropDatabase = () => withAdmin(args.serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`));
  try {
    execFileSync(path.join(ROOT, "node_modules/.bin/prisma"), ["migrate", "deploy", "--config", "prisma/prisma.config.ts"], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: databaseUrl.toString() },
      stdio: "pipe",
    });
  } catch (err) {
    await dropDatabase();
    throw err;
  }

  const port = await freePort();
  const apiToken = `hostile-${randomBytes(16).toString("hex")}`;
  const logFile = path.join(os.tmpdir(), `${database}-api.log`);
  const log = createWriteStream(logFile);
  const proc = spawn(process.execPath, ["--import", "tsx", "apps/api/src/main.ts"], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: databaseUrl.toString(),
      REDIS_URL: args.redisUrl,
      QUEUE_PREFIX: queuePrefix,
      API_TOKEN: apiToken,
      CALLBACK_SECRET: randomBytes(16).toString("hex"),
      LOG_LEVEL: "warn",
      ...args.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  proc.stdout.pipe(log);
  proc.stderr.pipe(log);
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;

  const close = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    }
    await dropDatabase();
    await deleteRedisKeys(args.redisUrl, queuePrefix);
  };

  const deadline = Date.now() + 60_000;
  for (;;) {
    const ready = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ready) break;
    if (proc.exitCode !== null || Date.now() > deadline) {
      await close();
      throw new Error(`the api did not become ready (log: ${logFile})`);
    }
    await sleep(200);
  }

  return {
    url,
    pid: proc.pid!,
    apiToken,
    logFile,
    rssBytes() {
      const status = readFileSync(`/proc/${proc.pid}/status`, "utf8");
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    },
    cpuSeconds: () => cpuSecondsOf(`/proc/${proc.pid}/stat`),
    // The main thread's id is the process id.
    mainThreadCpuSeconds: () => cpuSecondsOf(`/proc/${proc.pid}/task/${proc.pid}/stat`),
    close,
  };
}
