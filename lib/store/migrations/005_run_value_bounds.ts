import type { Knex } from "knex";

/**
 * Issue 7 bounds every summed value of a run at ingestion (tokens_in, tokens_out, duration_ms and the
 * cached-token count at most 10^9 in magnitude, cost_usd at most 10^6), and every sum counts a
 * value stored before those bounds as the bound (lib/store/run-sums.ts). Stored runs are kept as
 * they are. The daily rollup, though, holds sums of the raw values; when a stored run exceeds a bound,
 * the rollup is recomputed here with the same capped, overflow-free sums the reads use, so the
 * whole-day and edge-day paths agree, and a rollup row that was near (PostgreSQL) or past (SQLite,
 * where it turned into a float) the int64 limit is brought back within it. A store without such runs
 * is left untouched.
 *
 * The SQL is written out here (not taken from the rollup module) so this migration keeps doing the
 * same thing when that module changes.
 */
const TOKEN_MAX = 1_000_000_000;
const COST_MAX = 1_000_000;

function capped(column: string, max: number, min: number): string {
  return `CASE WHEN ${column} > ${max} THEN ${max} WHEN ${column} < ${min} THEN ${min} ELSE ${column} END`;
}

export async function up(knex: Knex): Promise<void> {
  const beyond = await knex("telemetry_events")
    .select("id")
    .where("tokens_in", ">", TOKEN_MAX)
    .orWhere("tokens_out", ">", TOKEN_MAX)
    .orWhere("duration_ms", ">", TOKEN_MAX)
    .orWhere("cached_tokens", ">", TOKEN_MAX)
    .orWhere("cached_tokens", "<", -TOKEN_MAX)
    .orWhere("cost_usd", ">", COST_MAX)
    .first();
  if (beyond === undefined) return;

  const sum = (expression: string) =>
    knex.client.config.client === "pg" ? `SUM(${expression})` : `TOTAL(${expression})`;
  await knex("telemetry_daily").delete();
  await knex.raw(`
    INSERT INTO telemetry_daily (
      day, provider_id, route_key, route, run_count, tokens_in, tokens_out, duration_sum, success_count,
      cost_sum, cost_count, cache_samples, cache_hits, cached_tokens, first_ts, last_ts
    )
    SELECT day, provider_id, COALESCE(route, ''), route, COUNT(*),
           ${sum(capped("tokens_in", TOKEN_MAX, 0))}, ${sum(capped("tokens_out", TOKEN_MAX, 0))},
           ${sum(capped("duration_ms", TOKEN_MAX, 0))}, SUM(is_success),
           COALESCE(${sum(capped("cost_usd", COST_MAX, 0))}, 0), COUNT(cost_usd), COUNT(cache_hit),
           SUM(CASE WHEN cache_hit = 1 THEN 1 ELSE 0 END), ${sum(capped("cached_tokens", TOKEN_MAX, -TOKEN_MAX))},
           MIN(ts), MAX(ts)
    FROM telemetry_events
    GROUP BY day, provider_id, route
  `);
}

/** Nothing to undo: the rollup keeps being a valid aggregate of the runs under the capped-sum rule. */
export async function down(): Promise<void> {}
