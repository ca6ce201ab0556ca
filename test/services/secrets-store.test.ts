/**
 * lib/secrets/store.ts on a real SQLite store: the rotation's re-encryption is all or nothing — one
 * value that does not open under the old key (an altered row) leaves every row as it was.
 */
import fs from "node:fs";
import path from "node:path";
import type { Knex } from "knex";
import { generateKey, keyId, open, seal } from "../../lib/secrets/cipher";
import { reencryptAll, writeSealed } from "../../lib/secrets/store";
import { createKnex } from "../../lib/store/knex";
import { migrateToLatest } from "../../lib/store/migrate";
import { tempDir } from "../helpers/server";

describe("reencryptAll", () => {
  let dir: string;
  let knex: Knex;
  const oldKey = generateKey();
  const newKey = generateKey();

  beforeAll(async () => {
    dir = tempDir("console-mcp-secrets-store-");
    knex = createKnex({ dbUrl: null, dbPath: path.join(dir, "console.db") });
    await migrateToLatest(knex);
  });
  afterAll(async () => {
    await knex.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("re-encrypts every value under the new key, keeping updated_at; an altered row rolls everything back", async () => {
    await knex.transaction(async (trx) => {
      await writeSealed(trx, "a", seal(oldKey, "a", "value-a"), Date.UTC(2025, 0, 1));
      await writeSealed(trx, "b", seal(oldKey, "b", "value-b"), Date.UTC(2025, 0, 2));
    });
    const before = await knex("secrets").orderBy("provider_id");
    // b's value copied into c's row: it does not open as c's.
    await knex("secrets").insert({ ...before[1], provider_id: "c" });
    await expect(reencryptAll(knex, oldKey, newKey)).rejects.toThrow("Secret for provider 'c' cannot be decrypted");
    expect((await knex("secrets").orderBy("provider_id")).slice(0, 2)).toEqual(before);

    await knex("secrets").where({ provider_id: "c" }).delete();
    const audited: string[][] = [];
    expect(await reencryptAll(knex, oldKey, newKey, async (_trx, ids) => void audited.push(ids))).toEqual(["a", "b"]);
    expect(audited).toEqual([["a", "b"]]);
    const after = await knex("secrets").orderBy("provider_id");
    expect(after.map((r) => r.key_id)).toEqual([keyId(newKey), keyId(newKey)]);
    expect(after.map((r) => r.updated_at)).toEqual(before.map((r) => r.updated_at));
    expect(after.map((r) => open(newKey, r.provider_id, r))).toEqual(["value-a", "value-b"]);
  });
});
