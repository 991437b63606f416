// `npx tsx bench/compare.ts <run-redis.json> <run-postgres.json>`: the side-by-side table of `npm run bench`
// (lib/compare-table.ts) again from saved results, e.g. two runs with different settings. Ratio: last ÷ first.
import { readFileSync } from "node:fs";
import { compareRows } from "./lib/compare-table";
import type { Results } from "./lib/results";

const files = process.argv.slice(2);
if (files.length < 2) {
  process.stderr.write("usage: tsx bench/compare.ts <results.json> <results.json> …\n");
  process.exit(2);
}
process.stdout.write(`${compareRows(files.map((f) => JSON.parse(readFileSync(f, "utf8")) as Results))}\n`);
