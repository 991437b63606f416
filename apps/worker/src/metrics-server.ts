import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { ApiErrorCode } from "@kex/contract";
import type { Logger } from "@kex/core";
import type { Registry } from "@kex/metrics";

/** The worker's metrics port when METRICS_PORT is not set (the Prometheus exporter convention's range). */
export const DEFAULT_METRICS_PORT = 9464;

export interface MetricsServerOptions {
  registry: Registry;
  host: string;
  /** 0 = any free port. */
  port: number;
  /** Liveness: false answers /healthz with 503. */
  healthy: () => boolean;
}

export interface RunningMetricsServer {
  url: string;
  close(): Promise<void>;
}

/** A tiny HTTP server: `GET /metrics` (Prometheus text format) and `GET /healthz`. Nothing else. */
export async function startMetricsServer(options: MetricsServerOptions): Promise<RunningMetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "Content-Type": "application/json; charset=utf-8" }).end(JSON.stringify(body));
    };
    const fail = (status: number, code: ApiErrorCode, message: string) => json(status, { error: { code, message } });
    if (req.method !== "GET" && req.method !== "HEAD") return fail(405, "method_not_allowed", "GET only");
    if (path === "/healthz") return options.healthy() ? json(200, { status: "ok" }) : json(503, { status: "stopping" });
    if (path !== "/metrics") return fail(404, "route_not_found", `no route for ${req.method} ${path}`);
    options.registry.metrics().then(
      (text) => res.writeHead(200, { "Content-Type": options.registry.contentType }).end(text),
      (err: unknown) => fail(500, "internal_error", `could not collect metrics: ${(err as Error).message}`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host.includes(":") ? `[${options.host}]` : options.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

/**
 * Starts the worker's metrics server as configured: `port` null = off. When the port was not chosen
 * explicitly (the default) and is taken, as when several workers share a host, the worker runs
 * without one and says so; an explicitly configured port that cannot be bound is an error.
 */
export async function startWorkerMetricsServer(
  options: Omit<MetricsServerOptions, "port"> & { port: number | null; portIsDefault: boolean; logger: Logger },
): Promise<RunningMetricsServer | null> {
  if (options.port === null) return null;
  try {
    return await startMetricsServer({ ...options, port: options.port });
  } catch (err) {
    if (options.portIsDefault && (err as NodeJS.ErrnoException).code === "EADDRINUSE") {
      options.logger.warn(
        { port: options.port },
        "metrics port in use (another worker on this host?): running without /metrics; set METRICS_PORT to a free port, 0 for any, or off",
      );
      return null;
    }
    throw new Error(`cannot serve metrics on ${options.host}:${options.port} (METRICS_PORT): ${(err as Error).message}`);
  }
}
