/**
 * Writes telemetry rows: the one insert used by ingestion (telemetry.ingest) and by the store seed.
 * Runs inside the caller's transaction, in multi-row INSERT chunks small enough for SQLite's and
 * PostgreSQL's bound-variable limits, and adds the rows to the rollups (./rollups.ts) in the same
 * transaction.
 */
import type { Knex } from "knex";
import type { TelemetryRowInsert } from "./run";
import { addToRollups } from "./rollups";

/**
 * Rows per INSERT statement. A row binds 18 values, so a chunk binds 7,200: below SQLite's limit
 * (SQLITE_MAX_VARIABLE_NUMBER, 32,766 since 3.32) and PostgreSQL's 65,535 bind parameters.
 */
export const INSERT_CHUNK_ROWS = 400;

/** The columns an insert writes, in statement order (every column of TelemetryRowInsert). */
const INSERT_COLUMNS: readonly (keyof TelemetryRowInsert)[] = [
  "provider_id", "tool", "route", "tokens_in", "tokens_out", "duration_ms", "status", "cost_usd", "metadata", "ts",
  "ingested_at", "experiment_cohort", "experiment_tag", "day", "is_success", "error_category", "cache_hit", "cached_tokens",
];
const ROW_PLACEHOLDERS = `(${INSERT_COLUMNS.map(() => "?").join(", ")})`;

/**
 * The statement inserting `rows` rows and returning their ids: a multi-row VALUES list on both
 * dialects. (Knex writes a SQLite multi-row insert as a compound `SELECT … UNION ALL SELECT …`,
 * which SQLite runs about a third slower than VALUES and limits to 500 terms.)
 */
function insertSql(rows: number): string {
  return `INSERT INTO telemetry_events (${INSERT_COLUMNS.join(", ")}) VALUES ${Array(rows).fill(ROW_PLACEHOLDERS).join(", ")} RETURNING id`;
}

/**
 * Inserts rows in order and returns their ids in the same order.
 *
 * Both dialects assign the auto-increment id row by row as the rows of the statement are produced,
 * in the order of the VALUES list (both produce its rows left to right), and
 * the chunks run one after the other in the same transaction, so the ids of the batch increase
 * with the input position. RETURNING gives the ids; they are sorted ascending because
 * neither database promises the order of RETURNING rows.
 *
 * The batch is then added to every rollup level (one upsert per level, with a row per (bucket,
 * provider, route) of the batch), so the rollups always equal the aggregate of the committed runs.
 */
export async function insertTelemetryRows(trx: Knex.Transaction, rows: readonly TelemetryRowInsert[]): Promise<number[]> {
  const ids: number[] = [];
  for (let start = 0; start < rows.length; start += INSERT_CHUNK_ROWS) {
    const chunk = rows.slice(start, start + INSERT_CHUNK_ROWS);
    const bindings = chunk.flatMap((row) => INSERT_COLUMNS.map((c) => row[c]));
    const result: unknown = await trx.raw(insertSql(chunk.length), bindings);
    // knex.raw answers the rows on SQLite and the driver's result ({rows}) on PostgreSQL.
    const returned = (Array.isArray(result) ? result : (result as { rows: { id: number | string }[] }).rows) as { id: number | string }[];
    const chunkIds = returned.map((r) => Number(r.id)).sort((a, b) => a - b);
    if (chunkIds.length !== chunk.length) {
      throw new Error(`telemetry insert returned ${chunkIds.length} ids for ${chunk.length} rows`);
    }
    ids.push(...chunkIds);
  }
  await addToRollups(trx, rows, ids);
  return ids;
}
