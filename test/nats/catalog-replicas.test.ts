import path from "node:path";
import { catalogReplicasSuite } from "./catalog-replicas-suite";

catalogReplicasSuite("SQLite", async (dir) => ({ CONSOLE_MCP_DB_PATH: path.join(dir, "console.db") }));
