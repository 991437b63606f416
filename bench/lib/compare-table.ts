// The backends side by side: each figure on Redis and on Postgres from the same run, the ratio
// Postgres / Redis, and the target of the issue "Runs with nothing but Node" where it sets one.
import { renderBoxTable, type Cell } from "@kex/testing";
import { fmt, fmtBytes, fmtInt, fmtMs } from "./report";
import type { Results } from "./results";

/** Postgres at least this share of Redis, end to end and at ingest. */
export const TARGET_PG_RATIO = 0.5;

type Line = { section: string } | { metric: string; values: number[]; show: (n: number) => string; higherIsBetter?: boolean; target?: number };

/** `results` in run order (redis first when both ran); the ratio is last / first. */
export function compareRows(results: Results[]): string {
  const lines: Line[] = [];
  const pick = (f: (r: Results) => number | undefined) => results.map((r) => f(r) ?? NaN);
  const perS = (n: number) => `${fmtInt(n)}/s`;
  const ms = (n: number) => `${fmt(n, 2)} ms`;
  lines.push({ section: "raw BullMQ on each backend (the ceiling)" });
  lines.push({ metric: "addBulk, jobs/s", values: pick((r) => r.baseline?.addBulkJobsPerS), show: perS, higherIsBetter: true });
  lines.push({ metric: "no-op Worker drain, jobs/s", values: pick((r) => r.baseline?.processJobsPerS), show: perS, higherIsBetter: true });
  lines.push({ metric: "packages/queue enqueueSubmits alone, jobs/s", values: pick((r) => r.baseline?.enqueueSubmitsJobsPerS), show: perS, higherIsBetter: true });
  lines.push({ section: "the orchestrator" });
  lines.push({ metric: "ingest (POST /v1/batches), jobs/s", values: pick((r) => r.ingest?.jobsPerS), show: perS, higherIsBetter: true, target: TARGET_PG_RATIO });
  lines.push({ metric: "  ratio to raw addBulk", values: pick((r) => r.ingest?.ratioToAddBulk ?? undefined), show: (n) => fmt(n, 2) });
  lines.push({ metric: "  CPU ms per job, all processes", values: pick((r) => r.ingest?.cpuMsPerJob.ours), show: ms });
  lines.push({ metric: "  Postgres transactions per job", values: pick((r) => r.ingest?.pgPerJob.transactions), show: (n) => fmt(n, 3) });
  // An incomplete run (timed out) still has a rate: the jobs that finished over the time it ran.
  const incomplete = results.filter((r) => r.e2e && !r.e2e.completed).map((r) => `${r.queueBackend} ${fmtInt(r.e2e!.finished)}/${fmtInt(r.e2e!.jobs)}`);
  lines.push({
    metric: `end to end, jobs/s${incomplete.length ? ` (timed out: ${incomplete.join(", ")} finished)` : ""}`,
    values: pick((r) => r.e2e?.jobsPerS),
    show: perS,
    higherIsBetter: true,
    target: TARGET_PG_RATIO,
  });
  lines.push({ metric: "  ratio to the no-op worker", values: pick((r) => r.e2e?.ratioToNoop ?? undefined), show: (n) => fmt(n, 3) });
  for (const k of ["ours", "api", "worker", "sandbox", "postgres", "redis"]) {
    lines.push({ metric: `  CPU ms per job: ${k === "ours" ? "all processes" : k}`, values: pick((r) => r.e2e?.cpuMsPerJob[k] ?? (k === "redis" ? 0 : undefined)), show: ms });
  }
  lines.push({ metric: "  Postgres transactions per job", values: pick((r) => r.e2e?.pgPerJob.transactions), show: (n) => fmt(n, 1) });
  lines.push({ metric: "  Postgres rows written per job (all schemas)", values: pick((r) => r.e2e && r.e2e.pgPerJob.rowsInserted! + r.e2e.pgPerJob.rowsUpdated! + (r.e2e.pgPerJob.rowsDeleted ?? 0)), show: (n) => fmt(n, 1) });
  lines.push({ metric: "  of them in the queue's schema", values: pick((r) => r.e2e?.pgPerJob.queueRowsWritten), show: (n) => fmt(n, 1) });
  const get = (r: Results) => r.growth.get[0];
  lines.push({ metric: `status GET, requests/s`, values: pick((r) => get(r)?.rps), show: perS, higherIsBetter: true });
  lines.push({ metric: "  p50 / p99 (the p99 shown)", values: pick((r) => get(r)?.p99Ms), show: (n) => `${fmtMs(n)} ms` });
  lines.push({ metric: "queue storage per waiting job (ours, after ingest)", values: pick((r) => r.ingest?.storageBytesPerWaitingJob), show: fmtBytes });
  lines.push({ metric: "  raw addBulk per waiting job", values: pick((r) => r.baseline?.storageBytesPerWaitingJob), show: fmtBytes });
  lines.push({ section: "machine (shared: other engineers' work runs too)" });
  lines.push({ metric: "load average (1 min) at start / end of each backend", values: pick((r) => r.machine.load1AtStart), show: (n) => fmt(n, 1) });
  const ends = results.map((r) => r.machine.load1AtEnd ?? NaN);

  const header = ["metric", ...results.map((r) => r.queueBackend), results.length === 2 ? `${results[1]!.queueBackend} / ${results[0]!.queueBackend}` : "ratio", "target", ""];
  const rows: Array<Cell[] | { section: string }> = lines.map((l) => {
    if ("section" in l) return l;
    const first = l.values[0]!;
    const last = l.values[l.values.length - 1]!;
    const ratio = last / first;
    const values = l.values.map((v, i) => (l.metric.startsWith("load average") ? `${l.show(v)} / ${fmt(ends[i]!, 1)}` : l.show(v)));
    const hasTarget = l.target !== undefined && results.length > 1;
    return [
      l.metric,
      ...values,
      Number.isFinite(ratio) && results.length > 1 && !l.metric.startsWith("load average") ? `${fmt(ratio, 2)}×` : "",
      hasTarget ? `≥ ${l.target}×` : "",
      hasTarget ? (ratio >= l.target! ? "✓" : "✗") : "",
    ];
  });
  return renderBoxTable(header, rows, [1, 2, 3].slice(0, results.length + 1));
}
