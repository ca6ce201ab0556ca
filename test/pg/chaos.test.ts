/** The chaos suite (test/nats/chaos-suite.ts) on one PostgreSQL database shared by every process. */
import { chaosSuite } from "../nats/chaos-suite";
import { createPgDatabase, describePg, PgDatabase } from "../helpers/pg";

describePg("chaos on PostgreSQL", () => {
  let db: PgDatabase | undefined;
  chaosSuite(
    "PostgreSQL",
    async () => {
      db = await createPgDatabase();
      return { CONSOLE_MCP_DB_URL: db.url };
    },
    async () => db?.drop(),
  );
});
