import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express, { type Response } from "express";
import { Webhook } from "standardwebhooks";

export interface ReceivedWebhook {
  path: string;
  headers: Record<string, string>;
  /** The body exactly as sent (what the signature covers). */
  body: string;
  /** The parsed event `{type, timestamp, data}`. */
  event: { type: string; timestamp: string; data: Record<string, unknown> };
}

/** Answers one request: the status to send, or a function that writes the response itself. */
export type Reply = number | ((res: Response, nth: number) => void);

export interface WebhookReceiver {
  url: string;
  received: ReceivedWebhook[];
  /** How `path` answers its 1st, 2nd, … request (the last entry repeats); unknown paths answer 200. */
  reply(path: string, ...replies: Reply[]): void;
  /** Requests to a path. */
  on(path: string): ReceivedWebhook[];
  /** Standard Webhooks' reference verification (throws when the signature or timestamp is wrong). */
  verify(hook: ReceivedWebhook, secret: string): unknown;
  close(): Promise<void>;
}

/** A webhook consumer on 127.0.0.1 that records every request with its raw body. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const replies = new Map<string, Reply[]>();
  const app = express();
  app.use(express.text({ type: () => true, limit: "5mb" }));
  app.use((req, res) => {
    const body = typeof req.body === "string" ? req.body : "";
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : String(v)]));
    let event: ReceivedWebhook["event"];
    try {
      event = JSON.parse(body);
    } catch {
      event = { type: "(not json)", timestamp: "", data: {} };
    }
    received.push({ path: req.path, headers, body, event });
    const nth = received.filter((r) => r.path === req.path).length;
    const list = replies.get(req.path) ?? [200];
    const reply = list[Math.min(nth, list.length) - 1]!;
    if (typeof reply === "number") res.status(reply).send(reply >= 400 ? `receiver says ${reply}` : "ok");
    else reply(res, nth);
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
    s.once("error", reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    reply(path, ...list) {
      replies.set(path, list);
    },
    on(path) {
      return received.filter((r) => r.path === path);
    },
    verify(hook, secret) {
      return new Webhook(secret).verify(hook.body, hook.headers);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
