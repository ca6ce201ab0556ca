/** The audit log over HTTP on PostgreSQL (CONSOLE_MCP_TEST_PG_URL; suite: ../http/audit-suite.ts). */
import { createPgDatabase, describePg } from "../helpers/pg";
import { auditSuite } from "../http/audit-suite";

describePg("audit on PostgreSQL", () => {
  auditSuite("postgresql", async () => {
    const db = await createPgDatabase();
    return { env: { CONSOLE_MCP_DB_URL: db.url }, drop: () => db.drop() };
  });
});
