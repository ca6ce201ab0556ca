import type { Knex } from "knex";

/** Sessions (§3.4) and the seed marker (§3.5). */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("sessions", (t) => {
    t.increments("seq").primary();
    t.string("id", 36).notNullable().unique();
    t.text("provider_id").notNullable();
    t.string("created_at", 24).notNullable();
    t.text("status").notNullable();
    t.text("reason").nullable();
    t.text("client").nullable();
    t.text("options").notNullable().defaultTo("{}");
  });
  await knex.schema.createTable("seed_state", (t) => {
    t.text("key").primary();
    t.string("applied_at", 24).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("seed_state");
  await knex.schema.dropTable("sessions");
}
