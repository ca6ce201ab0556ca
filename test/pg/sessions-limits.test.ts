import { sessionsLimitsSuite } from "../http/sessions-limits-suite";
import { createPgDatabase, describePg, PgDatabase } from "../helpers/pg";

describePg("session text limits and GET /sessions paging on PostgreSQL", () => {
  let db: PgDatabase;
  beforeAll(async () => {
    db = await createPgDatabase();
  });
  afterAll(() => db?.drop());
  sessionsLimitsSuite(() => ({ CONSOLE_MCP_DB_URL: db.url }), 2 ** 31 - 1);
});
