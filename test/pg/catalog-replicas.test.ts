import { catalogReplicasSuite } from "../nats/catalog-replicas-suite";
import { createPgDatabase, describePg, PgDatabase } from "../helpers/pg";

describePg("server catalog replicas on PostgreSQL", () => {
  let db: PgDatabase | undefined;
  catalogReplicasSuite(
    "PostgreSQL",
    async () => {
      db = await createPgDatabase();
      return { CONSOLE_MCP_DB_URL: db.url };
    },
    async () => db?.drop(),
  );
});
