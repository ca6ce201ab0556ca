import type { Knex } from "knex";

/**
 * Issue 8: the error categories of §10.2 per rollup bucket, so the error breakdown of a window is
 * read from its buckets instead of its runs (services/telemetry/store/error-rollups.ts keeps them in
 * the insert transaction). One table per level — `telemetry_daily_errors` (day),
 * `telemetry_hourly_errors` (hour), `telemetry_minutely_errors` (minute) — with, per (bucket,
 * provider_id, route_key = route or '', category): `error_count`, the non-success runs, and
 * `first_run`, the first of them in (ts, id) order as the ts followed by the id in 16 zero-padded
 * digits (text order = (ts, id) order).
 *
 * Rows that exist before this migration are counted into the tables here. The SQL is written out in
 * this file (not taken from the rollup module) so this migration keeps doing the same thing when that
 * module changes.
 */
const LEVELS = [
  { table: "telemetry_daily_errors", column: "day", length: 10 },
  { table: "telemetry_hourly_errors", column: "hour", length: 13 },
  { table: "telemetry_minutely_errors", column: "minute", length: 16 },
] as const;

export async function up(knex: Knex): Promise<void> {
  const pg = knex.client.config.client === "pg";
  const firstRun = pg ? "(ts || LPAD(CAST(id AS TEXT), 16, '0'))" : "(ts || SUBSTR('0000000000000000' || id, -16))";
  for (const level of LEVELS) {
    await knex.schema.createTable(level.table, (t) => {
      t.string(level.column, level.length).notNullable();
      t.text("provider_id").notNullable();
      t.text("route_key").notNullable();
      t.text("category").notNullable();
      t.bigInteger("error_count").notNullable();
      t.string("first_run", 40).notNullable();
      t.primary([level.column, "provider_id", "route_key", "category"]);
    });
    await knex.raw(`
      INSERT INTO ${level.table} (${level.column}, provider_id, route_key, category, error_count, first_run)
      SELECT SUBSTR(ts, 1, ${level.length}), provider_id, COALESCE(route, ''), error_category, COUNT(*), MIN(${firstRun})
      FROM telemetry_events
      WHERE error_category IS NOT NULL
      GROUP BY SUBSTR(ts, 1, ${level.length}), provider_id, route, error_category
    `);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const level of [...LEVELS].reverse()) await knex.schema.dropTable(level.table);
}
