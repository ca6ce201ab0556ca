/**
 * The runtime store (§18–§20) on PostgreSQL: the SQLite suite again, each store a database of its own.
 */
import { createPgDatabase, describePg } from "../helpers/pg";
import { runtimeStoreSuite } from "../services/runtime-store-suite";

describePg("runtime store on PostgreSQL", () => {
  runtimeStoreSuite("pg", async () => {
    const db = await createPgDatabase();
    return { settings: { dbUrl: db.url, dbPath: "" }, drop: () => db.drop() };
  });
});
