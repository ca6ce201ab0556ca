#!/usr/bin/env node
// Development entrypoint (binds 127.0.0.1 by default). `npm run dev` adds hot reload.
require("tsx/cjs");
require("./dev.ts");
