// The apps as real processes (scripts/lib/services.ts), plus peak-memory sampling of each.
import { readFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { QueueBackendKind } from "@kex/queue";
import { freePort, startService, waitHealthy, type Service } from "../../scripts/lib/services";

export interface MemorySample {
  /** Peak resident set size (VmHWM), bytes. */
  hwmBytes: number;
  /** Current resident set size (VmRSS), bytes. */
  rssBytes: number;
}

/** VmHWM / VmRSS of a process from /proc (Linux); null once it is gone. */
export function readMemory(pid: number | undefined): MemorySample | null {
  if (!pid) return null;
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024;
    return { hwmBytes: kb("VmHWM"), rssBytes: kb("VmRSS") };
  } catch {
    return null;
  }
}

/** A started app and the highest VmHWM seen for it (sampled every second and once before it stops). */
export class TrackedService {
  peakBytes = 0;
  private timer: NodeJS.Timeout;
  constructor(readonly service: Service) {
    this.timer = setInterval(() => this.sample(), 1000);
    this.timer.unref();
  }

  sample(): void {
    const m = readMemory(this.service.proc.pid);
    if (m) this.peakBytes = Math.max(this.peakBytes, m.hwmBytes);
  }

  get pid(): number | undefined {
    return this.service.proc.pid;
  }

  async stop(): Promise<void> {
    this.sample();
    clearInterval(this.timer);
    // SIGTERM: the apps shut down gracefully, which also lets `--cpu-prof` write its profile.
    await this.service.stop("SIGTERM", 30_000);
  }
}

const PRELOAD = path.join(__dirname, "cpu-prof-preload.cjs");

/**
 * Never inherit the bench's own NODE_OPTIONS; profile only the apps asked for. Node 20 refuses
 * `--cpu-prof` in NODE_OPTIONS, so a preloaded script runs the inspector's profiler instead.
 */
function profileEnv(app: string, s: StackSettings): Record<string, string> {
  if (!s.profile.has(app)) return { NODE_OPTIONS: "" };
  return { NODE_OPTIONS: `--require ${PRELOAD}`, BENCH_CPU_PROF_DIR: path.join(s.profileDir, app) };
}

export interface StackSettings {
  queueBackend: QueueBackendKind;
  databaseUrl: string;
  /** The Postgres queue's database (the bench database, maybe with connection options). */
  queueDatabaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  apiToken: string;
  callbackSecret: string;
  logDir: string;
  profileDir: string;
  profile: Set<string>;
  dbPoolMax: number;
}

export class Stack {
  apiUrl = "";
  sandboxUrl = "";
  api?: TrackedService;
  worker?: TrackedService;
  sandbox?: TrackedService;
  floor?: TrackedService;
  private apiPort = 0;

  constructor(readonly settings: StackSettings) {}

  private common(app: string): Record<string, string> {
    const s = this.settings;
    const env: Record<string, string> = {
      DATABASE_URL: s.databaseUrl,
      // On Postgres the queue lives in the bench database, in the schema the prefix names.
      QUEUE_BACKEND: s.queueBackend,
      QUEUE_DATABASE_URL: s.queueDatabaseUrl,
      REDIS_URL: s.redisUrl,
      QUEUE_PREFIX: s.queuePrefix,
      DATABASE_POOL_MAX: String(s.dbPoolMax),
      LOG_LEVEL: "warn",
      CALLBACK_SECRET: s.callbackSecret,
      ...profileEnv(app, s),
    };
    return env;
  }

  /** Sandbox with instant completion and no concurrency limit, and the api. The worker is separate. */
  async startUpstreamAndApi(): Promise<void> {
    const s = this.settings;
    const sandboxPort = await freePort();
    this.apiPort = await freePort();
    this.sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
    this.apiUrl = `http://127.0.0.1:${this.apiPort}`;
    const sandbox = startService({
      name: "sandbox",
      app: "sandbox",
      logDir: s.logDir,
      direct: true,
      env: {
        SANDBOX_PORT: String(sandboxPort),
        SANDBOX_MAX_CONCURRENCY: "0",
        SANDBOX_PROCESSING_DELAY_MS: "0",
        SANDBOX_COMPLETE_DELAY_MIN_MS: "0",
        SANDBOX_COMPLETE_DELAY_MAX_MS: "0",
        SANDBOX_FAILURE_RATE: "0",
        SANDBOX_SEED: "7",
        LOG_LEVEL: "warn",
        ...profileEnv("sandbox", s),
      },
    });
    this.sandbox = new TrackedService(sandbox);
    const api = startService({
      name: "api",
      app: "api",
      logDir: s.logDir,
      direct: true,
      // No per-tenant rate limit: the bench is the only client and measures capacity.
      env: { ...this.common("api"), PORT: String(this.apiPort), API_TOKEN: s.apiToken, API_RATE_LIMIT_PER_SEC: "0" },
    });
    this.api = new TrackedService(api);
    // Generous: on a loaded shared machine an app can take a minute to start.
    await Promise.all([waitHealthy(sandbox, `${this.sandboxUrl}/__sandbox/stats`, 180_000), waitHealthy(api, `${this.apiUrl}/readyz`, 180_000)]);
  }

  /**
   * The worker, pointed at the sandbox. Resolves once it is registered with BullMQ (`isReady` is
   * given a way to look: the bench counts workers on the submit queue).
   */
  async startWorker(args: { concurrency: number; maxInFlight: number; isReady: () => Promise<boolean> }): Promise<void> {
    const worker = startService({
      name: "worker",
      app: "worker",
      logDir: this.settings.logDir,
      direct: true,
      env: {
        ...this.common("worker"),
        KLING_BASE_URL: this.sandboxUrl,
        KLING_PATH_PREFIX: "/kling",
        KLING_API_KEY: "sandbox-key",
        KLING_MAX_IN_FLIGHT: String(args.maxInFlight),
        WORKER_CONCURRENCY: String(args.concurrency),
        PUBLIC_BASE_URL: this.apiUrl,
      },
    });
    this.worker = new TrackedService(worker);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (worker.proc.exitCode !== null) throw new Error(`worker exited (code ${worker.proc.exitCode}); see ${worker.logFile}`);
      if (await args.isReady().catch(() => false)) return;
      await sleep(200);
    }
    throw new Error(`worker did not register with BullMQ within 60 s; see ${worker.logFile}`);
  }

  /** The GET floors (bench/lib/get-floor-server.ts) on the bench database: node:http and Express URLs. Stopped with the stack. */
  async startGetFloor(): Promise<{ node: string; express: string }> {
    const port = await freePort();
    const expressPort = await freePort();
    const floor = startService({
      name: "get-floor",
      app: "api",
      script: "bench/lib/get-floor-server.ts",
      logDir: this.settings.logDir,
      direct: true,
      env: { ...this.common("get-floor"), FLOOR_PORT: String(port), FLOOR_EXPRESS_PORT: String(expressPort) },
    });
    this.floor = new TrackedService(floor);
    const urls = { node: `http://127.0.0.1:${port}`, express: `http://127.0.0.1:${expressPort}` };
    await waitHealthy(floor, `${urls.node}/healthz`);
    await waitHealthy(floor, `${urls.express}/healthz`);
    return urls;
  }

  async stopWorker(): Promise<number> {
    if (!this.worker) return 0;
    await this.worker.stop();
    return this.worker.peakBytes;
  }

  /** Upstream first (no more callbacks), then the worker, then the api, so each can drain and exit cleanly. */
  async stopAll(): Promise<void> {
    await this.sandbox?.stop();
    await this.worker?.stop();
    await this.api?.stop();
    await this.floor?.stop();
  }
}
