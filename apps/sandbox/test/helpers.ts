import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { type RunningSandbox, type StartSandboxOptions } from "../src/sandbox";

export const API_KEY = "sandbox-key";
export const FRESH_VIDEO = "123456789012345678";

/** Fast, deterministic defaults so a lifecycle completes in tens of milliseconds. */
export const FAST: StartSandboxOptions = {
  processingDelayMs: 5,
  completeDelayMinMs: 10,
  completeDelayMaxMs: 20,
  seed: 1,
  callbackRetryBaseMs: 5,
};

export interface Answer {
  status: number;
  body: { code: number; message: string; request_id?: string; data?: any };
}

export class SandboxClient {
  constructor(
    readonly sandbox: RunningSandbox,
    readonly key: string = API_KEY,
    readonly prefix: string = "/kling",
  ) {}

  private async request(method: string, path: string, body?: unknown, raw?: string, key = this.key): Promise<Answer> {
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (key !== "") headers.Authorization = `Bearer ${key}`;
    const response = await fetch(`${this.sandbox.url}${this.prefix}${path}`, {
      method,
      headers,
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    return { status: response.status, body: (await response.json()) as Answer["body"] };
  }

  create(body: unknown, opts: { key?: string; raw?: string } = {}): Promise<Answer> {
    return this.request("POST", "/v1/videos/video-extend", body, opts.raw, opts.key);
  }

  get(id: string, key?: string): Promise<Answer> {
    return this.request("GET", `/v1/videos/video-extend/${encodeURIComponent(id)}`, undefined, undefined, key);
  }

  list(query: string): Promise<Answer> {
    return this.request("GET", `/v1/videos/video-extend${query}`);
  }

  /** Polls until the task reaches a final status. */
  async waitFinished(id: string, timeoutMs = 5000): Promise<any> {
    return waitFor(async () => {
      const answer = await this.get(id);
      const status = answer.body.data?.task_status;
      return status === "succeed" || status === "failed" ? answer.body.data : undefined;
    }, timeoutMs);
  }
}

export async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export async function adminPost(sandbox: RunningSandbox, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${sandbox.url}/__sandbox/${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

export async function adminStats(sandbox: RunningSandbox): Promise<any> {
  const response = await fetch(`${sandbox.url}/__sandbox/stats`);
  return response.json();
}

export interface Receiver {
  url: string;
  received: Array<{ path: string; contentType: string | undefined; body: any; at: number }>;
  /** Status to answer with; a function can vary it per request. Default 200. */
  respond: (index: number) => number;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 that records every callback it gets. */
export async function startReceiver(): Promise<Receiver> {
  const app = express();
  const receiver: Receiver = {
    url: "",
    received: [],
    respond: () => 200,
    close: async () => undefined,
  };
  let requests = 0;
  app.post("/hook/:name", express.json(), (req, res) => {
    const status = receiver.respond(requests++);
    if (status >= 200 && status < 300) {
      receiver.received.push({ path: req.path, contentType: req.get("content-type"), body: req.body, at: Date.now() });
    }
    res.status(status).json({ ok: status < 300 });
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  receiver.close = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  };
  return receiver;
}

/** A port nothing listens on (bound, then released). */
export async function deadPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
