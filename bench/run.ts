// `npm run bench`: throughput and latency of the whole orchestrator on this machine, against the
// sandbox with instant completion. Not part of the test suite. See bench/README.md. For each queue
// backend (BENCH_QUEUE_BACKENDS, default redis then postgres) this file runs the phases
// (bench/phases/*.ts, in the order below) on a BenchRun of its own, prints that backend's table, and at
// the end the backends side by side (lib/compare-table.ts).
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import path from "node:path";
import type { QueueBackendKind } from "@kex/queue";
import { ensureServices } from "../scripts/lib/infra";
import { createBenchRun, type BenchRun } from "./lib/bench-run";
import { compareRows } from "./lib/compare-table";
import { loadBenchConfig, type BenchConfig } from "./lib/config";
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

/** Every phase on one backend, from a fresh bench database; writes bench/results/<stamp>-<backend>.json. */
async function benchBackend(queueBackend: QueueBackendKind, cfg: BenchConfig, stamp: string): Promise<Results> {
  const resultsDir = path.join(BENCH_DIR, "results");
  const logDir = path.join(resultsDir, "logs", stamp, queueBackend);
  const profileDir = path.join(resultsDir, "profiles", stamp, queueBackend);
  mkdirSync(logDir, { recursive: true });
  const runId = randomBytes(4).toString("hex");
  const queuePrefix = `{kexbench-${runId}}`;
  const apiToken = `bench_${randomBytes(18).toString("base64url")}`;
  const callbackSecret = randomBytes(32).toString("base64url");
  const results: Results = {
    queueBackend,
    startedAt: new Date().toISOString(),
    scale: cfg.scale,
    settings: {
      QUEUE_BACKEND: queueBackend,
      ...(queueBackend === "postgres" && cfg.pgQueueOptions ? { pgQueueOptions: cfg.pgQueueOptions } : {}),
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

  say(`\n======== queue backend: ${queueBackend} ========`);
  say(`database ${results.settings.database}, queue prefix ${queuePrefix}, load average ${fmt(results.machine.load1AtStart, 2)} on ${results.machine.cores} cores`);
  say(`  logs: ${path.relative(process.cwd(), logDir)}${cfg.profile.size ? `, cpu profiles: ${path.relative(process.cwd(), profileDir)}` : ""}`);
  await freshDatabase(cfg.databaseUrl);
  say("✔ fresh database migrated");

  const run = await createBenchRun({ queueBackend, cfg, results, runId, queuePrefix, apiToken, callbackSecret, logDir, profileDir, say });
  const { stack, store, pg } = run;
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
    say(`\n✗ bench (${queueBackend}) failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    stack.api?.sample();
    stack.sandbox?.sample();
    results.peakRss.api = stack.api?.peakBytes ?? 0;
    results.peakRss.sandbox = stack.sandbox?.peakBytes ?? 0;
    if (stack.worker) results.peakRss.worker = Math.max(results.peakRss.worker ?? 0, stack.worker.peakBytes);
    await stack.stopAll().catch(() => undefined);
    await store.destroy();
    await pg.end().catch(() => undefined);
  }

  results.finishedAt = new Date().toISOString();
  results.machine.load1AtEnd = loadavg()[0] ?? 0;
  const file = path.join(resultsDir, `${stamp}-${queueBackend}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  say(`\n${renderTable(tableRows(results, cfg))}`);
  say(`results (${queueBackend}): ${path.relative(process.cwd(), file)}`);
  return results;
}

async function main(): Promise<void> {
  const cfg = loadBenchConfig();
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  say(`kling-orchestrator bench (${cfg.scale}), queue backends: ${cfg.backends.join(", ")}; load average ${fmt(loadavg()[0] ?? 0, 2)} on ${cpus().length} cores`);
  await ensureServices({ databaseUrl: cfg.databaseUrl, redisUrl: cfg.backends.includes("redis") ? cfg.redisUrl : undefined, log: say });
  const all: Results[] = [];
  for (const kind of cfg.backends) all.push(await benchBackend(kind, cfg, stamp));

  if (all.length > 1) {
    say(`\nside by side (same run; ratios are what count on a shared machine)`);
    say(compareRows(all));
  }
  say(
    `\nsettings: sandbox instant (delays 0, maxConcurrency 0), WORKER_CONCURRENCY ${cfg.workerConcurrency}, KLING_MAX_IN_FLIGHT ${cfg.maxInFlight}, DATABASE_POOL_MAX ${cfg.dbPoolMax}, API_RATE_LIMIT_PER_SEC 0, autocannon ${cfg.connections} connections × ${cfg.loadSeconds} s; ${cpus().length} cores, load average ${all.map((r) => `${r.queueBackend} ${fmt(r.machine.load1AtStart, 1)} → ${fmt(r.machine.load1AtEnd ?? NaN, 1)}`).join(", ")} (other users share this machine: compare CPU per job, not only rates)`,
  );
  const problems = all.flatMap((r) => r.errors.map((e) => `${r.queueBackend}: ${e.split("\n")[0]}`));
  if (problems.length) {
    say(`\nproblems:\n${problems.map((e) => `  - ${e}`).join("\n")}`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`\nbench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
