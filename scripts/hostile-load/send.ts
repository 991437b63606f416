// One HTTP request as the load script needs it: timed, and for a big body, written in slices that stop
// as soon as the api answers.
import http from "node:http";
import type { HostileBody } from "./bodies";

export interface Answer {
  status: number;
  ms: number;
}

/** Where requests go: the api's base URL. */
export interface Target {
  url: string;
}

export const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** One request; a body is written in slices and the writing stops as soon as the answer comes. */
export function send(api: Target, args: { method: string; path: string; key: string; body?: HostileBody; headers?: Record<string, string>; timeoutMs?: number }): Promise<Answer> {
  const url = new URL(api.url);
  const started = performance.now();
  return new Promise((resolve) => {
    const headers: Record<string, string> = { ...args.headers, Authorization: `Bearer ${args.key}` };
    if (args.body) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = String(args.body.body.length);
      if (args.body.encoding) headers["Content-Encoding"] = args.body.encoding;
    }
    let answered = false;
    const req = http.request({ host: url.hostname, port: url.port, method: args.method, path: args.path, headers, agent: args.body ? false : agent });
    const done = (status: number) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      resolve({ status, ms: performance.now() - started });
    };
    const timer = setTimeout(() => {
      req.destroy();
      done(0);
    }, args.timeoutMs ?? 120_000);
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => {
        done(res.statusCode ?? 0);
        if (args.body) req.destroy();
      });
    });
    req.on("error", () => done(0));
    if (!args.body) return void req.end();
    const data = args.body.body;
    let offset = 0;
    const writeMore = () => {
      while (offset < data.length && !answered) {
        const slice = data.subarray(offset, offset + 1024 * 1024);
        offset += slice.length;
        if (!req.write(slice)) return void req.once("drain", writeMore);
      }
      if (!answered) req.end();
    };
    writeMore();
  });
}

