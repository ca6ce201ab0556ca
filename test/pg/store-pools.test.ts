/**
 * The store's write and read pools under concurrency, and group-commit ingestion, on PostgreSQL.
 */
import { createPgDatabase, describePg } from "../helpers/pg";
import { storePoolsSuite } from "../http/store-pools-suite";

describePg("store pools on PostgreSQL", () => {
  storePoolsSuite("pg", async () => {
    const db = await createPgDatabase();
    return { env: { CONSOLE_MCP_DB_URL: db.url }, drop: () => db.drop() };
  });
});
