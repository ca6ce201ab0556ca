/**
 * Sums of run values that never fail (issue 7), for every query that adds run values up: the
 * telemetry reads and the FinOps reports (overflowFreeSum), and the rollups'
 * rebuild (storedIntegerSum, exact wherever the store can hold the sum).
 *
 * Ingestion accepts tokens_in, tokens_out and duration_ms up to 2^53 − 1 (§11.2) and cached-token
 * counts of the same magnitude, so their sums leave the int64 range after ~1,024 runs at the
 * maximum; costs are at most 10^6 USD per run (services/telemetry/store/run.ts), so their double sums stay
 * finite. The sums are taken so that no size of sum raises:
 * - SQLite's SUM raises "integer overflow" past int64, so SQLite sums with TOTAL: the exact integer
 *   sum converted once to a double while it fits int64, a compensated double sum beyond.
 * - PostgreSQL's SUM of a bigint or numeric column is a numeric (arbitrary precision, no overflow);
 *   the rollup's summed integer columns are numeric (migration 005), so the rollup holds them too.
 *
 * Read back, a sum is a JavaScript number (PostgreSQL numerics are parsed in lib/store/knex.ts): exact
 * while below 2^53 in magnitude, the nearest double of the store's sum beyond.
 */
import type { Knex } from "knex";
import { dialectOf } from "../../../lib/store/knex";

/** The SQL aggregate that adds up `expression` without ever raising an overflow. */
export function overflowFreeSum(db: Knex | Knex.Transaction, expression: string): string {
  return dialectOf(db as Knex) === "sqlite" ? `TOTAL(${expression})` : `SUM(${expression})`;
}

/**
 * The SQL sum of an integer column to *store* (the rollup's rebuild): exact wherever the store can
 * hold it. PostgreSQL: SUM, an exact numeric. SQLite: TOTAL would round every sum beyond 2^53 to a
 * double, so the column is summed in two halves that cannot overflow (the high bits `>> 32`, an
 * arithmetic shift, and the low 32 bits) and put back together with integer arithmetic: exact while
 * the sum fits int64; beyond, SQLite's `*` and `+` turn to REAL instead of failing, which gives the
 * nearest double (the high half times 2^32 is exact, one addition rounds). Safe for any integer
 * column of values within ±2^53 and up to 2^31 rows per group.
 */
export function storedIntegerSum(db: Knex | Knex.Transaction, column: string): string {
  return dialectOf(db as Knex) === "sqlite" ? `(SUM(${column} >> 32) * 4294967296 + SUM(${column} & 4294967295))` : `SUM(${column})`;
}
