/** The MCP runtime over HTTP on PostgreSQL (CONSOLE_MCP_TEST_PG_URL; suite: ../http/runtime-suite.ts). */
import { createPgDatabase, describePg } from "../helpers/pg";
import { runtimeSuite } from "../http/runtime-suite";

describePg("runtime on PostgreSQL", () => {
  runtimeSuite("postgresql", async () => {
    const db = await createPgDatabase();
    return { env: { CONSOLE_MCP_DB_URL: db.url }, drop: () => db.drop() };
  });
});
