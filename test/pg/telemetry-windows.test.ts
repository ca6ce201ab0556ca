/**
 * The rollup levels behind the dashboard reads over random windows, on PostgreSQL (a database of
 * its own per store).
 */
import { createPgDatabase, describePg } from "../helpers/pg";
import { windowsSuite } from "../http/telemetry-windows-suite";

describePg("rollup levels and random windows on PostgreSQL", () => {
  windowsSuite("pg", async () => {
    const db = await createPgDatabase();
    return { env: { CONSOLE_MCP_DB_URL: db.url }, drop: () => db.drop() };
  });
});
