import type { Knex } from "knex";
import { recomputeRollups } from "../../../services/telemetry/store/rollups";

/**
 * Issue 8, goal 5 (scale-out: nothing serialises across replicas): a `stripe` in the key of every
 * rollup row — the sums with their latency sketches (`telemetry_daily`, `_hourly`, `_minutely`) and
 * the error-category rollups (`telemetry_*_errors`) — so concurrent insert transactions add their
 * batches to rows of their own instead of waiting for each other's commit on the rows of the current
 * minute, hour and day (services/telemetry/store/stripes.ts). The primary key becomes the old key
 * plus `stripe` (last, so reads by bucket range use the index as before).
 *
 * The rows that exist before this migration become stripe 0 (the column's default): one row per key,
 * exactly what they held, so nothing is recomputed.
 *
 * Down: the older schema holds one row per key, so the rollups are emptied, the column and key put
 * back, and every row recomputed from the raw rows (recomputeRollups names no stripe column, so it
 * fits that schema).
 */
const TABLES = [
  { table: "telemetry_daily", key: ["day", "provider_id", "route_key"] },
  { table: "telemetry_hourly", key: ["hour", "provider_id", "route_key"] },
  { table: "telemetry_minutely", key: ["minute", "provider_id", "route_key"] },
  { table: "telemetry_daily_errors", key: ["day", "provider_id", "route_key", "category"] },
  { table: "telemetry_hourly_errors", key: ["hour", "provider_id", "route_key", "category"] },
  { table: "telemetry_minutely_errors", key: ["minute", "provider_id", "route_key", "category"] },
] as const;

export async function up(knex: Knex): Promise<void> {
  for (const { table, key } of TABLES) {
    await knex.schema.alterTable(table, (t) => {
      t.integer("stripe").notNullable().defaultTo(0);
    });
    await knex.schema.alterTable(table, (t) => {
      t.dropPrimary();
      t.primary([...key, "stripe"]);
    });
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const { table, key } of TABLES) {
    await knex(table).delete();
    await knex.schema.alterTable(table, (t) => {
      t.dropPrimary();
    });
    await knex.schema.alterTable(table, (t) => {
      t.dropColumn("stripe");
    });
    await knex.schema.alterTable(table, (t) => {
      t.primary([...key]);
    });
  }
  await recomputeRollups(knex);
}
