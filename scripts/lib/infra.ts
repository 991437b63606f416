// Making sure Postgres and Redis are there, and the database is migrated (demo, fault suite, bench).
import { execFileSync, spawnSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createDatabaseIfMissing, migrateDatabase, startEmbeddedPostgres } from "@kex/testing";
import { chooseDemoMode, type QueueBackend } from "./demo-mode";
import { postgresAnswers, redisAnswers } from "./machine";
import { portFree, ROOT } from "./services";

function dockerComposeAvailable(): boolean {
  const r = spawnSync("docker", ["compose", "version"], { stdio: "ignore" });
  const engine = spawnSync("docker", ["info"], { stdio: "ignore" });
  return r.status === 0 && engine.status === 0;
}

/**
 * Postgres and Redis (unless `redisUrl` is left out: a run with the queue on Postgres) must answer. If one does not and Docker is there, start it with docker compose;
 * otherwise stop with a message saying exactly what is missing and how to provide it.
 */
export async function ensureServices(args: { databaseUrl: string; redisUrl?: string; log: (line: string) => void }): Promise<void> {
  const admin = new URL(args.databaseUrl);
  admin.pathname = "/postgres";
  let pg = await postgresAnswers(args.databaseUrl);
  const redisAnswersIfNeeded = async () => args.redisUrl === undefined || (await redisAnswers(args.redisUrl));
  let redis = await redisAnswersIfNeeded();
  if (pg && redis) return;
  const missing = [!pg && "postgres", !redis && "redis"].filter(Boolean) as string[];
  if (dockerComposeAvailable()) {
    args.log(`${missing.join(" and ")} not reachable; starting with docker compose…`);
    execFileSync("docker", ["compose", "up", "-d", "--wait", ...missing], { cwd: ROOT, stdio: "inherit" });
    for (let i = 0; i < 60 && !(pg && redis); i++) {
      await sleep(1000);
      pg = await postgresAnswers(args.databaseUrl);
      redis = await redisAnswersIfNeeded();
    }
    if (pg && redis) return;
  }
  const help: string[] = [];
  if (!pg) {
    help.push(
      `PostgreSQL is not reachable at ${admin.host} (DATABASE_URL=${args.databaseUrl.replace(/:[^:@/]*@/, ":***@")}).`,
      "  Start it, e.g. `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (Debian),",
      "  `docker compose up -d postgres`, or point DATABASE_URL at a server you have.",
    );
  }
  if (!redis) {
    help.push(
      `Redis is not reachable at ${args.redisUrl ?? "-"}.`,
      '  Start it, e.g. `redis-server --daemonize yes --port 6379 --save "" --appendonly no`,',
      "  `docker compose up -d redis`, or point REDIS_URL at a server you have.",
    );
  }
  throw new Error(help.join("\n"));
}

export interface DemoServices {
  /** The one line saying which mode was chosen and why. */
  line: string;
  databaseUrl: string;
  queueBackend: QueueBackend;
  /** Set when the queue is on Redis. */
  redisUrl?: string;
  /** True when the demo runs its own (embedded) Postgres. */
  embedded: boolean;
  /** Stops the embedded Postgres, if one was started (idempotent). */
  stop(): Promise<void>;
}

/** The embedded cluster's preferred port, so its URL stays the same from one run to the next when free. */
const EMBEDDED_DEMO_PORT = 54329;

/**
 * The demo's Postgres and queue backend (see chooseDemoMode): probes DATABASE_URL / REDIS_URL or the
 * local addresses, starts what docker compose must start, or an embedded Postgres whose data lives in
 * `embeddedDataDir` (reused by the next run; `clean` deletes it first; server log in `logDir`).
 */
export async function resolveDemoServices(args: {
  env: { DATABASE_URL?: string; REDIS_URL?: string; QUEUE_BACKEND?: string };
  local: { databaseUrl: string; redisUrl: string };
  embedded: boolean;
  clean: boolean;
  embeddedDataDir: string;
  logDir: string;
  databaseName: string;
  /** Print the mode line and start nothing. */
  printOnly?: boolean;
  log: (line: string) => void;
}): Promise<DemoServices> {
  const [postgres, redis] = await Promise.all([
    args.embedded ? Promise.resolve(false) : postgresAnswers(args.env.DATABASE_URL ?? args.local.databaseUrl),
    redisAnswers(args.env.REDIS_URL ?? args.local.redisUrl),
  ]);
  const mode = chooseDemoMode({
    env: args.env,
    embedded: args.embedded,
    local: args.local,
    answers: { postgres, redis },
    docker: !(postgres && redis) && dockerComposeAvailable(),
    embeddedDataDir: path.relative(ROOT, args.embeddedDataDir) || args.embeddedDataDir,
  });
  args.log(mode.line);
  const done = { queueBackend: mode.queue, ...(mode.redisUrl ? { redisUrl: mode.redisUrl } : {}), line: mode.line };
  const nothingToStop = async () => undefined;
  if (args.printOnly) return { ...done, databaseUrl: mode.databaseUrl ?? "", embedded: mode.postgres === "embedded", stop: nothingToStop };
  if (mode.dockerServices.length > 0) {
    execFileSync("docker", ["compose", "up", "-d", "--wait", ...mode.dockerServices], { cwd: ROOT, stdio: "inherit" });
    const databaseUrl = mode.databaseUrl!;
    for (let i = 0; i < 60 && !(await postgresAnswers(databaseUrl)); i++) await sleep(1000);
  }
  if (mode.postgres !== "embedded") return { ...done, databaseUrl: mode.databaseUrl!, embedded: false, stop: nothingToStop };

  mkdirSync(args.logDir, { recursive: true });
  const logFile = path.join(args.logDir, "postgres.log");
  const server = await startEmbeddedPostgres({
    dataDir: args.embeddedDataDir,
    clean: args.clean,
    ...((await portFree(EMBEDDED_DEMO_PORT)) ? { port: EMBEDDED_DEMO_PORT } : {}),
    log: (line) => appendFileSync(logFile, `${line}\n`),
  });
  const url = new URL(server.url);
  url.pathname = `/${args.databaseName}`;
  args.log(
    `✔ embedded Postgres on 127.0.0.1:${server.port} (${server.reused ? "data kept from the last run" : "a new cluster"} in ${path.relative(ROOT, server.dataDir)})`,
  );
  return { ...done, databaseUrl: url.toString(), embedded: true, stop: () => server.stop() };
}

/** Creates the database if it is missing, generates the Prisma client if needed, applies migrations. */
export async function prepareDatabase(databaseUrl: string): Promise<void> {
  await createDatabaseIfMissing(databaseUrl);
  if (!existsSync(path.join(ROOT, "packages/db/src/generated/client.ts"))) {
    execFileSync(path.join(ROOT, "node_modules/.bin/prisma"), ["generate", "--config", path.join(ROOT, "prisma/prisma.config.ts")], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: databaseUrl },
      stdio: "pipe",
    });
  }
  migrateDatabase(databaseUrl);
}
