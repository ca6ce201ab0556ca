import type { Knex } from "knex";

/**
 * Secrets handed to servers (runtime-contract §24): `secrets`, one encrypted value per catalog server
 * id (lib/secrets/cipher.ts: AES-256-GCM, the server id as associated data).
 *
 * - `provider_id`: the server id (no foreign key to the catalog: a secret outlives its server, §24);
 * - `nonce`: the value's random 12-byte nonce, base64;
 * - `ciphertext`: the encrypted value followed by its 16-byte GCM tag, base64;
 * - `key_id`: the fingerprint of the key that encrypted it (a value under another key is reported as
 *   such, not as tampering);
 * - `updated_at`: stored instant text of the last PUT (a key rotation keeps it: the value is the same).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("secrets", (t) => {
    t.text("provider_id").primary();
    t.text("nonce").notNullable();
    t.text("ciphertext").notNullable();
    t.string("key_id", 32).notNullable();
    t.string("updated_at", 24).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("secrets");
}
