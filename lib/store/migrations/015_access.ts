import type { Knex } from "knex";

/**
 * Access control and audit (runtime-contract §25).
 *
 * `api_keys`: one row per API key (§25.1). `hash` is the SHA-256 (hex) of the key text — the text
 * itself is never stored; `prefix` its first 8 characters (to recognise it in a list); `name` is
 * unique (it is the actor of the audit entries); `role` viewer|operator|admin; instants as stored
 * text (`last_used_at` is written in batches by the gateways, `expires_at` null = never);
 * `rate_limit_rps` / `rate_limit_runs` null = the configured defaults (§25.3).
 *
 * `access_state` (id 1): `version` grows with every key change, so gateways notice a change made
 * through another replica (they also get it pushed).
 *
 * `audit_log`: one row per write, tool call and denial (§25.2), inserted in the transaction of the
 * change it records. `id` orders the entries (newest first = highest id; the keyset cursor); `ts`
 * stored instant text; `details` JSON text without secrets or tool arguments. Indexes serve the
 * filters of GET /audit/logs (actor, action, target, time) each in id order.
 *
 * `rate_buckets`: the token buckets shared by every replica (§25.3): `tokens` left (may be negative
 * after a batch larger than the burst: a debt paid back at the rate) at `updated_ms` (epoch ms);
 * `last_granted` whether the last take was granted (the one upsert that takes reports it back).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("api_keys", (t) => {
    t.text("id").primary();
    t.text("name").notNullable().unique("api_keys_name");
    t.string("role", 16).notNullable();
    t.string("hash", 64).notNullable().unique("api_keys_hash");
    t.string("prefix", 16).notNullable();
    t.string("created_at", 24).notNullable();
    t.string("last_used_at", 24).nullable();
    t.string("expires_at", 24).nullable();
    t.double("rate_limit_rps").nullable();
    t.double("rate_limit_runs").nullable();
  });
  await knex.schema.createTable("access_state", (t) => {
    t.integer("id").primary();
    t.bigInteger("version").notNullable();
  });
  await knex("access_state").insert({ id: 1, version: 0 });
  await knex.schema.createTable("audit_log", (t) => {
    t.bigIncrements("id").primary();
    t.string("ts", 24).notNullable();
    t.text("actor").notNullable();
    t.string("role", 16).nullable();
    t.text("action").notNullable();
    t.text("target").nullable();
    t.string("outcome", 8).notNullable();
    t.integer("status").notNullable();
    t.text("request_id").nullable();
    t.text("details").notNullable();
    t.index(["ts"], "audit_log_ts");
    t.index(["actor", "id"], "audit_log_actor_id");
    t.index(["action", "id"], "audit_log_action_id");
    t.index(["target", "id"], "audit_log_target_id");
  });
  await knex.schema.createTable("rate_buckets", (t) => {
    t.text("bucket").primary();
    t.double("tokens").notNullable();
    t.bigInteger("updated_ms").notNullable();
    t.integer("last_granted").notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("rate_buckets");
  await knex.schema.dropTable("audit_log");
  await knex.schema.dropTable("access_state");
  await knex.schema.dropTable("api_keys");
}
