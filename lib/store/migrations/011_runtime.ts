import type { Knex } from "knex";

/**
 * Issue 9: the MCP runtime's records (runtime-contract §18–§20, services/runtime/store.ts holds
 * their queries). Servers are named by `server_id` text only, with no foreign key to the catalog:
 * a server's runtime rows outlive catalog edits and are removed by the runtime itself, and its log
 * counter survives even the server's deletion (§19: ids never restart).
 *
 * Instants are stored instant text (`YYYY-MM-DDTHH:MM:SS.sssZ`, lib/time.ts), whose text order is
 * chronological.
 *
 * - `runtime_processes`: one row per server ever started or given a desired state (§18.1 without
 *   `logs`/`cursor`); `server_info` is JSON text.
 * - `runtime_leases`: the ownership lease per server (§18.4). `node_id`/`lease_expires_at` are
 *   null when released; `generation` grows by one at every successful claim and never restarts
 *   (a fencing token for the owner's writes).
 * - `runtime_process_groups`: hygiene records of the process groups started (§18.4), keyed by
 *   (host, pgid); `leader_start_time` is the process layer's token of the leader's start time.
 * - `runtime_log_counters`: per server, the last log id given (`last_id`) and the highest id
 *   dropped by retention or deletion (`pruned_through`, with `prev_pruned_through` its value before
 *   the last append, so an append deletes exactly the newly dropped range).
 * - `runtime_logs`: LogEntry rows (§19), primary key (server_id, id).
 * - `runtime_health_checks`: HealthCheck rows (§20), read newest first by (checked_at, id).
 * - `runtime_transitions`: status changes of processes and health (kind `process`|`health`), kept
 *   7 days, the source of the notifications of §23.2.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("runtime_processes", (t) => {
    t.text("server_id").primary();
    t.string("desired", 7).notNullable().defaultTo("stopped");
    t.string("status", 8).notNullable().defaultTo("stopped");
    t.text("command").nullable();
    t.integer("pid").nullable();
    t.text("node_id").nullable();
    t.string("started_at", 24).nullable();
    t.string("stopped_at", 24).nullable();
    t.integer("return_code").nullable();
    t.text("last_error").nullable();
    t.integer("restarts").notNullable().defaultTo(0);
    t.text("server_info").nullable();
    t.integer("tool_count").nullable();
    t.string("updated_at", 24).notNullable();
  });
  await knex.schema.createTable("runtime_leases", (t) => {
    t.text("server_id").primary();
    t.text("node_id").nullable();
    t.string("lease_expires_at", 24).nullable();
    t.bigInteger("generation").notNullable();
    t.string("claimed_at", 24).nullable();
    t.index(["node_id"], "runtime_leases_node_id");
  });
  await knex.schema.createTable("runtime_process_groups", (t) => {
    t.text("host").notNullable();
    t.integer("pgid").notNullable();
    t.text("server_id").notNullable();
    t.text("leader_start_time").notNullable();
    t.text("node_id").notNullable();
    t.string("created_at", 24).notNullable();
    t.primary(["host", "pgid"]);
  });
  await knex.schema.createTable("runtime_log_counters", (t) => {
    t.text("server_id").primary();
    t.bigInteger("last_id").notNullable();
    t.bigInteger("pruned_through").notNullable();
    t.bigInteger("prev_pruned_through").notNullable();
  });
  await knex.schema.createTable("runtime_logs", (t) => {
    t.text("server_id").notNullable();
    t.bigInteger("id").notNullable();
    t.string("timestamp", 24).notNullable();
    t.string("level", 5).notNullable();
    t.string("source", 10).notNullable();
    t.text("message").notNullable();
    t.primary(["server_id", "id"]);
  });
  await knex.schema.createTable("runtime_health_checks", (t) => {
    t.bigIncrements("id").primary();
    t.text("server_id").notNullable();
    t.string("status", 8).notNullable();
    t.string("checked_at", 24).notNullable();
    t.integer("latency_ms").nullable();
    t.text("message").nullable();
    t.text("actor").nullable();
    t.index(["server_id", "checked_at", "id"], "runtime_health_checks_order");
  });
  await knex.schema.createTable("runtime_transitions", (t) => {
    t.bigIncrements("id").primary();
    t.text("server_id").notNullable();
    t.string("kind", 7).notNullable();
    t.string("from_status", 8).nullable();
    t.string("to_status", 8).notNullable();
    t.string("at", 24).notNullable();
    t.integer("restarts").nullable();
    t.text("detail").nullable();
    t.text("node_id").nullable();
    t.index(["at"], "runtime_transitions_at");
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    "runtime_transitions",
    "runtime_health_checks",
    "runtime_logs",
    "runtime_log_counters",
    "runtime_process_groups",
    "runtime_leases",
    "runtime_processes",
  ]) {
    await knex.schema.dropTable(table);
  }
}
