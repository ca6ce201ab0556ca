import { catalogHttpSuite } from "../http/catalog-http-suite";
import { createPgDatabase, describePg, PgDatabase } from "../helpers/pg";

describePg("/servers over HTTP on PostgreSQL", () => {
  let db: PgDatabase;
  beforeAll(async () => {
    db = await createPgDatabase();
  });
  afterAll(() => db?.drop());
  catalogHttpSuite("PostgreSQL", () => ({ CONSOLE_MCP_DB_URL: db.url }));
});
