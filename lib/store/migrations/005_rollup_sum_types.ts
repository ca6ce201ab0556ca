import type { Knex } from "knex";

/**
 * Issue 7: the daily rollup must hold every sum of accepted runs. tokens_in, tokens_out and
 * duration_ms are accepted up to 2^53 − 1 per run (§11.2), cached-token counts likewise, so a
 * rollup row's sum leaves the int64 range after ~1,024 such runs (PostgreSQL answered 500 on
 * `bigint out of range`, and every later run of that day, provider and route failed too).
 *
 * - PostgreSQL: the summed integer columns tokens_in, tokens_out, duration_sum and cached_tokens
 *   become `numeric` (exact, no overflow). The counts stay bigint: a count is at most the number of
 *   runs. cost_sum stays a double: costs are at most 10^6 USD per run from now on (below).
 * - SQLite: nothing to change in the schema. An INTEGER column holds an int64, and an integer `+`
 *   that overflows yields a REAL instead of failing, so the column then holds the nearest double.
 * - Both: runs stored before the cost bound (at most 10^6 USD per run, services/telemetry/store/run.ts) may
 *   hold costs up to 1.8e308, whose double sums overflow (PostgreSQL raises "value out of range",
 *   SQLite reaches Infinity, which no JSON number carries). Such a cost is stored as the bound, the
 *   value a run is now refused beyond. And a rollup row summed before this migration may hold a
 *   token or duration sum beyond 2^53 that the batch's double addition had rounded. When either is
 *   found, the rollup is recomputed from the runs (a store without them is left untouched).
 *
 * The SQL is written out here (not taken from the rollup module) so this migration keeps doing the
 * same thing when that module changes.
 */
const COST_MAX = 1_000_000;
const SUMMED_INTEGER_COLUMNS = ["tokens_in", "tokens_out", "duration_sum", "cached_tokens"] as const;
/** 2^53: from here on a double sum may have been rounded. */
const EXACT_LIMIT = "9007199254740992";

function isPg(knex: Knex): boolean {
  return knex.client.config.client === "pg";
}

export async function up(knex: Knex): Promise<void> {
  if (isPg(knex)) {
    const alter = SUMMED_INTEGER_COLUMNS.map((c) => `ALTER COLUMN ${c} TYPE numeric`).join(", ");
    await knex.raw(`ALTER TABLE telemetry_daily ${alter}`);
  }
  const costsCapped = await knex("telemetry_events").where("cost_usd", ">", COST_MAX).update({ cost_usd: COST_MAX });
  const rounded = await knex("telemetry_daily")
    .select("day")
    .where((q) => {
      for (const c of SUMMED_INTEGER_COLUMNS) {
        q.orWhere(c, ">=", knex.raw(EXACT_LIMIT)).orWhere(c, "<=", knex.raw(`-${EXACT_LIMIT}`));
      }
    })
    .first();
  if (costsCapped === 0 && rounded === undefined) return;

  // Exact integer sums: numeric on PostgreSQL; on SQLite two halves that cannot overflow, put back
  // together with integer arithmetic (exact within int64, the nearest double beyond).
  const sum = (column: string) => (isPg(knex) ? `SUM(${column})` : `(SUM(${column} >> 32) * 4294967296 + SUM(${column} & 4294967295))`);
  await knex("telemetry_daily").delete();
  await knex.raw(`
    INSERT INTO telemetry_daily (
      day, provider_id, route_key, route, run_count, tokens_in, tokens_out, duration_sum, success_count,
      cost_sum, cost_count, cache_samples, cache_hits, cached_tokens, first_ts, last_ts
    )
    SELECT day, provider_id, COALESCE(route, ''), route, COUNT(*), ${sum("tokens_in")}, ${sum("tokens_out")},
           ${sum("duration_ms")}, SUM(is_success), COALESCE(SUM(cost_usd), 0), COUNT(cost_usd), COUNT(cache_hit),
           SUM(CASE WHEN cache_hit = 1 THEN 1 ELSE 0 END), ${sum("cached_tokens")}, MIN(ts), MAX(ts)
    FROM telemetry_events
    GROUP BY day, provider_id, route
  `);
}

/**
 * Back to bigint columns on PostgreSQL (fails with "bigint out of range" when a sum no longer fits,
 * which the older schema cannot hold). Capped costs stay capped.
 */
export async function down(knex: Knex): Promise<void> {
  if (!isPg(knex)) return;
  const alter = SUMMED_INTEGER_COLUMNS.map((c) => `ALTER COLUMN ${c} TYPE bigint`).join(", ");
  await knex.raw(`ALTER TABLE telemetry_daily ${alter}`);
}
