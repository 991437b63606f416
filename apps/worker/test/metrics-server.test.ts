import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createLogger } from "@kex/core";
import { createMetricsRegistry } from "@kex/metrics";
import request from "supertest";
import { WorkerConfigSchema } from "../src/config";
import { startWorkerMetricsServer } from "../src/metrics-server";

const silent = createLogger({ name: "worker", level: "silent" });

describe("METRICS_PORT", () => {
  const base = { CALLBACK_SECRET: "c".repeat(16), KLING_API_KEY: "k" };
  it("is unset by default (9464, tolerant), a port, 0 for any, or off", () => {
    expect(WorkerConfigSchema.parse(base).METRICS_PORT).toBeUndefined();
    expect(WorkerConfigSchema.parse({ ...base, METRICS_PORT: "" }).METRICS_PORT).toBeUndefined();
    expect(WorkerConfigSchema.parse({ ...base, METRICS_PORT: "9100" }).METRICS_PORT).toBe(9100);
    expect(WorkerConfigSchema.parse({ ...base, METRICS_PORT: "0" }).METRICS_PORT).toBe(0);
    expect(WorkerConfigSchema.parse({ ...base, METRICS_PORT: "off" }).METRICS_PORT).toBe("off");
    expect(WorkerConfigSchema.parse(base).METRICS_HOST).toBe("127.0.0.1");
    for (const bad of ["-1", "65536", "nine", "1.5"]) {
      const parsed = WorkerConfigSchema.safeParse({ ...base, METRICS_PORT: bad });
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]?.path).toEqual(["METRICS_PORT"]);
    }
  });
});

describe("the worker's metrics server", () => {
  let taken: Server;
  let takenPort: number;
  beforeAll(async () => {
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    takenPort = (taken.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => taken.close(() => resolve())));

  const options = { registry: createMetricsRegistry({ defaultMetrics: false }), host: "127.0.0.1", healthy: () => true, logger: silent };

  it("is off with port null", async () => {
    expect(await startWorkerMetricsServer({ ...options, port: null, portIsDefault: false })).toBeNull();
  });

  it("runs without one when the default port is taken, but fails on an explicitly configured port that is taken", async () => {
    expect(await startWorkerMetricsServer({ ...options, port: takenPort, portIsDefault: true })).toBeNull();
    await expect(startWorkerMetricsServer({ ...options, port: takenPort, portIsDefault: false })).rejects.toThrow(/METRICS_PORT/);
  });

  it("serves /healthz (503 once unhealthy) and nothing but /metrics otherwise", async () => {
    let healthy = true;
    const server = await startWorkerMetricsServer({ ...options, healthy: () => healthy, port: 0, portIsDefault: false });
    try {
      expect(server).not.toBeNull();
      await request(server!.url).get("/healthz").expect(200, { status: "ok" });
      healthy = false;
      await request(server!.url).get("/healthz").expect(503);
      await request(server!.url).get("/metrics").expect(200);
      await request(server!.url).get("/other").expect(404);
      await request(server!.url).post("/metrics").expect(405);
    } finally {
      await server?.close();
    }
  });
});
