// `npx tsx bench/profile-summary.ts <file.cpuprofile> [--results <bench json> --phase <name>] [--top N]`:
// where a profiled app spent its CPU, over the whole run or one phase of it. Profiles come from
// `BENCH_PROFILE=api,worker npm run bench` (bench/results/profiles/<run>/<app>/); phase windows
// (`ingest`, `get@10000`, `webhook`, `e2e`, …) are in the run's JSON under `phaseWindows`.
import { readFileSync } from "node:fs";
import { formatSummary, summarize } from "./lib/cpuprofile";

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const file = args.find((a, i) => !a.startsWith("--") && !(i > 0 && args[i - 1]!.startsWith("--")));
if (!file) {
  process.stderr.write("usage: tsx bench/profile-summary.ts <file.cpuprofile> [--results <run.json> --phase <name>] [--top N]\n");
  process.exit(2);
}
let window: { startUs: number; endUs: number } | undefined;
const resultsFile = opt("--results");
const phase = opt("--phase");
if (resultsFile && phase) {
  const results = JSON.parse(readFileSync(resultsFile, "utf8")) as { phaseWindows?: Array<{ name: string; startUs: number; endUs: number }> };
  window = results.phaseWindows?.find((w) => w.name === phase);
  if (!window) {
    process.stderr.write(`no phase ${phase} in ${resultsFile}; known: ${(results.phaseWindows ?? []).map((w) => w.name).join(", ")}\n`);
    process.exit(2);
  }
}
process.stdout.write(`${phase ? `phase ${phase}: ` : ""}${formatSummary(summarize(file, Number(opt("--top") ?? 25), window))}\n`);
