/**
 * Rollup stripes (migration 012) on PostgreSQL (a database of its own per store): concurrent
 * writers on two store handles, a writer that does not wait for another's commit, migration 012.
 */
import { createPgDatabase, describePg } from "../helpers/pg";
import { stripesSuite } from "../http/telemetry-stripes-suite";

describePg("rollup stripes on PostgreSQL", () => {
  stripesSuite("pg", async () => {
    const db = await createPgDatabase();
    return { env: { CONSOLE_MCP_DB_URL: db.url }, drop: () => db.drop() };
  });
});
