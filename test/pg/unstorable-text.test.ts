import { unstorableTextSuite } from "../http/unstorable-text-suite";
import { createPgDatabase, describePg, PgDatabase } from "../helpers/pg";

describePg("unstorable text on PostgreSQL", () => {
  let db: PgDatabase;
  beforeAll(async () => {
    db = await createPgDatabase();
  });
  afterAll(() => db?.drop());
  unstorableTextSuite(() => ({ CONSOLE_MCP_DB_URL: db.url }));
});
