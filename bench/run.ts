// `npm run bench`: throughput and latency of the whole orchestrator on this machine, against the
// sandbox with instant completion. Not part of the test suite. See bench/README.md. This file runs the
// phases (bench/phases/*.ts, in the order below) on one shared BenchRun and prints the table.
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import path from "node:path";
import { deleteKeysUnder } from "@kex/testing";
import { ensureServices } from "../scripts/lib/infra";
import { createBenchRun, type BenchRun } from "./lib/bench-run";
import { loadBenchConfig } from "./lib/config";
import { finishLeftovers, freshDatabase } from "./lib/db";
import { fmt, fmtInt, renderTable } from "./lib/report";
import type { Results } from "./lib/results";
import { tableRows } from "./lib/summary-table";
import { baselinePhase } from "./phases/baseline";
import { e2ePhase } from "./phases/e2e";
import { growthPhase } from "./phases/growth";
import { ingestPhase } from "./phases/ingest";
import { webhookPhase } from "./phases/webhook";

const BENCH_DIR = __dirname;
const say = (line: string) => process.stdout.write(`${line}\n`);

/** Leave no backlog for the e2e phase: empty the submit queue and finish the rows left behind. */
async function clearBacklog({ submitQueue, pg }: BenchRun): Promise<void> {
  await submitQueue.obliterate({ force: true });
  const leftovers = await finishLeftovers(pg);
  if (leftovers) say(`\n    (finished ${fmtInt(leftovers)} leftover jobs directly in SQL and emptied the submit queue)`);
}

async function main(): Promise<void> {
  const cfg = loadBenchConfig();
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const resultsDir = path.join(BENCH_DIR, "results");
  const logDir = path.join(resultsDir, "logs", stamp);
  const profileDir = path.join(resultsDir, "profiles", stamp);
  mkdirSync(logDir, { recursive: true });
  const runId = randomBytes(4).toString("hex");
  const queuePrefix = `{kexbench-${runId}}`;
  const apiToken = `bench_${randomBytes(18).toString("base64url")}`;
  const callbackSecret = randomBytes(32).toString("base64url");
  const results: Results = {
    startedAt: new Date().toISOString(),
    scale: cfg.scale,
    settings: {
      batchSize: cfg.batchSize,
      ingestBatches: cfg.ingestBatches,
      e2eJobs: cfg.e2eJobs,
      growthTotal: cfg.growthTotal,
      growthEventsPerJob: cfg.growthEventsPerJob,
      baselineJobs: cfg.baselineJobs,
      baselineChunk: cfg.baselineChunk,
      WORKER_CONCURRENCY: cfg.workerConcurrency,
      KLING_MAX_IN_FLIGHT: cfg.maxInFlight,
      DATABASE_POOL_MAX: cfg.dbPoolMax,
      API_RATE_LIMIT_PER_SEC: 0,
      LOG_LEVEL: "warn",
      connections: cfg.connections,
      loadSeconds: cfg.loadSeconds,
      webhookJobs: cfg.webhookJobs,
      phases: [...cfg.phases],
      profile: [...cfg.profile],
      sandbox: { maxConcurrency: 0, processingDelayMs: 0, completeDelayMs: 0, callbackOnSubmitted: true },
      queuePrefix,
      database: new URL(cfg.databaseUrl).pathname.slice(1),
    },
    machine: { cores: cpus().length, load1AtStart: loadavg()[0] ?? 0 },
    growth: { ingest: [], get: [] },
    peakRss: {},
    peakRssAfter: {},
    phaseWindows: [],
    errors: [],
  };

  say(`kling-orchestrator bench (${cfg.scale}): database ${results.settings.database}, queue prefix ${queuePrefix}, load average ${fmt(results.machine.load1AtStart, 2)} on ${results.machine.cores} cores`);
  say(`  logs: ${path.relative(process.cwd(), logDir)}${cfg.profile.size ? `, cpu profiles: ${path.relative(process.cwd(), profileDir)}` : ""}`);
  await ensureServices({ databaseUrl: cfg.databaseUrl, redisUrl: cfg.redisUrl, log: say });
  await freshDatabase(cfg.databaseUrl);
  say("✔ fresh database migrated");

  const run = await createBenchRun({ cfg, results, runId, queuePrefix, apiToken, callbackSecret, logDir, profileDir, say });
  const { stack, submitQueue, redis, pg } = run;
  try {
    if (cfg.phases.has("baseline")) await baselinePhase(run);
    say("\n[stack] starting sandbox (instant, unlimited) and api");
    await stack.startUpstreamAndApi();
    say(`    api ${stack.apiUrl}, sandbox ${stack.sandboxUrl}`);
    if (cfg.phases.has("ingest")) await ingestPhase(run);
    if (cfg.phases.has("webhook")) await webhookPhase(run);
    await clearBacklog(run);
    if (cfg.phases.has("e2e")) await e2ePhase(run);
    if (cfg.phases.has("growth") && cfg.growthTotal > 0) await growthPhase(run);
  } catch (err) {
    results.errors.push(err instanceof Error ? (err.stack ?? err.message) : String(err));
    say(`\n✗ bench failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    stack.api?.sample();
    stack.sandbox?.sample();
    results.peakRss.api = stack.api?.peakBytes ?? 0;
    results.peakRss.sandbox = stack.sandbox?.peakBytes ?? 0;
    if (stack.worker) results.peakRss.worker = Math.max(results.peakRss.worker ?? 0, stack.worker.peakBytes);
    await stack.stopAll().catch(() => undefined);
    await submitQueue.obliterate({ force: true }).catch(() => undefined);
    await submitQueue.close().catch(() => undefined);
    await deleteKeysUnder(redis, queuePrefix).catch(() => undefined);
    redis.disconnect();
    await pg.end().catch(() => undefined);
  }

  results.finishedAt = new Date().toISOString();
  const file = path.join(resultsDir, `${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  say(`\n${renderTable(tableRows(results, cfg))}`);
  say(
    `\nsettings: sandbox instant (delays 0, maxConcurrency 0), WORKER_CONCURRENCY ${cfg.workerConcurrency}, KLING_MAX_IN_FLIGHT ${cfg.maxInFlight}, DATABASE_POOL_MAX ${cfg.dbPoolMax}, API_RATE_LIMIT_PER_SEC 0, autocannon ${cfg.connections} connections × ${cfg.loadSeconds} s; ${results.machine.cores} cores, load average ${fmt(results.machine.load1AtStart, 2)} at start (other users share this machine: compare CPU per job, not only rates)`,
  );
  say(`results: ${path.relative(process.cwd(), file)}`);
  if (results.errors.length) {
    say(`\nproblems:\n${results.errors.map((e) => `  - ${e.split("\n")[0]}`).join("\n")}`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`\nbench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
