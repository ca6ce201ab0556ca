import type { Knex } from "knex";

/**
 * A covering index for the telemetry dashboards (§10): (provider_id, route, ts) followed by every
 * column the read aggregates use. Grouping by (provider_id, route) — metrics, pareto — then walks
 * this index in order without a sort and without reading the table rows (about 3× faster at a
 * million runs on SQLite), and a ts range can skip-scan it. It replaces the (provider_id, route, ts)
 * index of 002, which is its prefix, so every query that one served is served the same way.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("telemetry_events", (t) => {
    t.index(
      [
        "provider_id",
        "route",
        "ts",
        "day",
        "is_success",
        "error_category",
        "cache_hit",
        "cached_tokens",
        "tokens_in",
        "tokens_out",
        "duration_ms",
        "cost_usd",
      ],
      "telemetry_events_provider_route_covering",
    );
  });
  await knex.schema.alterTable("telemetry_events", (t) => {
    t.dropIndex([], "telemetry_events_provider_route_ts");
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("telemetry_events", (t) => {
    t.index(["provider_id", "route", "ts"], "telemetry_events_provider_route_ts");
  });
  await knex.schema.alterTable("telemetry_events", (t) => {
    t.dropIndex([], "telemetry_events_provider_route_covering");
  });
}
