/**
 * Idempotency-Key on POST /telemetry/runs and POST /telemetry/finops/pull-requests, on PostgreSQL.
 */
import { createPgDatabase, describePg } from "../helpers/pg";
import { idempotencySuite } from "../http/idempotency-suite";

describePg("Idempotency-Key on PostgreSQL", () => {
  idempotencySuite("pg", async () => {
    const db = await createPgDatabase();
    return { env: { CONSOLE_MCP_DB_URL: db.url }, drop: () => db.drop() };
  });
});
