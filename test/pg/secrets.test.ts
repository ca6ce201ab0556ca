/** Secrets over HTTP on PostgreSQL (CONSOLE_MCP_TEST_PG_URL; suite: ../http/secrets-suite.ts). */
import { createPgDatabase, describePg } from "../helpers/pg";
import { secretsSuite } from "../http/secrets-suite";

describePg("secrets on PostgreSQL", () => {
  secretsSuite("postgresql", async () => {
    const db = await createPgDatabase();
    return { env: { CONSOLE_MCP_DB_URL: db.url }, drop: () => db.drop() };
  });
});
