/** SIGTERM of the embedded server under load (test/http/shutdown-suite.ts) on PostgreSQL. */
import { embeddedShutdownSuite } from "../http/shutdown-suite";
import { createPgDatabase, describePg, PgDatabase } from "../helpers/pg";

describePg("shutdown on PostgreSQL", () => {
  let db: PgDatabase | undefined;
  afterAll(async () => db?.drop());
  embeddedShutdownSuite("PostgreSQL", async () => {
    db = await createPgDatabase();
    return { CONSOLE_MCP_DB_URL: db.url };
  });
});
