/**
 * Migrations recover from the duplicated knex lock row that two instances creating the lock table at
 * the same moment can leave behind (with two rows the lock can never be taken).
 */
import path from "node:path";
import fs from "node:fs";
import { createKnex } from "../../lib/store/knex";
import { migrateToLatest } from "../../lib/store/migrate";
import { tempDir } from "../helpers/server";

describe("store migrations and the knex lock table", () => {
  it("repairs a duplicated lock row instead of waiting forever", async () => {
    const dir = tempDir();
    const knex = createKnex({ dbUrl: null, dbPath: path.join(dir, "lock.db") });
    try {
      await migrateToLatest(knex);
      await knex("knex_migrations_lock").insert({ is_locked: 0 });
      expect(await knex("knex_migrations_lock").select()).toHaveLength(2);
      await migrateToLatest(knex, 10000);
      expect(await knex("knex_migrations_lock").select("is_locked")).toEqual([{ is_locked: 0 }]);
    } finally {
      await knex.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("migrates one new file from several instances at once", async () => {
    for (let round = 0; round < 5; round++) {
      const dir = tempDir();
      const file = path.join(dir, "race.db");
      const instances = [1, 2, 3].map(() => createKnex({ dbUrl: null, dbPath: file }));
      try {
        await Promise.all(instances.map((k) => migrateToLatest(k, 20000)));
        expect(await instances[0]("knex_migrations_lock").select("is_locked")).toEqual([{ is_locked: 0 }]);
        expect(await instances[0].schema.hasTable("telemetry_events")).toBe(true);
      } finally {
        for (const k of instances) await k.destroy();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});
