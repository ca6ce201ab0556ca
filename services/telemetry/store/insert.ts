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
 * Rows per INSERT statement. A row binds 19 values, so a chunk binds 7,600: below SQLite's limit
 * (SQLITE_MAX_VARIABLE_NUMBER, 32,766 since 3.32) and PostgreSQL's 65,535 bind parameters. Knex
 * writes a multi-row SQLite insert as a compound `SELECT … UNION ALL SELECT …`, which SQLite limits
 * to 500 terms (SQLITE_MAX_COMPOUND_SELECT), so a chunk also stays below that.
 */
export const INSERT_CHUNK_ROWS = 400;

/**
 * Inserts rows in order and returns their ids in the same order.
 *
 * Both dialects assign the auto-increment id row by row as the rows of the statement are produced,
 * in list order (PostgreSQL's VALUES list; SQLite's UNION ALL terms, emitted left to right), and
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
    const returned: { id: number | string }[] = await trx("telemetry_events").insert(chunk as TelemetryRowInsert[], ["id"]);
    const chunkIds = returned.map((r) => Number(r.id)).sort((a, b) => a - b);
    if (chunkIds.length !== chunk.length) {
      throw new Error(`telemetry insert returned ${chunkIds.length} ids for ${chunk.length} rows`);
    }
    ids.push(...chunkIds);
  }
  await addToRollups(trx, rows, ids);
  return ids;
}
