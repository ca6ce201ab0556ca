/**
 * The telemetry read suite against PostgreSQL (CONSOLE_MCP_DB_URL): the same queries, the same
 * hand-computed answers.
 */
import { telemetryReadsSuite } from "../http/telemetry-reads-suite";
import { createPgDatabase, describePg } from "../helpers/pg";
import { startTestServer } from "../helpers/server";

describePg("telemetry reads on PostgreSQL", () => {
  telemetryReadsSuite("pg", async (env) => {
    const db = await createPgDatabase();
    const server = await startTestServer({ ...env, CONSOLE_MCP_DB_URL: db.url });
    return {
      server,
      async stop() {
        await server.stop();
        await db.drop();
      },
    };
  });
});
