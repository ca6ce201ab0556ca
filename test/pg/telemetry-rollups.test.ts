/**
 * The daily rollup behind the dashboard reads, on PostgreSQL (a database of its own per store).
 */
import { createPgDatabase, describePg } from "../helpers/pg";
import { rollupSuite } from "../http/telemetry-rollups-suite";

describePg("daily rollups on PostgreSQL", () => {
  rollupSuite("pg", async () => {
    const db = await createPgDatabase();
    return { env: { CONSOLE_MCP_DB_URL: db.url }, drop: () => db.drop() };
  });
});
