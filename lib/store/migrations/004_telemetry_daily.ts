import type { Knex } from "knex";

/**
 * `telemetry_daily`: the runs of `telemetry_events` summed per (UTC day, provider_id, route), so the
 * dashboards read whole days from a few hundred rows instead of every run (see
 * services/telemetry/store/rollups.ts, which keeps it up to date in the transaction of every insert).
 * `route_key` = the route, or '' for runs without a route (ingestion turns blank routes into null,
 * so '' never is a real route); `route` keeps the real value. Only sums, counts, min and max, which
 * add up exactly across days: percentiles and error categories stay on the raw rows.
 *
 * Rows that exist before this migration are summed into the table here. The backfill SQL is written
 * out in this file (not taken from the rollup module) so this migration keeps doing the same thing
 * when the rollup module changes in later versions.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("telemetry_daily", (t) => {
    t.string("day", 10).notNullable();
    t.text("provider_id").notNullable();
    t.text("route_key").notNullable();
    t.text("route").nullable();
    t.bigInteger("run_count").notNullable();
    t.bigInteger("tokens_in").notNullable();
    t.bigInteger("tokens_out").notNullable();
    t.bigInteger("duration_sum").notNullable();
    t.bigInteger("success_count").notNullable();
    t.double("cost_sum").notNullable(); // Σ known costs (§5.2); unknown costs add 0
    t.bigInteger("cost_count").notNullable(); // runs with a known cost
    t.bigInteger("cache_samples").notNullable(); // runs with a cache flag
    t.bigInteger("cache_hits").notNullable();
    t.bigInteger("cached_tokens").notNullable();
    t.string("first_ts", 24).notNullable();
    t.string("last_ts", 24).notNullable();
    t.primary(["day", "provider_id", "route_key"]);
  });
  await knex.raw(`
    INSERT INTO telemetry_daily (
      day, provider_id, route_key, route, run_count, tokens_in, tokens_out, duration_sum, success_count,
      cost_sum, cost_count, cache_samples, cache_hits, cached_tokens, first_ts, last_ts
    )
    SELECT day, provider_id, COALESCE(route, ''), route, COUNT(*), SUM(tokens_in), SUM(tokens_out),
           SUM(duration_ms), SUM(is_success), COALESCE(SUM(cost_usd), 0), COUNT(cost_usd), COUNT(cache_hit),
           SUM(CASE WHEN cache_hit = 1 THEN 1 ELSE 0 END), SUM(cached_tokens), MIN(ts), MAX(ts)
    FROM telemetry_events
    GROUP BY day, provider_id, route
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("telemetry_daily");
}
