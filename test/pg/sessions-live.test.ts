/** Live sessions on PostgreSQL (CONSOLE_MCP_TEST_PG_URL; suite: ../services/sessions-live-suite.ts). */
import { createPgDatabase, describePg } from "../helpers/pg";
import { sessionsLiveSuite } from "../services/sessions-live-suite";

describePg("live sessions on PostgreSQL", () => {
  sessionsLiveSuite("PostgreSQL", async () => {
    const db = await createPgDatabase();
    return { env: { CONSOLE_MCP_DB_URL: db.url }, knex: { dbUrl: db.url, dbPath: "" }, drop: () => db.drop() };
  });
});
