import { execFileSync, spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { childProcessEnv, REPO_ROOT } from "@kex/testing";

export const KEX_BIN = path.join(REPO_ROOT, "apps/cli/bin/kex.js");
const KEX_DIST = path.join(REPO_ROOT, "apps/cli/dist/kex.js");
/** What the compiled CLI is built from: a change here means dist is stale. */
const KEX_SOURCES = ["apps/cli/src", "apps/cli/scripts", "packages/contract/src"].map((dir) => path.join(REPO_ROOT, dir));

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtimeMs(full) : statSync(full).mtimeMs);
  }
  return newest;
}

let built = false;
/**
 * The tests run the compiled CLI, as users do (`npm test` builds it first); when dist is missing or older
 * than its sources (a test run right after editing the CLI), it is built here once per process.
 */
export function ensureKexBuilt(): void {
  if (built) return;
  let distMtime = 0;
  try {
    distMtime = statSync(KEX_DIST).mtimeMs;
  } catch {
    // not built yet
  }
  if (distMtime < Math.max(...KEX_SOURCES.map(newestMtimeMs))) {
    execFileSync(process.execPath, [path.join(REPO_ROOT, "apps/cli/scripts/build.mjs")], { stdio: "inherit" });
  }
  built = true;
}

export interface KexRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Every run's output, so a test can check that the API token never shows up. */
export const allOutput: string[] = [];

/** Runs `kex` (the bin, which loads the compiled CLI) as a child process, as a user would. */
export function kex(
  args: string[],
  env: Record<string, string | undefined>,
  options: { timeoutMs?: number; /** Each piece of stderr as it comes. */ onStderr?: (text: string) => void } = {},
): Promise<KexRun> {
  ensureKexBuilt();
  return new Promise((resolve, reject) => {
    const childEnv = childProcessEnv({ KEX_URL: undefined, KEX_TOKEN: undefined, ...env });
    for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
    const child = spawn(process.execPath, [KEX_BIN, ...args], { cwd: REPO_ROOT, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      stderr += s;
      options.onStderr?.(s);
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(`kex ${args.join(" ")} did not finish within ${options.timeoutMs ?? 60_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`),
      );
    }, options.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      allOutput.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `batch <uuid>: N jobs (lines a-b)` lines of `kex submit`. */
export function createdBatches(stdout: string): Array<{ id: string; total: number }> {
  return [...stdout.matchAll(/^batch ([0-9a-f-]{36}): (\d+) jobs/gm)].map((m) => ({ id: m[1]!, total: Number(m[2]) }));
}

/** The batch ids of the `kex export <id> …` command a summary prints. */
export function exportCommandIds(text: string): string[] | undefined {
  const m = /kex export ((?:[0-9a-f-]{36} ?)+)/.exec(text);
  return m?.[1]!.trim().split(" ");
}

export const sourceVideo = (i: number) => `7${String(i).padStart(17, "0")}`;
