#!/usr/bin/env node
// Production entrypoint: runs the TypeScript sources through tsx's loader (no build step needed).
require("tsx/cjs");
require("./start.ts");
