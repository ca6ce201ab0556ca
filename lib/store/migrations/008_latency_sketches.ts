import type { Knex } from "knex";
import { rebuildLatencySketches } from "../../../services/telemetry/store/rollups";

/**
 * Issue 8: a latency sketch in every rollup row (`latency_sketch`: a DDSketch of the durations of
 * the row's runs at 1% relative accuracy, in the compact stored form of
 * services/telemetry/store/latency-sketch.ts, whose first byte names the format), so p95/p99 of a
 * window with more than 10,000 runs come from merging its buckets' sketches (§10.2). Nullable only
 * within the insert transaction, which writes the sums first and the merged sketch next.
 *
 * The sketches of rows that exist before this migration are computed here from the raw rows by
 * rebuildLatencySketches, which writes only this column in that format: a later change of the
 * format needs a migration of its own that rewrites the sketches, so this one keeps its meaning.
 */
const TABLES = ["telemetry_daily", "telemetry_hourly", "telemetry_minutely"] as const;

export async function up(knex: Knex): Promise<void> {
  for (const table of TABLES) {
    await knex.schema.alterTable(table, (t) => {
      t.binary("latency_sketch").nullable();
    });
  }
  await rebuildLatencySketches(knex);
}

export async function down(knex: Knex): Promise<void> {
  for (const table of TABLES) {
    await knex.schema.alterTable(table, (t) => {
      t.dropColumn("latency_sketch");
    });
  }
}
