import path from "node:path";
import { catalogServicesSuite } from "./catalog-suite";

catalogServicesSuite("SQLite", async (dir) => ({ env: { CONSOLE_MCP_DB_PATH: path.join(dir, "console.db") }, drop: async () => undefined }));
