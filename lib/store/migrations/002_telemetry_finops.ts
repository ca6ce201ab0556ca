import type { Knex } from "knex";

/**
 * Telemetry runs (§3.2) with the columns derived at ingestion, and registered pull requests (§3.3).
 * Instants are fixed-width text `YYYY-MM-DDTHH:MM:SS.sssZ`, so text order is chronological.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("telemetry_events", (t) => {
    t.increments("id").primary();
    t.text("provider_id").notNullable();
    t.text("tool").notNullable();
    t.text("route").nullable();
    t.bigInteger("tokens_in").notNullable();
    t.bigInteger("tokens_out").notNullable();
    t.bigInteger("duration_ms").notNullable();
    t.text("status").notNullable();
    t.double("cost_usd").nullable();
    t.text("metadata").notNullable();
    t.string("ts", 24).notNullable();
    t.string("ingested_at", 24).notNullable();
    t.text("experiment_cohort").nullable();
    t.text("experiment_tag").nullable();
    // Derived at ingestion, so no dashboard query parses metadata row by row.
    t.string("day", 10).notNullable(); // UTC day of ts
    t.integer("is_success").notNullable(); // 1 when status = success
    t.text("error_category").nullable(); // §10.2 label; null for successful runs
    t.integer("cache_hit").nullable(); // 1 hit, 0 miss, null no flag
    t.bigInteger("cached_tokens").notNullable().defaultTo(0); // this run's contribution to cached_tokens
    t.index(["ts", "id"], "telemetry_events_ts_id");
    t.index(["provider_id", "route", "ts"], "telemetry_events_provider_route_ts");
    t.index(["provider_id", "ts"], "telemetry_events_provider_ts");
    t.index(["day", "provider_id"], "telemetry_events_day_provider");
  });
  await knex.schema.createTable("pull_requests", (t) => {
    t.text("id").primary();
    t.text("title").notNullable();
    t.text("owner").notNullable();
    t.string("merged_at", 24).notNullable();
    t.text("provider_id").notNullable();
    t.text("route").nullable();
    t.string("created_at", 24).notNullable();
    t.index(["merged_at"], "pull_requests_merged_at");
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("pull_requests");
  await knex.schema.dropTable("telemetry_events");
}
