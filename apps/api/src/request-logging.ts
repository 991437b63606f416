import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "@kex/core";
import type { RequestHandler } from "express";
import { pinoHttp } from "pino-http";

/** An incoming `X-Request-Id` is kept only if it looks like an id: a short token of letters, digits and `._:-`. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** Query parameters whose values never reach a log line (the webhook URL carries `?token=`; signed URLs carry `sig`). */
const SECRET_QUERY_PARAM = /token|secret|key|signature|password|passwd|auth|jwt|bearer|credential|session|(^|[^a-z])sig([^a-z]|$)/i;

/** Operational endpoints scraped every few seconds: logged at debug unless they fail. */
const QUIET_PATHS = new Set(["/healthz", "/readyz", "/metrics"]);

export const REQUEST_ID_HEADER = "X-Request-Id";

/**
 * The id a request is known by: the caller's `X-Request-Id` when sane and holding none of `secrets`
 * (it is logged and echoed), else a new UUID.
 */
export function requestIdFor(header: string | string[] | undefined, secrets: readonly string[] = []): string {
  const sane = typeof header === "string" && SANE_REQUEST_ID.test(header) && !secrets.some((s) => s.length > 0 && header.includes(s));
  return sane ? header : randomUUID();
}

/**
 * A URL safe to log: the path as is; the query string of `/webhooks/*` dropped entirely (it carries
 * the per-job callback token), and elsewhere the value of any parameter that looks like a credential
 * replaced by `[redacted]`.
 */
export function loggableUrl(url: string): string {
  const q = url.indexOf("?");
  if (q === -1) return url;
  const path = url.slice(0, q);
  if (path.startsWith("/webhooks/") || path === "/webhooks") return path;
  const params = url
    .slice(q + 1)
    .split("&")
    .map((pair) => {
      const eq = pair.indexOf("=");
      const name = eq === -1 ? pair : pair.slice(0, eq);
      return eq !== -1 && SECRET_QUERY_PARAM.test(decodeURIComponentSafe(name)) ? `${name}=[redacted]` : pair;
    });
  return `${path}?${params.join("&")}`;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * One JSON line per request (`request completed`: method, URL without secrets, status, time) and a
 * request id on it and on every line logged through `req.log` while handling the request. The id is
 * echoed in the `X-Request-Id` response header. Headers are not logged at all (Authorization, cookies).
 * `secrets` (the configured tokens) are never taken as a request id; the logger redacts them by value.
 */
export function requestLogging(logger: Logger, options: { secrets?: readonly string[] } = {}): RequestHandler {
  return pinoHttp({
    logger,
    quietReqLogger: true,
    customAttributeKeys: { reqId: "requestId", responseTime: "ms" },
    genReqId: (req: IncomingMessage, res: ServerResponse) => {
      const id = requestIdFor(req.headers["x-request-id"], options.secrets);
      res.setHeader(REQUEST_ID_HEADER, id);
      return id;
    },
    serializers: {
      req: (req: { method: string; url: string; remoteAddress?: string }) => ({
        method: req.method,
        url: loggableUrl(req.url),
        remoteAddress: req.remoteAddress,
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
    customLogLevel: (req, res, err) => {
      if (err || res.statusCode >= 500) return "error";
      if (res.statusCode >= 400) return "warn";
      const path = (req.url ?? "").split("?")[0] ?? "";
      return QUIET_PATHS.has(path) ? "debug" : "info";
    },
  }) as unknown as RequestHandler;
}
