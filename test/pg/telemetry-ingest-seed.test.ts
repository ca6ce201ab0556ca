/**
 * Ingestion (§11) and store seeding (§4) against PostgreSQL (CONSOLE_MCP_DB_URL): the same suites as
 * on SQLite, each test on a database of its own, including brokers that start together on one empty
 * database.
 */
import { createPgDatabase, describePg } from "../helpers/pg";
import { ingestSuite } from "../http/telemetry-ingest-suite";
import { seedSuite } from "../services/store-seed-suite";

async function pgStore() {
  const db = await createPgDatabase();
  return { env: { CONSOLE_MCP_DB_URL: db.url }, drop: () => db.drop() };
}

describePg("telemetry ingestion and seeding on PostgreSQL", () => {
  ingestSuite("pg", pgStore);
  seedSuite("pg", pgStore);
});
