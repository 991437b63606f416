// Starting the apps as real processes (demo, fault suite, benchmarks). Scripts only: apps read their
// own config from the environment given here.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export const ROOT = path.resolve(__dirname, "../..");
const TSX = path.join(ROOT, "node_modules/.bin/tsx");

export interface Service {
  name: string;
  proc: ChildProcess;
  logFile: string;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/**
 * Runs `apps/<app>/src/main.ts` with tsx, output appended to `<logDir>/<name>.log`.
 *
 * `direct: true` runs `node --import tsx src/main.ts` instead of the `tsx` CLI. The CLI is a wrapper
 * process that starts the app in a child node process and only relays SIGINT/SIGTERM: a SIGKILL sent
 * to it kills the wrapper and leaves the app running as an orphan. Fault injection (kill -9) needs
 * `proc.pid` to be the app itself, hence `direct`.
 */
export function startService(args: {
  name: string;
  app: string;
  env: Record<string, string>;
  logDir: string;
  direct?: boolean;
  /** Run this file (relative to the repository root) instead of `apps/<app>/src/main.ts`. */
  script?: string;
}): Service {
  mkdirSync(args.logDir, { recursive: true });
  const logFile = path.join(args.logDir, `${args.name}.log`);
  const log = createWriteStream(logFile, { flags: "a" });
  const entry = args.script ? path.join(ROOT, args.script) : "src/main.ts";
  const [command, argv]: [string, string[]] = args.direct ? [process.execPath, ["--import", "tsx", entry]] : [TSX, [entry]];
  const proc = spawn(command, argv, {
    cwd: args.script ? ROOT : path.join(ROOT, "apps", args.app),
    env: { ...process.env, ...args.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  proc.stdout?.pipe(log);
  proc.stderr?.pipe(log);
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  return {
    name: args.name,
    proc,
    logFile,
    exited,
    async stop(signal = "SIGTERM", graceMs = 15_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** True when nothing listens on this loopback port. */
export async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** Waits until `url` answers 2xx, or fails naming the service and its log. */
export async function waitHealthy(service: Service, url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (service.proc.exitCode !== null) throw new Error(`${service.name} exited (code ${service.proc.exitCode}); see ${service.logFile}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await sleep(200);
  }
  throw new Error(`${service.name} did not become healthy at ${url} within ${timeoutMs} ms; see ${service.logFile}`);
}
