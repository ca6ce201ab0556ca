/** The MCP runtime over HTTP on a SQLite store (suite: ./runtime-suite.ts). */
import { runtimeSuite } from "./runtime-suite";

runtimeSuite("sqlite", async () => ({ env: {}, drop: async () => undefined }));
