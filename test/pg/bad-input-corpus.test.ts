import { badInputCorpusSuite } from "../http/bad-input-corpus-suite";
import { createPgDatabase, describePg, PgDatabase } from "../helpers/pg";

describePg("generated bad-input corpus on PostgreSQL", () => {
  let db: PgDatabase;
  beforeAll(async () => {
    db = await createPgDatabase();
  });
  afterAll(() => db?.drop());
  badInputCorpusSuite(() => ({ CONSOLE_MCP_DB_URL: db.url }), 20251130, 1600);
});
