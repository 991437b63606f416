#!/usr/bin/env node
// The `kex` command: registers tsx's require hook (the workspaces ship TypeScript sources, as every app here
// runs them through tsx), then runs the TypeScript entry.
"use strict";
require("tsx/cjs");
require("../src/main.ts");
