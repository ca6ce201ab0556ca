import { catalogServicesSuite } from "../services/catalog-suite";
import { createPgDatabase, describePg } from "../helpers/pg";

describePg("server catalog on PostgreSQL", () => {
  catalogServicesSuite("PostgreSQL", async () => {
    const db = await createPgDatabase();
    return { env: { CONSOLE_MCP_DB_URL: db.url }, drop: () => db.drop() };
  });
});
