#!/usr/bin/env node
// REPL entrypoint: starts the services (development defaults) and opens moleculer-repl.
require("tsx/cjs");
require("./repl.ts");
