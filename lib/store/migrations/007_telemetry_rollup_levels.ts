import type { Knex } from "knex";

/**
 * Issue 8: finer rollup levels beside `telemetry_daily`, so a dashboard read of any range costs a
 * number of buckets, not of runs (services/telemetry/store/levels.ts):
 * - `telemetry_hourly`: the runs summed per (UTC hour `YYYY-MM-DDTHH`, provider_id, route);
 * - `telemetry_minutely`: the same per UTC minute `YYYY-MM-DDTHH:MM`.
 * Same columns as `telemetry_daily` (after 005): the summed integer columns are numeric on
 * PostgreSQL, `route_key` = the route or '' for none. Kept in the insert transaction by
 * services/telemetry/store/rollups.ts.
 *
 * Rows that exist before this migration are summed into both tables here, with exact integer sums
 * (numeric on PostgreSQL; on SQLite two halves that cannot overflow). The SQL is written out in this
 * file (not taken from the rollup module) so this migration keeps doing the same thing when that
 * module changes.
 */
const LEVELS = [
  { table: "telemetry_hourly", column: "hour", length: 13 },
  { table: "telemetry_minutely", column: "minute", length: 16 },
] as const;
const SUMMED_INTEGER_COLUMNS = new Set(["tokens_in", "tokens_out", "duration_sum", "cached_tokens"]);

function isPg(knex: Knex): boolean {
  return knex.client.config.client === "pg";
}

export async function up(knex: Knex): Promise<void> {
  const pg = isPg(knex);
  const sum = (column: string) => (pg ? `SUM(${column})` : `(SUM(${column} >> 32) * 4294967296 + SUM(${column} & 4294967295))`);
  for (const level of LEVELS) {
    await knex.schema.createTable(level.table, (t) => {
      t.string(level.column, level.length).notNullable();
      t.text("provider_id").notNullable();
      t.text("route_key").notNullable();
      t.text("route").nullable();
      for (const c of ["run_count", "tokens_in", "tokens_out", "duration_sum", "success_count"]) {
        if (pg && SUMMED_INTEGER_COLUMNS.has(c)) t.specificType(c, "numeric").notNullable();
        else t.bigInteger(c).notNullable();
      }
      t.double("cost_sum").notNullable(); // Σ known costs (§5.2); unknown costs add 0
      t.bigInteger("cost_count").notNullable(); // runs with a known cost
      t.bigInteger("cache_samples").notNullable(); // runs with a cache flag
      t.bigInteger("cache_hits").notNullable();
      if (pg) t.specificType("cached_tokens", "numeric").notNullable();
      else t.bigInteger("cached_tokens").notNullable();
      t.string("first_ts", 24).notNullable();
      t.string("last_ts", 24).notNullable();
      t.primary([level.column, "provider_id", "route_key"]);
    });
    const bucket = `SUBSTR(ts, 1, ${level.length})`;
    await knex.raw(`
      INSERT INTO ${level.table} (
        ${level.column}, provider_id, route_key, route, run_count, tokens_in, tokens_out, duration_sum, success_count,
        cost_sum, cost_count, cache_samples, cache_hits, cached_tokens, first_ts, last_ts
      )
      SELECT ${bucket}, provider_id, COALESCE(route, ''), route, COUNT(*), ${sum("tokens_in")}, ${sum("tokens_out")},
             ${sum("duration_ms")}, SUM(is_success), COALESCE(${pg ? "SUM" : "TOTAL"}(cost_usd), 0), COUNT(cost_usd),
             COUNT(cache_hit), SUM(CASE WHEN cache_hit = 1 THEN 1 ELSE 0 END), ${sum("cached_tokens")}, MIN(ts), MAX(ts)
      FROM telemetry_events
      GROUP BY ${bucket}, provider_id, route
    `);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const level of [...LEVELS].reverse()) await knex.schema.dropTable(level.table);
}
