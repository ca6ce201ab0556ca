/**
 * Sums over runs that cannot overflow and stay exact (issue 7), for every query that adds run values
 * up: the telemetry reads, the FinOps reports and the daily rollup.
 *
 * - Ingestion bounds every summed value of a run by MAX_RUN_INTEGER (10^9; the cached-token count
 *   between −10^9 and 10^9) or MAX_RUN_COST_USD (10^6), see lib/telemetry-run.ts.
 * - Rows stored before those bounds may hold larger values (up to 2^53 − 1, costs up to 1.8e308). In
 *   every sum each value counts at most its bound (`CASE WHEN v > bound THEN bound …`), so one rule
 *   holds for every row: a sum over N runs is at most N × the bound. For rows within the bounds
 *   the cap changes nothing. Such rows keep their stored value everywhere else (the runs page, the
 *   latency percentiles, which add nothing up).
 * - The sums themselves never fail: SQLite's SUM raises "integer overflow" past int64, so SQLite sums
 *   with TOTAL (exact while the total is below 2^53, a double beyond); PostgreSQL's SUM of a bigint
 *   is a numeric, which has no such limit, and its int4 run ids cap a store at 2^31 − 1 runs, so
 *   even the bigint rollup columns stay below 2^31 × 10^9 ≈ 2.1 × 10^18 < 2^63.
 */
import type { Knex } from "knex";
import { MAX_RUN_COST_USD, MAX_RUN_INTEGER } from "../telemetry-run";
import { dialectOf } from "./knex";

/** Run columns that are summed, with the bounds each value counts within. */
export const SUMMED_RUN_COLUMNS = {
  tokens_in: { max: MAX_RUN_INTEGER, min: 0 },
  tokens_out: { max: MAX_RUN_INTEGER, min: 0 },
  duration_ms: { max: MAX_RUN_INTEGER, min: 0 },
  cached_tokens: { max: MAX_RUN_INTEGER, min: -MAX_RUN_INTEGER },
  cost_usd: { max: MAX_RUN_COST_USD, min: 0 },
} as const;

export type SummedRunColumn = keyof typeof SUMMED_RUN_COLUMNS;

/** The SQL aggregate that adds up `expression` without ever raising an overflow. */
export function overflowFreeSum(db: Knex | Knex.Transaction, expression: string): string {
  return dialectOf(db as Knex) === "sqlite" ? `TOTAL(${expression})` : `SUM(${expression})`;
}

/**
 * A run column's value as it counts in sums: clamped to its bounds (a no-op for rows ingested with
 * them). Columns whose lower bound is 0 were never stored below it (every version refused negative
 * tokens, durations and costs), so only their upper bound is tested: one comparison per value.
 */
export function boundedRunValue(column: SummedRunColumn): string {
  const { max, min } = SUMMED_RUN_COLUMNS[column];
  const below = min === 0 ? "" : ` WHEN ${column} < ${min} THEN ${min}`;
  return `CASE WHEN ${column} > ${max} THEN ${max}${below} ELSE ${column} END`;
}

/** `<sum of the bounded column> AS <alias>`, for a select list of a query on telemetry_events. */
export function runColumnSum(db: Knex | Knex.Transaction, column: SummedRunColumn, alias: string): Knex.Raw {
  return db.raw(`${overflowFreeSum(db, boundedRunValue(column))} AS ??`, [alias]);
}

/** `<overflow-free sum of a column> AS <alias>`, for sums of sums (rollup columns). */
export function columnSum(db: Knex | Knex.Transaction, column: string, alias: string): Knex.Raw {
  return db.raw(`${overflowFreeSum(db, "??")} AS ??`, [column, alias]);
}
