import http from "node:http";
import type { AddressInfo } from "node:net";
import express, { type Express, type NextFunction, type Request, type Response } from "express";
import { createControl, mountControlPlane, type SandboxStats } from "./control-plane";
import { klingApi } from "./http";
import type { SandboxOptions } from "./options";
import { createCore } from "./state";

export type { SandboxStats } from "./control-plane";
export { formatDuration } from "./wire";
export { buildMp4, sandboxMp4 } from "./mp4";

export interface Sandbox {
  /** The express app: mount it, hand it to supertest, or let `startSandbox` listen with it. */
  app: Express;
  stats(): SandboxStats;
  /** Current options (a copy). */
  options(): SandboxOptions;
  /** Changes knobs at run time; a new `seed` restarts the random sequence. Throws on invalid values. */
  setOptions(patch: Partial<SandboxOptions>): void;
  /** Forgets every task, video and counter, cancels pending callbacks, and restores the options it was created with. */
  reset(): void;
  /**
   * Re-sends the last callback delivered (of `taskId`, or of any task) with the same `webhook-id` and body, signed
   * for the current time; resolves with what was sent, or null when no callback was delivered yet.
   */
  replayCallback(taskId?: string): Promise<{ taskId: string; webhookId: string; delivered: boolean } | null>;
  /** Resolves once no task is in flight and no callback is pending (or after `timeoutMs`, default 10 s, rejecting). */
  waitForIdle(timeoutMs?: number): Promise<void>;
  /** Stops every timer, aborts pending callbacks and waits for them to end. */
  close(): Promise<void>;
}

export interface RunningSandbox extends Sandbox {
  /** e.g. http://127.0.0.1:4010 */
  url: string;
  server: http.Server;
  /** Also stops the HTTP server and drops its open connections. */
  close(): Promise<void>;
}

export interface StartSandboxOptions extends Partial<SandboxOptions> {
  /** Default 0 (ephemeral). */
  port?: number;
  /** Default "127.0.0.1". */
  host?: string;
}

function createSandboxInternal(initial: Partial<SandboxOptions> = {}): Sandbox & { setServerUrl(url: string): void } {
  const core = createCore(initial);
  const control = createControl(core);
  const app = express();
  app.disable("x-powered-by");
  mountControlPlane(app, core, control);
  app.use(klingApi(core));
  app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const status = (err as { status?: unknown }).status;
    res.status(typeof status === "number" && status >= 400 && status < 500 ? status : 500).json({
      error: err instanceof Error ? err.message : "internal error",
    });
  });

  return {
    app,
    ...control,
    options: () => ({ ...core.options }),
    setServerUrl: (url: string) => {
      core.serverUrl = url;
    },
  };
}

/** A Kling API fake as an express app, not listening anywhere. See README.md for every option. */
export function createSandbox(options: Partial<SandboxOptions> = {}): Sandbox {
  const { setServerUrl: _unused, ...sandbox } = createSandboxInternal(options);
  return sandbox;
}

/** Starts the sandbox on `host:port` (default 127.0.0.1, ephemeral port). */
export async function startSandbox(options: StartSandboxOptions = {}): Promise<RunningSandbox> {
  const { port = 0, host = "127.0.0.1", ...sandboxOptions } = options;
  const sandbox = createSandboxInternal(sandboxOptions);
  const server = http.createServer(sandbox.app);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    await sandbox.close();
    throw err;
  }
  const { port: boundPort } = server.address() as AddressInfo;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${boundPort}`;
  sandbox.setServerUrl(url);
  const { setServerUrl: _unused, ...rest } = sandbox;
  return {
    ...rest,
    url,
    server,
    close: async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await sandbox.close();
      await stopped;
    },
  };
}
