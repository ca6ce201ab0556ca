/**
 * The runtime store (§18–§20) on a SQLite file shared by the replicas of each test.
 */
import fs from "node:fs";
import path from "node:path";
import { tempDir } from "../helpers/server";
import { runtimeStoreSuite } from "./runtime-store-suite";

runtimeStoreSuite("sqlite", async () => {
  const dir = tempDir("console-mcp-runtime-store-");
  return {
    settings: { dbUrl: null, dbPath: path.join(dir, "runtime.db") },
    drop: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
});
