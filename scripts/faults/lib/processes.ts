// Process bookkeeping: everything the suite starts is stopped by the suite, even on Ctrl-C; and the
// processes of one scenario (sandbox, api, workers, the optional slow proxy).
import { readFileSync } from "node:fs";
import { freePort, startService, waitHealthy, type Service } from "../../lib/services";
import { ensurePostgresUp, ensureRedisUp } from "../../lib/machine";
import {
  API_TOKEN,
  BASE_DATABASE_URL,
  CALLBACK_SECRET,
  CAP,
  EXTRA_SANDBOX_ENV,
  EXTRA_WORKER_ENV,
  NO_REDIS_URL,
  QUEUE_BACKEND,
  REDIS_URL,
  SANDBOX_KEY,
  SEED,
  say,
  secs,
} from "../settings";
import type { Scenario } from "../types";
import { startSlowProxy, type SlowProxy } from "./slow-proxy";

const live = new Set<Service>();

function track(service: Service): Service {
  live.add(service);
  void service.exited.then(() => live.delete(service));
  return service;
}

export async function stopAll(services: Service[], signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  await Promise.all(services.map((s) => s.stop(signal, 5000).catch(() => undefined)));
}

/** Ctrl-C or exit kills whatever still runs, and Ctrl-C restores Redis and Postgres first. */
export function killEverythingOnExit(): void {
  process.once("SIGINT", () => {
    say("\ninterrupted: stopping processes, restoring Redis and Postgres…");
    for (const s of live) s.proc.kill("SIGKILL");
    void Promise.allSettled([QUEUE_BACKEND === "redis" ? ensureRedisUp(REDIS_URL) : undefined, ensurePostgresUp(BASE_DATABASE_URL)]).then(() =>
      process.exit(130),
    );
  });
  process.on("exit", () => {
    for (const s of live) s.proc.kill("SIGKILL");
  });
}

export interface ScenarioProcesses {
  apiUrl: string;
  sandboxUrl: string;
  proxy?: SlowProxy;
  /** The current incarnation of each worker slot. */
  workers: Service[];
  /** Processes that exited by themselves, with the tail of their log. */
  crashes: string[];
  /** Resolves once the sandbox and the api answer. */
  healthy(): Promise<void>;
  startWorker(slot: number): Service;
  /** SIGKILL, on purpose (not a crash). */
  killWorker(slot: number): Promise<void>;
  /** From now on an exit is expected (the scenario is ending), not a crash. */
  stopping(): void;
}

/**
 * Starts the scenario's sandbox and api (and the slow proxy, if it asks for one) on free loopback ports,
 * on its own database and queue prefix. Workers are started by slot. Every process goes into `services`
 * as soon as it is spawned, so the caller can stop it whatever fails next; `elapsed` dates crash reports.
 */
export async function startScenarioProcesses(args: {
  scenario: Scenario;
  index: number;
  logDir: string;
  databaseUrl: string;
  prefix: string;
  services: Service[];
  elapsed: () => number;
}): Promise<ScenarioProcesses> {
  const { scenario, index, logDir, services } = args;
  const workers: Service[] = [];
  const crashes: string[] = [];
  const killedOnPurpose = new Set<Service>();
  let stopping = false;
  // A process that exits on its own (not killed by a scenario, not stopped at the end) has crashed.
  const watchCrash = (service: Service) => {
    void service.exited.then((code) => {
      if (killedOnPurpose.has(service) || stopping) return;
      const tail = readFileSync(service.logFile, "utf8").trim().split("\n").slice(-6).join(" | ").slice(0, 600);
      crashes.push(
        `${service.name} exited by itself (code ${code}, signal ${service.proc.signalCode ?? "-"}) at ${secs(args.elapsed())}: ${tail}`,
      );
    });
  };
  const [apiPort, sandboxPort] = [await freePort(), await freePort()];
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
  // The queue: Redis under the scenario's prefix, or on Postgres the schema that prefix names in the
  // scenario's own database (dropped with it).
  const queueEnv: Record<string, string> =
    QUEUE_BACKEND === "redis"
      ? { QUEUE_BACKEND, REDIS_URL }
      : { QUEUE_BACKEND, QUEUE_DATABASE_URL: args.databaseUrl, REDIS_URL: NO_REDIS_URL };
  const common = { DATABASE_URL: args.databaseUrl, ...queueEnv, QUEUE_PREFIX: args.prefix, LOG_LEVEL: "warn" };

  const sandbox = track(
    startService({
      name: "sandbox",
      app: "sandbox",
      logDir,
      direct: true,
      env: {
        SANDBOX_PORT: String(sandboxPort),
        SANDBOX_HOST: "127.0.0.1",
        SANDBOX_API_KEY: SANDBOX_KEY,
        SANDBOX_MAX_CONCURRENCY: "0",
        SANDBOX_PROCESSING_DELAY_MS: "20",
        SANDBOX_COMPLETE_DELAY_MIN_MS: "50",
        SANDBOX_COMPLETE_DELAY_MAX_MS: "300",
        SANDBOX_FAILURE_RATE: "0.02",
        SANDBOX_SEED: String((SEED + index) % 2 ** 31),
        ...scenario.sandboxEnv,
        ...EXTRA_SANDBOX_ENV,
      },
    }),
  );
  services.push(sandbox);
  const api = track(
    startService({
      name: "api",
      app: "api",
      logDir,
      direct: true,
      env: { ...common, PORT: String(apiPort), HOST: "127.0.0.1", API_TOKEN, CALLBACK_SECRET },
    }),
  );
  services.push(api);

  const proxy =
    scenario.upstreamAnswerDelayMs !== undefined
      ? await startSlowProxy({ target: sandboxUrl, answerDelayMs: scenario.upstreamAnswerDelayMs })
      : undefined;
  // Shorter than the worker's defaults, so a scenario's safety nets act within its few minutes. The
  // submit lock keeps its default: how soon a killed worker's submits resume is measured as shipped.
  const shortened: Record<string, string> = {
    KLING_HTTP_TIMEOUT_MS: "5000",
    SLOT_POLL_MS: "50",
    SWEEP_INTERVAL_MS: "2000",
    SWEEP_MIN_AGE_MS: "2000",
    RECONCILE_INTERVAL_MS: "2000",
    RECONCILE_AFTER_MS: "3000",
    RECONCILE_RPS: "50",
    RECONCILE_BATCH: "200",
  };
  for (const name of scenario.workerDefaults ?? []) delete shortened[name];
  const workerEnv: Record<string, string> = {
    ...common,
    KLING_BASE_URL: proxy?.url ?? sandboxUrl,
    KLING_PATH_PREFIX: "/kling",
    KLING_API_KEY: SANDBOX_KEY,
    PUBLIC_BASE_URL: apiUrl,
    CALLBACK_SECRET,
    KLING_MAX_IN_FLIGHT: String(CAP),
    ...shortened,
    // Several workers share this host: any free port for their /metrics.
    METRICS_PORT: "0",
    // On Postgres each worker process holds its app pool, our backend pool, two BullMQ pools per
    // queue and a LISTEN connection per BullMQ worker (docs/queue-backends.md): several workers on
    // one server with max_connections 100 must take smaller pools.
    ...(QUEUE_BACKEND === "postgres" && scenario.workers > 1 ? { DATABASE_POOL_MAX: "4", QUEUE_POOL_MAX: "2" } : {}),
    ...scenario.workerEnv,
    ...EXTRA_WORKER_ENV,
  };
  watchCrash(sandbox);
  watchCrash(api);
  const incarnations: number[] = [];
  const startWorker = (slot: number): Service => {
    incarnations[slot] = (incarnations[slot] ?? 0) + 1;
    const n = incarnations[slot]!;
    const w = track(startService({ name: `worker-${slot + 1}${n > 1 ? `.run${n}` : ""}`, app: "worker", logDir, direct: true, env: workerEnv }));
    services.push(w);
    watchCrash(w);
    workers[slot] = w;
    return w;
  };

  return {
    apiUrl,
    sandboxUrl,
    proxy,
    workers,
    crashes,
    healthy: async () => {
      await Promise.all([waitHealthy(sandbox, `${sandboxUrl}/__sandbox/stats`), waitHealthy(api, `${apiUrl}/readyz`)]);
    },
    startWorker,
    async killWorker(slot) {
      const w = workers[slot];
      if (!w) return;
      killedOnPurpose.add(w);
      w.proc.kill("SIGKILL");
      await w.exited;
    },
    stopping: () => {
      stopping = true;
    },
  };
}
