import { COLLECT_TIMEOUT_MS, createMetricsRegistry, parseMetrics, sumSamples } from "@kex/metrics";
import { registerWorkerGauges, upstreamResultCode } from "./metrics";

describe("upstreamResultCode", () => {
  it('is "0" for success, else upstream\'s code, else the HTTP status, else no_response', () => {
    expect(upstreamResultCode({ ok: true, data: {} })).toBe("0");
    expect(upstreamResultCode({ ok: false, httpStatus: 400, code: 1203, message: "" })).toBe("1203");
    expect(upstreamResultCode({ ok: false, httpStatus: 502, code: null, message: "" })).toBe("http_502");
    expect(upstreamResultCode({ ok: false, httpStatus: 0, code: null, message: "timeout" })).toBe("no_response");
  });
});

describe("registerWorkerGauges", () => {
  it("reports NaN / no series instead of failing or hanging the scrape when Postgres or Redis do not answer", async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    registerWorkerGauges(registry, {
      countInFlight: () => Promise.reject(new Error("connection refused")),
      limits: { default: 10 },
      queues: [
        { name: "submit", getJobCounts: () => new Promise<Record<string, number>>(() => undefined) },
        { name: "maintenance", getJobCounts: async () => ({ waiting: 2, active: 1, delayed: 0, failed: 3 }) },
      ],
    });
    const started = Date.now();
    const samples = parseMetrics(await registry.metrics());
    expect(Date.now() - started).toBeLessThan(COLLECT_TIMEOUT_MS + 1000);
    expect(samples.find((s) => s.name === "kex_inflight_used")?.value).toBeNaN();
    expect(sumSamples(samples, "kex_inflight_limit")).toBe(10);
    expect(samples.filter((s) => s.name === "kex_queue_jobs" && s.labels.queue === "submit")).toHaveLength(0);
    expect(sumSamples(samples, "kex_queue_jobs", { queue: "maintenance", state: "failed" })).toBe(3);
    expect(sumSamples(samples, "kex_queue_jobs", { queue: "maintenance" })).toBe(6);
  });
});
