/** A server leaves the catalog only once its process is gone, on PostgreSQL (CONSOLE_MCP_TEST_PG_URL; suite: ../http/runtime-delete-suite.ts). */
import { createPgDatabase, describePg } from "../helpers/pg";
import { runtimeDeleteSuite } from "../http/runtime-delete-suite";

describePg("runtime delete on PostgreSQL", () => {
  runtimeDeleteSuite("postgresql", async () => {
    const db = await createPgDatabase();
    return { env: { CONSOLE_MCP_DB_URL: db.url }, drop: () => db.drop() };
  });
});
