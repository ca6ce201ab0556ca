/**
 * The FinOps report and registration suite against PostgreSQL (CONSOLE_MCP_DB_URL).
 */
import { finopsSuite } from "../http/finops-suite";
import { createPgDatabase, describePg } from "../helpers/pg";
import { startTestServer } from "../helpers/server";

describePg("finops on PostgreSQL", () => {
  finopsSuite("pg", async () => {
    const db = await createPgDatabase();
    const server = await startTestServer({ CONSOLE_MCP_DB_URL: db.url });
    return {
      server,
      async stop() {
        await server.stop();
        await db.drop();
      },
    };
  });
});
