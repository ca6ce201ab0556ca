/**
 * Writes telemetry rows: the one insert used by ingestion (telemetry.ingest) and by the store seed.
 * Runs inside the caller's transaction, in multi-row INSERT chunks small enough for SQLite's and
 * PostgreSQL's bound-variable limits, and adds the rows to the rollups (./rollups.ts) in the same
 * transaction. On SQLite the statements run on the transaction's connection as reused prepared
 * statements (lib/store/sqlite-statements.ts).
 */
import type { Knex } from "knex";
import { dialectOf } from "../../../lib/store/knex";
import { transactionRows } from "../../../lib/store/sqlite-statements";
import type { TelemetryRowInsert } from "./run";
import { addToRollups } from "./rollups";

/**
 * Rows per INSERT statement. A row binds 18 values, so a chunk binds 7,200: below SQLite's limit
 * (SQLITE_MAX_VARIABLE_NUMBER, 32,766 since 3.32) and PostgreSQL's 65,535 bind parameters.
 */
export const INSERT_CHUNK_ROWS = 400;
/** Rows per INSERT statement on PostgreSQL, where a statement binds one array per column. */
export const PG_INSERT_CHUNK_ROWS = 5000;

/**
 * The columns an insert writes, in statement order (every column of TelemetryRowInsert), with their
 * PostgreSQL types (migration 002).
 */
const INSERT_COLUMNS: readonly [keyof TelemetryRowInsert, string][] = [
  ["provider_id", "text"],
  ["tool", "text"],
  ["route", "text"],
  ["tokens_in", "int8"],
  ["tokens_out", "int8"],
  ["duration_ms", "int8"],
  ["status", "text"],
  ["cost_usd", "float8"],
  ["metadata", "text"],
  ["ts", "varchar"],
  ["ingested_at", "varchar"],
  ["experiment_cohort", "text"],
  ["experiment_tag", "text"],
  ["day", "varchar"],
  ["is_success", "int4"],
  ["error_category", "text"],
  ["cache_hit", "int4"],
  ["cached_tokens", "int8"],
];
const COLUMN_LIST = INSERT_COLUMNS.map(([c]) => c).join(", ");
const ROW_PLACEHOLDERS = `(${INSERT_COLUMNS.map(() => "?").join(", ")})`;

/**
 * SQLite: the statement inserting `rows` rows and returning their ids, a multi-row VALUES list.
 * (Knex writes a SQLite multi-row insert as a compound `SELECT … UNION ALL SELECT …`, which SQLite
 * runs about a third slower than VALUES and limits to 500 terms.)
 */
function valuesInsertSql(rows: number): string {
  return `INSERT INTO telemetry_events (${COLUMN_LIST}) VALUES ${Array(rows).fill(ROW_PLACEHOLDERS).join(", ")} RETURNING id`;
}

/**
 * PostgreSQL: one statement for any number of rows, binding one array per column and expanding them
 * with unnest, which yields the rows in array order. Binding 18 arrays instead of 18 values per row
 * spares the driver and the server the per-parameter work (about a quarter of the insert's time).
 */
const UNNEST_INSERT_SQL = `INSERT INTO telemetry_events (${COLUMN_LIST})
  SELECT * FROM unnest(${INSERT_COLUMNS.map(([, type]) => `?::${type}[]`).join(", ")}) RETURNING id`;

/**
 * Inserts rows in order and returns their ids in the same order.
 *
 * Both dialects assign the auto-increment id row by row as the rows of the statement are produced,
 * in the order of the VALUES list on SQLite and of the arrays unnest expands on PostgreSQL, and
 * the chunks run one after the other in the same transaction, so the ids of the batch increase
 * with the input position. RETURNING gives the ids; they are sorted ascending because
 * neither database promises the order of RETURNING rows.
 *
 * The batch is then added to every rollup level (one upsert per level, with a row per (bucket,
 * provider, route) of the batch), so the rollups always equal the aggregate of the committed runs.
 */
export async function insertTelemetryRows(trx: Knex.Transaction, rows: readonly TelemetryRowInsert[]): Promise<number[]> {
  const ids: number[] = [];
  const pg = dialectOf(trx as unknown as Knex) === "pg";
  const chunkRows = pg ? PG_INSERT_CHUNK_ROWS : INSERT_CHUNK_ROWS;
  for (let start = 0; start < rows.length; start += chunkRows) {
    const chunk = rows.slice(start, start + chunkRows);
    let returned: { id: number | string }[];
    if (pg) {
      const columns = INSERT_COLUMNS.map(([c]) => chunk.map((row) => row[c]));
      returned = ((await trx.raw(UNNEST_INSERT_SQL, columns as unknown as Knex.RawBinding[])) as { rows: { id: number | string }[] }).rows;
    } else {
      const bindings = chunk.flatMap((row) => INSERT_COLUMNS.map(([c]) => row[c]));
      returned = (await transactionRows(trx, valuesInsertSql(chunk.length), bindings)) as { id: number | string }[];
    }
    const chunkIds = returned.map((r) => Number(r.id)).sort((a, b) => a - b);
    if (chunkIds.length !== chunk.length) {
      throw new Error(`telemetry insert returned ${chunkIds.length} ids for ${chunk.length} rows`);
    }
    ids.push(...chunkIds);
  }
  await addToRollups(trx, rows, ids);
  return ids;
}
