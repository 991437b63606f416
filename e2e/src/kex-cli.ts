import { spawn } from "node:child_process";
import path from "node:path";
import { childProcessEnv, REPO_ROOT } from "@kex/testing";

export const KEX_BIN = path.join(REPO_ROOT, "apps/cli/bin/kex.js");

export interface KexRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Every run's output, so a test can check that the API token never shows up. */
export const allOutput: string[] = [];

/** Runs `kex` (the bin shim, through tsx) as a child process, as a user would. */
export function kex(args: string[], env: Record<string, string | undefined>, options: { timeoutMs?: number } = {}): Promise<KexRun> {
  return new Promise((resolve, reject) => {
    const childEnv = childProcessEnv({ KEX_URL: undefined, KEX_TOKEN: undefined, ...env });
    for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
    const child = spawn(process.execPath, [KEX_BIN, ...args], { cwd: REPO_ROOT, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
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

export const sourceVideo = (i: number) => `7${String(i).padStart(17, "0")}`;
