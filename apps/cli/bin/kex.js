#!/usr/bin/env node
// The `kex` command: runs the compiled CLI (dist/kex.js, built by `npm run build -w @kex/cli`), so a call
// starts plain node with no TypeScript compiler. Working on the CLI itself: `npm run dev -w @kex/cli -- <args>`.
"use strict";
const path = require("node:path");
const compiled = path.join(__dirname, "../dist/kex.js");
try {
  require.resolve(compiled);
} catch {
  process.stderr.write(`kex is not built (${compiled} is missing): run \`npm run build -w @kex/cli\` first\n`);
  process.exit(4);
}
require(compiled);
