import { Counter, createMetricsRegistry, Gauge } from "./metrics";
import { parseMetrics, sumSamples } from "./scrape";

describe("parseMetrics / sumSamples", () => {
  it("reads what a registry exposes, labels and all", async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const counter = new Counter({ name: "t_total", help: "h", labelNames: ["kind", "code"], registers: [registry] });
    counter.inc({ kind: "a", code: "0" }, 2);
    counter.inc({ kind: "b", code: "0" }, 3);
    counter.inc({ kind: "b", code: 'x"y' });
    new Gauge({ name: "t_gauge", help: "h", registers: [registry] }).set(Number.NaN);
    const samples = parseMetrics(await registry.metrics());
    expect(sumSamples(samples, "t_total")).toBe(6);
    expect(sumSamples(samples, "t_total", { code: "0" })).toBe(5);
    expect(sumSamples(samples, "t_total", { kind: "b", code: 'x"y' })).toBe(1);
    expect(sumSamples(samples, "t_missing")).toBe(0);
    expect(samples.find((s) => s.name === "t_gauge")?.value).toBeNaN();
  });

  it("keeps registries apart (one per api or worker in the same process)", async () => {
    const a = createMetricsRegistry();
    const b = createMetricsRegistry();
    new Counter({ name: "same_total", help: "h", registers: [a] }).inc(1);
    new Counter({ name: "same_total", help: "h", registers: [b] }).inc(7);
    expect(sumSamples(parseMetrics(await a.metrics()), "same_total")).toBe(1);
    expect(sumSamples(parseMetrics(await b.metrics()), "same_total")).toBe(7);
    // Node's default process metrics are there too.
    expect(parseMetrics(await a.metrics()).some((s) => s.name === "process_cpu_user_seconds_total")).toBe(true);
  });
});
