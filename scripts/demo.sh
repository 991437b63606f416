#!/usr/bin/env bash
# `npm run demo` from a fresh clone: installs if needed, then runs scripts/demo.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/tsx ]; then
  echo "installing dependencies (npm ci)…"
  npm ci --no-audit --no-fund
fi
exec node_modules/.bin/tsx scripts/demo.ts "$@"
