/**
 * The error-category rollups (issue 8, §10.2 error_breakdown): per rollup level (./levels.ts) a
 * table `<level table>_errors` with, per (bucket, provider_id, route_key, error category), the number
 * of non-success runs and the first of them in (ts, id) order. Kept in the insert transaction beside
 * the sums (migration 009 creates and backfills the tables), so the error breakdown of a window merges
 * a number of rows that depends on its buckets, not on its runs:
 * - count per category = Σ counts;
 * - the category's first appearance (for ties) = the smallest `first_run` of its rows.
 *
 * `first_run` is the run's ts (24 characters) followed by its id as 16 zero-padded digits (ids are
 * below 2^53 < 10^16): text order is (ts, id) order, so MIN() and one comparison in an upsert keep
 * it, the same on SQLite and PostgreSQL (C collation compares bytes; the characters are ASCII
 * digits and the same separators at the same places).
 *
 * Like the sums, a key may have a row per stripe (./stripes.ts, migration 012): its count is their
 * sum and its first run the smallest of theirs, which is how reads merge rows anyway.
 */
import type { Knex } from "knex";
import { dialectOf } from "../../../lib/store/knex";
import { transactionRows } from "../../../lib/store/sqlite-statements";
import { compareText } from "../../../lib/text-order";
import { LEVELS, RollupLevel, bucketOf } from "./levels";
import type { TelemetryRowInsert } from "./run";

/** Digits of the id in a first_run key. */
const ID_DIGITS = 16;

/** The first_run key of a run: its ts and its zero-padded id. */
export function firstRunKey(ts: string, id: number): string {
  return `${ts}${String(id).padStart(ID_DIGITS, "0")}`;
}

/** The ts and id of a first_run key. */
export function parseFirstRunKey(key: string): { ts: string; id: number } {
  return { ts: key.slice(0, 24), id: Number(key.slice(24)) };
}

/** The SQL of a raw row's first_run key (for MIN() over raw rows and the rebuild). */
export function firstRunSql(db: Knex | Knex.Transaction): string {
  return dialectOf(db as Knex) === "pg"
    ? `(ts || LPAD(CAST(id AS TEXT), ${ID_DIGITS}, '0'))`
    : `(ts || SUBSTR('${"0".repeat(ID_DIGITS)}' || id, -${ID_DIGITS}))`;
}

/** One error rollup row: the runs of one category in one (bucket, provider_id, route). */
export interface ErrorRollupRow {
  bucket: string;
  provider_id: string;
  route_key: string;
  category: string;
  error_count: number;
  first_run: string;
}

/**
 * The error rollup rows of a batch at one level, in key order. ids[i] is the id of rows[i]; rows
 * without an error category (successful runs) add nothing.
 */
export function errorRollupRows(level: RollupLevel, rows: readonly TelemetryRowInsert[], ids: readonly number[]): ErrorRollupRow[] {
  const groups = new Map<string, ErrorRollupRow>();
  rows.forEach((r, i) => {
    if (r.error_category === null) return;
    const bucket = bucketOf(level, r.ts);
    const routeKey = r.route ?? "";
    const key = `${bucket}\u0000${r.provider_id}\u0000${routeKey}\u0000${r.error_category}`;
    const first = firstRunKey(r.ts, ids[i]);
    const g = groups.get(key);
    if (g === undefined) {
      groups.set(key, { bucket, provider_id: r.provider_id, route_key: routeKey, category: r.error_category, error_count: 1, first_run: first });
    } else {
      g.error_count += 1;
      if (first < g.first_run) g.first_run = first;
    }
  });
  return [...groups.values()].sort(
    (a, b) =>
      compareText(a.bucket, b.bucket) ||
      compareText(a.provider_id, b.provider_id) ||
      compareText(a.route_key, b.route_key) ||
      compareText(a.category, b.category),
  );
}

/** Error rollup rows per statement (7 bound values each). */
const UPSERT_CHUNK_ROWS = 500;

/**
 * Adds a batch's error rows to the rows of one stripe of one level (the stripe the caller's
 * transaction holds, ./stripes.ts), inside that transaction, keys in one fixed order.
 */
export async function addErrorsToLevel(trx: Knex.Transaction, level: RollupLevel, groups: readonly ErrorRollupRow[], stripe: number): Promise<void> {
  const t = level.errorsTable;
  for (let start = 0; start < groups.length; start += UPSERT_CHUNK_ROWS) {
    const chunk = groups.slice(start, start + UPSERT_CHUNK_ROWS);
    await transactionRows(
      trx,
      `INSERT INTO ${t} (${level.bucketColumn}, stripe, provider_id, route_key, category, error_count, first_run)
       VALUES ${chunk.map(() => "(?, ?, ?, ?, ?, ?, ?)").join(", ")}
       ON CONFLICT (${level.bucketColumn}, provider_id, route_key, category, stripe) DO UPDATE SET
         error_count = ${t}.error_count + excluded.error_count,
         first_run = CASE WHEN excluded.first_run < ${t}.first_run THEN excluded.first_run ELSE ${t}.first_run END`,
      chunk.flatMap((g) => [g.bucket, stripe, g.provider_id, g.route_key, g.category, g.error_count, g.first_run]),
    );
  }
}

/**
 * Recomputes one level's error rollup from the raw rows (inside the caller's rebuild transaction):
 * one row per key, in stripe 0 (the column's default; no stripe is named, so it fits the schema
 * before migration 012 as well).
 */
export async function rebuildErrorLevel(trx: Knex | Knex.Transaction, level: RollupLevel): Promise<void> {
  const bucket = level.name === "day" ? "day" : `SUBSTR(ts, 1, ${level.prefixLength})`;
  await trx(level.errorsTable).delete();
  await trx.raw(`
    INSERT INTO ${level.errorsTable} (${level.bucketColumn}, provider_id, route_key, category, error_count, first_run)
    SELECT ${bucket}, provider_id, COALESCE(route, ''), error_category, COUNT(*), MIN(${firstRunSql(trx)})
    FROM telemetry_events
    WHERE error_category IS NOT NULL
    GROUP BY ${bucket}, provider_id, route, error_category`);
}

/** The error rollup tables, in the order writers lock them. */
export const ERROR_TABLES: readonly string[] = LEVELS.map((l) => l.errorsTable);
