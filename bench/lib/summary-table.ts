// The bench's one table: every figure next to its target, from a run's results.
import type { BenchConfig } from "./config";
import { fmt, fmtBytes, fmtInt, fmtMs, type Row } from "./report";
import type { Results } from "./results";

// ---------- targets (issue "See it and scale it", part 4) ----------
export const TARGET = {
  ingestJobsPerS: 10_000,
  ingestRatio: 0.3,
  e2eJobsPerS: 2_000,
  webhookP99Ms: 20,
  getP99Ms: 5,
  redisBytesPerJob: 1024,
  /** "Flat": cost per job at the largest size at most this many times the cost at the smallest. */
  flatFactor: 1.5,
};

export function tableRows(r: Results, cfg: BenchConfig): Row[] {
  const rows: Row[] = [];
  const cpuRow = (label: string, c: Record<string, number>): Row => ({
    metric: label,
    value: ["api", "worker", "sandbox", "postgres", "redis"]
      .filter((k) => c[k] !== undefined)
      .map((k) => `${k} ${fmt(c[k]!, 2)}`)
      .join(" · "),
  });
  /**
   * What this machine could do if nothing else ran and only this CPU per job were spent: all our
   * processes share the cores, and each single-threaded one (api, worker, sandbox: Node; Redis) can
   * use at most one. A noise-free ceiling to read next to the measured rate on a shared machine.
   */
  const ceilingRow = (c: Record<string, number>, unit: string): Row => {
    const bounds: Array<[string, number]> = [[`${r.machine.cores} cores`, (r.machine.cores * 1000) / Math.max(1e-9, c.ours!)]];
    for (const k of ["api", "worker", "sandbox", "redis"]) if (c[k]) bounds.push([`${k} (one thread)`, 1000 / c[k]!]);
    bounds.sort((x, y) => x[1] - y[1]);
    return { metric: `  → CPU-bound ceiling (bound: ${bounds[0]![0]})`, value: `${fmtInt(bounds[0]![1])} ${unit}/s` };
  };
  const b = r.baseline;
  if (b) {
    rows.push({ section: `baseline: raw BullMQ on the same ${r.queueBackend === "redis" ? "Redis" : "Postgres"} (${fmtInt(b.jobs)} jobs)`, metric: "", value: "" });
    rows.push({ metric: `raw addBulk, chunks of ${b.chunk}`, value: `${fmtInt(b.addBulkJobsPerS)} jobs/s`, target: "ceiling" });
    rows.push({ metric: `no-op Worker, concurrency ${b.concurrency}`, value: `${fmtInt(b.processJobsPerS)} jobs/s`, target: "ceiling" });
    rows.push({ metric: "packages/queue enqueueSubmits alone (queue only)", value: `${fmtInt(b.enqueueSubmitsJobsPerS)} jobs/s` });
  }
  const ing = r.ingest;
  if (ing) {
    rows.push({ section: `bulk ingest: ${ing.batches} × POST /v1/batches of ${fmtInt(cfg.batchSize)} (worker stopped)`, metric: "", value: "" });
    rows.push({ metric: `${fmtInt(ing.jobs)} jobs`, value: `${fmtInt(ing.jobsPerS)} jobs/s`, target: `≥ ${fmtInt(TARGET.ingestJobsPerS)} jobs/s`, ok: ing.jobsPerS >= TARGET.ingestJobsPerS });
    if (ing.ratioToAddBulk !== null) rows.push({ metric: "ratio to raw addBulk", value: fmt(ing.ratioToAddBulk, 2), target: `≥ ${TARGET.ingestRatio}`, ok: ing.ratioToAddBulk >= TARGET.ingestRatio });
    rows.push(cpuRow("CPU ms per job", ing.cpuMsPerJob));
    rows.push(ceilingRow(ing.cpuMsPerJob, "jobs"));
  }
  const e = r.e2e;
  if (e) {
    rows.push({ section: `end to end: first POST → last job succeeded (WORKER_CONCURRENCY ${e.workerConcurrency}, KLING_MAX_IN_FLIGHT ${e.maxInFlight})`, metric: "", value: "" });
    rows.push({
      metric: `${fmtInt(e.jobs)} jobs${e.completed ? "" : ` (only ${fmtInt(e.finished)} finished)`}`,
      value: `${fmtInt(e.jobsPerS)} jobs/s`,
      target: `≥ ${fmtInt(TARGET.e2eJobsPerS)} jobs/s`,
      ok: e.completed && e.jobsPerS >= TARGET.e2eJobsPerS,
    });
    if (e.ratioToNoop !== null) rows.push({ metric: "ratio to no-op worker", value: fmt(e.ratioToNoop, 3) });
    rows.push(cpuRow("CPU ms per job", e.cpuMsPerJob));
    rows.push(ceilingRow(e.cpuMsPerJob, "jobs"));
    rows.push({ metric: "Postgres transactions / rows written per job", value: `${fmt(e.pgPerJob.transactions!, 1)} / ${fmt(e.pgPerJob.rowsInserted! + e.pgPerJob.rowsUpdated!, 1)}` });
    if (e.sandbox) rows.push({ metric: "callbacks lost (sandbox gave up after retries)", value: fmtInt(Number(e.sandbox.callbacksFailed ?? 0)) });
  }
  const w = r.webhook;
  if (w) {
    rows.push({ section: `webhook receiver: duplicate 'processing' callbacks, autocannon ${w.connections} connections × ${fmt(w.durationS, 0)} s`, metric: "", value: "" });
    rows.push({ metric: "callbacks/s", value: fmtInt(w.rps) });
    rows.push({ metric: "latency p50 / p99", value: `${fmtMs(w.p50Ms)} / ${fmtMs(w.p99Ms)} ms`, target: `p99 ≤ ${TARGET.webhookP99Ms} ms`, ok: w.p99Ms <= TARGET.webhookP99Ms && !w.non2xx });
    rows.push(cpuRow("CPU ms per callback", w.cpuMsPerCallback));
    rows.push(ceilingRow(w.cpuMsPerCallback, "callbacks"));
  }
  const g = r.growth;
  if (g.ingest.length || g.get.length) {
    rows.push({ section: `growth: one ${fmtInt(cfg.batchSize)}-job batch and GET /v1/extensions/:id (${cfg.connections} connections) at each size`, metric: "", value: "" });
    for (const p of g.ingest) rows.push({ metric: `ingest batch at ${fmtInt(p.rowsAfter)} rows`, value: `${fmtInt(p.jobsPerS)} jobs/s · ${fmt(p.usPerJob, 0)} µs/job · api CPU ${fmt((p.apiCpuMs * 1000) / p.batchSize, 0)} µs/job` });
    const i0 = g.ingest[0];
    const i1 = g.ingest[g.ingest.length - 1];
    if (i0 && i1 && i1 !== i0) {
      const f = i1.usPerJob / i0.usPerJob;
      rows.push({ metric: `  ingest wall time per job, ${fmtInt(i1.rowsAfter)} vs ${fmtInt(i0.rowsAfter)} rows`, value: `${fmt(f, 2)}×`, target: `flat (≤ ${TARGET.flatFactor}×)`, ok: f <= TARGET.flatFactor });
    }
    for (const p of g.get) {
      rows.push({
        metric: `status GET at ${fmtInt(p.rows)} rows: p50 / p99`,
        value: `${fmtMs(p.p50Ms)} / ${fmtMs(p.p99Ms)} ms · ${fmtInt(p.rps)}/s · api ${fmt(p.apiCpuUsPerRequest, 0)} µs`,
        target: `p99 ≤ ${TARGET.getP99Ms} ms`,
        ok: p.p99Ms <= TARGET.getP99Ms && !p.non2xx,
      });
      for (const [what, f] of [["node:http", p.floor], ["one bare Express route", p.expressFloor]] as const) {
        if (!f) continue;
        rows.push({
          metric: `  floor, same query and JSON: ${what}`,
          value: `${fmtMs(f.p50Ms)} / ${fmtMs(f.p99Ms)} ms · ${fmtInt(f.rps)}/s · api at ${fmt(p.rps / f.rps, 2)}× its rate`,
        });
      }
    }
    const g0 = g.get[0];
    const g1 = g.get[g.get.length - 1];
    if (g0 && g1 && g1 !== g0) {
      const f = g1.apiCpuUsPerRequest / g0.apiCpuUsPerRequest;
      rows.push({ metric: `  GET api CPU per request, ${fmtInt(g1.rows)} vs ${fmtInt(g0.rows)} rows`, value: `${fmt(f, 2)}×`, target: `flat (≤ ${TARGET.flatFactor}×)`, ok: f <= TARGET.flatFactor });
    }
  }
  rows.push({ section: "memory", metric: "", value: "" });
  if (ing && r.queueBackend === "redis") {
    rows.push({
      metric: `Redis per waiting job (used_memory Δ / ${fmtInt(ing.waitingJobs)})`,
      value: fmtBytes(ing.storageBytesPerWaitingJob),
      target: "≤ 1 KiB",
      ok: ing.storageBytesPerWaitingJob <= TARGET.redisBytesPerJob,
    });
    rows.push({ metric: "  cross-check: MEMORY USAGE of the keys", value: fmtBytes(ing.redisKeyBytesPerJob ?? NaN) });
  } else if (ing) {
    rows.push({ metric: `Postgres per waiting job (queue schema's size Δ / ${fmtInt(ing.waitingJobs)})`, value: fmtBytes(ing.storageBytesPerWaitingJob) });
  }
  if (b) rows.push({ metric: "  raw addBulk / enqueueSubmits per waiting job", value: `${fmtBytes(b.storageBytesPerWaitingJob)} / ${fmtBytes(b.enqueueSubmitsBytesPerJob)}` });
  const afterIngest = r.peakRssAfter.ingest?.api;
  if (afterIngest) rows.push({ metric: "api peak RSS after the ingest phase", value: fmtBytes(afterIngest) });
  rows.push({
    metric: "peak RSS (VmHWM): api / worker / sandbox",
    value: `${fmtBytes(r.peakRss.api ?? NaN)} / ${fmtBytes(r.peakRss.worker ?? NaN)} / ${fmtBytes(r.peakRss.sandbox ?? NaN)}`,
  });
  return rows;
}
