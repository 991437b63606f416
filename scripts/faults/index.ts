// `npm run test:faults`: the fault suite. For each scenario it starts sandbox, api and worker(s) as real
// processes on loopback, with a fresh database and queue prefix, submits a few thousand jobs, injects the
// scenario's fault (kill -9, several workers on one cap, Redis flush/restart, Postgres restart, a hostile
// upstream, a paused account), waits until every job is final, then checks from the outside (Postgres
// rows and the sandbox's own stats) that nothing was lost, nothing was sent upstream twice and the
// in-flight cap held. Prints one table per scenario and a summary; exits non-zero if any check failed.
//
// One file per scenario under scenarios/ (scenarios/index.ts gives their order), one scenario's run in
// run-scenario.ts, what it reads from the outside in lib/, the tables in report.ts.
//
// Knobs (environment, read in settings.ts):
//   FAULTS_JOBS (per scenario, default 1200), FAULTS_CAP (50), FAULTS_TIMEOUT_MS (120000),
//   FAULTS_STALL_MS (40000: nothing finished and no create call for this long = stuck), FAULTS_SEED (random; printed),
//   FAULTS_ONLY ("1,5" or scenario keys), FAULTS_ALLOW_FLUSHALL=1 or CI=true (adds a real FLUSHALL),
//   FAULTS_PAUSE_MS (8000: how long scenario 6 blocks the account),
//   FAULTS_WORKER_ENV / FAULTS_SANDBOX_ENV (JSON objects merged into every scenario's environment, to
//   isolate a problem), FAULTS_KEEP_DB=1 (keep each scenario's database and Redis keys to inspect),
//   FAULTS_QUEUE_BACKEND (redis | postgres: the apps' QUEUE_BACKEND; with postgres the queue lives in a
//   schema of the scenario's database named after its prefix, the Redis scenarios 3x are skipped and the
//   apps get a REDIS_URL nothing listens on),
//   DATABASE_URL / REDIS_URL (the local servers). Process logs: .faults/logs/<scenario>/.
import { dropDatabase } from "@kex/testing";
import { ensureServices, prepareDatabase } from "../lib/infra";
import { ensurePostgresUp, ensureRedisUp } from "../lib/machine";
import { killEverythingOnExit } from "./lib/processes";
import { printScenario, printSummary } from "./report";
import { runScenario } from "./run-scenario";
import { SCENARIOS } from "./scenarios";
import { BASE_DATABASE_URL, CAP, JOBS, ONLY, QUEUE_BACKEND, REDIS_URL, SEED, TEMPLATE_DATABASE_URL, TIMEOUT_MS, say, secs } from "./settings";
import type { Result } from "./types";

async function main(): Promise<void> {
  const started = Date.now();
  killEverythingOnExit();
  say(`fault suite: queue on ${QUEUE_BACKEND}, ${JOBS} jobs per scenario, cap ${CAP}, timeout ${secs(TIMEOUT_MS)}, seed ${SEED}`);
  await ensureServices({ databaseUrl: BASE_DATABASE_URL, redisUrl: QUEUE_BACKEND === "redis" ? REDIS_URL : undefined, log: say });
  await dropDatabase(TEMPLATE_DATABASE_URL);
  await prepareDatabase(TEMPLATE_DATABASE_URL);
  const selected = SCENARIOS.map((s, i) => ({ s, i: i + 1 })).filter(
    ({ s }) => ONLY.length === 0 || ONLY.some((o) => s.key === o || s.key.split("-")[0] === o || s.key.startsWith(`${o}`)),
  );
  const results: Result[] = [];
  for (const { s, i } of selected) {
    if (s.skip) {
      const r: Result = { scenario: s, checks: [], facts: {}, notes: [], durationMs: 0, skipped: s.skip };
      results.push(r);
      printScenario(r);
      continue;
    }
    say(`\n… ${s.key}: running`);
    const r = await runScenario(s, i);
    results.push(r);
    printScenario(r);
  }
  await dropDatabase(TEMPLATE_DATABASE_URL).catch(() => undefined);
  printSummary(results, Date.now() - started);
  const ran = results.filter((r) => !r.skipped);
  const failed = ran.filter((r) => r.error || r.checks.some((c) => !c.ok)).length;
  say(`\n${ran.length - failed} passed, ${failed} failed`);
  process.exitCode = failed > 0 ? 1 : 0;
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`\nfault suite failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await Promise.allSettled([QUEUE_BACKEND === "redis" ? ensureRedisUp(REDIS_URL) : undefined, ensurePostgresUp(BASE_DATABASE_URL)]);
    // Open handles (pg, ioredis) must not keep the process alive.
    process.exit(process.exitCode ?? 0);
  });
