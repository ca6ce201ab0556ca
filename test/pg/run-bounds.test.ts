/**
 * Sums that cannot overflow the store (issue 7), on PostgreSQL (a database of its own per store).
 */
import { createPgDatabase, describePg } from "../helpers/pg";
import { runBoundsSuite } from "../http/run-bounds-suite";

describePg("run value bounds on PostgreSQL", () => {
  runBoundsSuite("pg", async () => {
    const db = await createPgDatabase();
    return { env: { CONSOLE_MCP_DB_URL: db.url }, drop: () => db.drop() };
  });
});
