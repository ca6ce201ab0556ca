import type { Knex } from "knex";

/**
 * `idempotency_keys`: the Idempotency-Key records of the write endpoints (api-contract §11.1,
 * lib/store/idempotency.ts). One row per (route, key), written in the transaction of the write it
 * protects: the SHA-256 of the request body and the first answer (HTTP status and JSON body; both
 * null only inside that transaction). `created_at` (stored instant text) ages keys out after 24 h;
 * its index serves the purge.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("idempotency_keys", (t) => {
    t.text("route").notNullable();
    t.string("key", 128).notNullable();
    t.string("body_sha256", 64).notNullable();
    t.integer("status").nullable();
    t.text("answer").nullable();
    t.string("created_at", 24).notNullable();
    t.primary(["route", "key"]);
    t.index(["created_at"], "idempotency_keys_created_at");
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("idempotency_keys");
}
