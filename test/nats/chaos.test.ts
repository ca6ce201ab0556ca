/** The chaos suite (test/nats/chaos-suite.ts) on one SQLite file shared by every process. */
import path from "node:path";
import { chaosSuite } from "./chaos-suite";

chaosSuite("SQLite", async (dir) => ({ CONSOLE_MCP_DB_PATH: path.join(dir, "console.db") }));
