// Compiles `kex` to one CommonJS file, dist/kex.js, that plain `node` runs: no TypeScript compiler at
// run time. esbuild bundles the workspace packages the CLI imports (@kex/contract ships TypeScript
// sources, which node cannot load) with the npm dependencies, so a call reads one minified file.
// Types are checked by `tsc` (the `typecheck` script), not here. The file is written under a temporary
// name and renamed, so a `kex` started during a build never reads half a file.
import { build } from "esbuild";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const outfile = path.join(root, "dist/kex.js");

const result = await build({
  entryPoints: [path.join(root, "src/main.ts")],
  outfile,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  minify: true,
  // Class and function names stay readable in an `internal error` stack trace.
  keepNames: true,
  sourcemap: "linked",
  legalComments: "linked",
  logLevel: "warning",
  write: false,
});
mkdirSync(path.dirname(outfile), { recursive: true });
// The bundle last: its presence means the build is complete.
const files = [...result.outputFiles].sort((a, b) => (a.path === outfile) - (b.path === outfile));
for (const file of files) {
  const partial = `${file.path}.${process.pid}.partial`;
  writeFileSync(partial, file.contents);
  renameSync(partial, file.path);
}
