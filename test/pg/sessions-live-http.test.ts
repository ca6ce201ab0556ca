/** Live sessions over HTTP on PostgreSQL (CONSOLE_MCP_TEST_PG_URL; suite: ../http/sessions-live-suite.ts). */
import { createPgDatabase, describePg, PgDatabase } from "../helpers/pg";
import { sessionsLiveHttpSuite } from "../http/sessions-live-suite";

describePg("live sessions over HTTP on PostgreSQL", () => {
  const dbs: PgDatabase[] = [];
  afterAll(async () => {
    for (const db of dbs) await db.drop();
  });
  let url = "";
  beforeAll(async () => {
    const db = await createPgDatabase();
    dbs.push(db);
    url = db.url;
  });
  sessionsLiveHttpSuite(() => ({ CONSOLE_MCP_DB_URL: url }));
});
