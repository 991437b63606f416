// Making sure Postgres and Redis are there, and the database is migrated (demo, fault suite, bench).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createDatabaseIfMissing, migrateDatabase } from "@kex/testing";
import { postgresAnswers, redisAnswers } from "./machine";
import { ROOT } from "./services";

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
