/**
 * Latency percentiles above and below the 10,000-run threshold (sketches vs exact), on PostgreSQL
 * (a database of its own).
 */
import { createPgDatabase, describePg } from "../helpers/pg";
import { percentilesSuite } from "../http/telemetry-percentiles-suite";

describePg("latency percentiles on PostgreSQL", () => {
  percentilesSuite("pg", async () => {
    const db = await createPgDatabase();
    return { env: { CONSOLE_MCP_DB_URL: db.url }, drop: () => db.drop() };
  });
});
