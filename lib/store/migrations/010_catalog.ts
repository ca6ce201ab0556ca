import type { Knex } from "knex";

/**
 * The server catalog (runtime-contract §17): `servers`, one row per MCP server, and `catalog_state`,
 * the catalog's one-row lock and version.
 *
 * `servers`: the Server fields of §17.3. `source` is `manifest` (written from the manifest file) or
 * `api` (created over HTTP); `position` orders each source (manifest: the entry's index in the file;
 * api: creation order). `description`, `tags`, `capabilities` (JSON text) and `transport` hold their
 * materialised values (Part I §3.1); `lane` is the manifest's optional lane. The runtime fields of
 * §17.2 are null when not given (the record shows their defaults): `args` (JSON array text), `env`
 * (JSON object text), `cwd`, `autostart`, `startup_timeout_s`, `secret_env`, `restart`,
 * `max_restarts`, `degraded_latency_ms`, `tool_timeout_s`. `created_at` / `updated_at` are stored
 * instant texts.
 *
 * `catalog_state` (id 1): `version` grows by one with every committed catalog change. Every catalog
 * write updates this row first, which serialises the writers of every replica (SQLite: the write
 * lock; PostgreSQL: the row lock), and replicas compare it to notice changes made elsewhere.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("servers", (t) => {
    t.text("id").primary();
    t.string("source", 16).notNullable();
    t.integer("position").notNullable();
    t.text("name").notNullable();
    t.text("command").notNullable();
    t.text("description").notNullable();
    t.text("tags").notNullable();
    t.text("capabilities").notNullable();
    t.text("transport").notNullable();
    t.string("lane", 16).nullable();
    t.text("args").nullable();
    t.text("env").nullable();
    t.text("cwd").nullable();
    t.boolean("autostart").nullable();
    t.double("startup_timeout_s").nullable();
    t.text("secret_env").nullable();
    t.string("restart", 16).nullable();
    t.integer("max_restarts").nullable();
    t.integer("degraded_latency_ms").nullable();
    t.double("tool_timeout_s").nullable();
    t.string("created_at", 24).notNullable();
    t.string("updated_at", 24).notNullable();
  });
  await knex.schema.createTable("catalog_state", (t) => {
    t.integer("id").primary();
    t.bigInteger("version").notNullable();
  });
  await knex("catalog_state").insert({ id: 1, version: 0 });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("catalog_state");
  await knex.schema.dropTable("servers");
}
