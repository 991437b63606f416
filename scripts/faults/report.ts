// The suite's output: one block per scenario (details, checks, notes) and the summary table.
import path from "node:path";
import { renderPairs, renderTable, type Cell } from "@kex/testing";
import { ROOT } from "../lib/services";
import { CAP, SEED, STALL_MS, TIMEOUT_MS, JOBS, say, secs } from "./settings";
import type { Result } from "./types";

export function printScenario(r: Result): void {
  if (process.stdout.isTTY) process.stdout.write("\r\x1b[K");
  const failed = r.error || r.checks.some((c) => !c.ok);
  say(`\n== ${r.scenario.key}: ${r.scenario.title}`);
  if (r.skipped) {
    say(`  skipped: ${r.skipped}`);
    return;
  }
  const a = r.analysis;
  if (a) {
    const s = a.stats;
    const pairs: Array<[string, Cell]> = [
      ["submitted (accepted by the api)", a.submitted],
      [
        "finished",
        `${a.finished}  (succeeded ${a.byStatus["succeeded"] ?? 0}, failed ${a.byStatus["failed"] ?? 0}, canceled ${a.byStatus["canceled"] ?? 0})`,
      ],
      ["lost", a.lost],
      ["jobs with more than one upstream task", s.jobsWithMultipleTasks],
      ["peak in flight upstream / cap", `${s.peakInFlight} / ${CAP}  (Postgres peak ${a.dbPeakInFlight})`],
      [
        "time to converge",
        a.convergeMs !== null
          ? secs(a.convergeMs)
          : a.stalled
            ? `never: stuck (nothing finished for ${secs(STALL_MS)})`
            : `not within ${secs(TIMEOUT_MS)}`,
      ],
      [
        "failed by code",
        Object.entries(a.failureCodes)
          .map(([c, n]) => `${c} ${n}`)
          .join(", ") || "-",
      ],
      ["upstream", `${s.tasksCreated} tasks, ${s.createRequests} create calls, ${s.queryRequests} task queries, rejected ${JSON.stringify(s.rejectedByCode)}`],
      [
        "callbacks",
        `${s.callbacksSent ?? "?"} delivered, ${s.callbacksFailed ?? "?"} failed after retries, ${s.callbacksDropped ?? "?"} dropped, ${s.callbacksDuplicated ?? "?"} duplicated, ${s.callbacksReordered ?? "?"} reordered`,
      ],
      [
        "recovery",
        `${a.answerLost} create answers lost to a crash (${a.adopted} adopted), ${a.sweeperRequeues} sweeper re-enqueues, ${a.reconcilerFixes} reconciler fixes`,
      ],
    ];
    if (a.apiErrors) pairs.push(["api errors while submitting (retried)", a.apiErrors]);
    for (const [k, v] of Object.entries(r.facts)) pairs.push([k, v]);
    say(renderPairs(pairs));
  }
  if (r.checks.length) {
    say("");
    say(
      renderTable(
        ["check", "result", "value"],
        r.checks.map((c) => [c.name, c.ok ? "PASS" : "FAIL", c.detail]),
      ),
    );
  }
  if (r.notes.length) {
    say("\n  timeline / notes:");
    for (const n of r.notes) say(`    ${n}`);
  }
  if (r.diagnosis?.length) {
    say("\n  not final, diagnosis:");
    for (const d of r.diagnosis) say(`    ${d}`);
  }
  if (a && a.convergeMs !== null && a.mismatches.length > 0) {
    say("\n  upstream/Postgres mismatches (first 10):");
    for (const m of a.mismatches.slice(0, 10)) say(`    ${m}`);
  }
  if (r.error) say(`\n  ERROR: ${r.error}`);
  say(
    `\n  logs: ${path.relative(ROOT, path.join(ROOT, ".faults/logs", r.scenario.key))}/   scenario ${failed ? "FAILED" : "passed"} in ${secs(r.durationMs)}`,
  );
}

export function printSummary(results: Result[], totalMs: number): void {
  say("\n== summary");
  const rows = results.map((r): Cell[] => {
    const a = r.analysis;
    if (r.skipped) return [r.scenario.key, "", "", "", "", "", "", "", "SKIP"];
    const result = r.error || r.checks.some((c) => !c.ok) ? "FAIL" : "PASS";
    if (!a) return [r.scenario.key, "", "", "", "", "", "", "", result];
    return [
      r.scenario.key,
      a.submitted,
      a.finished,
      a.byStatus["failed"] ?? 0,
      a.lost,
      a.stats.jobsWithMultipleTasks,
      `${a.stats.peakInFlight}/${CAP}`,
      a.convergeMs !== null ? secs(a.convergeMs) : a.stalled ? "stuck" : "timeout",
      result,
    ];
  });
  say(renderTable(["scenario", "submitted", "finished", "failed", "lost", "multi-task", "peak/cap", "converge", "result"], rows));
  say(`\n  total ${secs(totalMs)}, seed ${SEED} (FAULTS_SEED=${SEED} repeats the random choices), ${JOBS} jobs per scenario, cap ${CAP}`);
}
