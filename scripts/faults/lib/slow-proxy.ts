// A loopback HTTP proxy in front of the upstream (the sandbox) that forwards each request at once and
// holds the answer back for a while: the upstream has already acted (a create call has made its task)
// when the caller gets the answer. Killing the caller meanwhile reproduces the worst moment for an
// exactly-once submitter: "upstream accepted, our row does not know yet". Scripts only.
//
// Why not the sandbox's `responseDelayMs`: it delays *before* the request is handled (and its body read),
// so a caller killed during the delay aborts the request and the task is never created.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export interface SlowProxy {
  url: string;
  /** Requests forwarded to the upstream that have not been answered to the caller yet. */
  pending(): { creates: number; other: number; heldCreates: number };
  /** Create calls forwarded so far. */
  forwardedCreates(): number;
  /** Create answers that could not be delivered because the caller had gone. */
  undeliveredCreates(): number;
  close(): Promise<void>;
}

/** Holds back create answers by `answerDelayMs`; every other request is passed through unchanged. */
export async function startSlowProxy(args: { target: string; answerDelayMs: number }): Promise<SlowProxy> {
  let creates = 0;
  let other = 0;
  let heldCreates = 0;
  let undelivered = 0;
  let forwarded = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const isCreate = req.method === "POST" && /\/video-extend\/?$/.test(req.url ?? "");
      if (isCreate) {
        creates++;
        forwarded++;
      } else other++;
      void (async () => {
        let status = 502;
        let body: Buffer = Buffer.from(JSON.stringify({ code: 5000, message: "proxy: upstream unreachable" }));
        let contentType = "application/json";
        try {
          const headers: Record<string, string> = {};
          for (const name of ["authorization", "content-type", "accept"]) {
            const value = req.headers[name];
            if (typeof value === "string") headers[name] = value;
          }
          const answer = await fetch(`${args.target}${req.url ?? "/"}`, {
            method: req.method,
            headers,
            body: req.method === "GET" || req.method === "HEAD" ? undefined : Buffer.concat(chunks),
            signal: AbortSignal.timeout(30_000),
          });
          status = answer.status;
          contentType = answer.headers.get("content-type") ?? contentType;
          body = Buffer.from(await answer.arrayBuffer());
        } catch {
          // keep the 502
        }
        if (isCreate) {
          heldCreates++;
          await sleep(args.answerDelayMs);
        }
        if (isCreate) {
          heldCreates--;
          creates--;
        } else other--;
        if (res.destroyed || req.socket.destroyed) {
          if (isCreate) undelivered++;
          return;
        }
        res.writeHead(status, { "content-type": contentType, "content-length": String(body.length) });
        res.end(body);
      })();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    pending: () => ({ creates, other, heldCreates }),
    forwardedCreates: () => forwarded,
    undeliveredCreates: () => undelivered,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
