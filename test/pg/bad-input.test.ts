import { badInputSuite } from "../http/bad-input-suite";
import { createPgDatabase, describePg, PgDatabase } from "../helpers/pg";

describePg("bad request input on PostgreSQL", () => {
  let db: PgDatabase;
  beforeAll(async () => {
    db = await createPgDatabase();
  });
  afterAll(() => db?.drop());
  badInputSuite(() => ({ CONSOLE_MCP_DB_URL: db.url }), "pg");
});
