/**
 * Brings the schema up to date under knex's migration lock. Replicas that start together race for
 * the lock (or for creating knex's own tables); the losers wait and try again until the schema is
 * current.
 */
import type { Knex } from "knex";
import { MIGRATIONS, Migration } from "./migrations";

const migrationSource: Knex.MigrationSource<string> = {
  async getMigrations() {
    return MIGRATIONS.map(([name]) => name);
  },
  getMigrationName(name) {
    return name;
  },
  async getMigration(name) {
    const found = MIGRATIONS.find(([n]) => n === name);
    if (found === undefined) throw new Error(`unknown migration ${name}`);
    return found[1] as Migration;
  },
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const LOCK_TABLE = "knex_migrations_lock";

/**
 * knex creates its lock table with a single row, but two instances creating it at the same time can
 * both insert that row; with two rows the lock update never matches exactly one row, so nobody can
 * ever take the lock again. Such a table is never locked (every attempt fails and rolls back), so
 * keeping only the first row is safe.
 */
async function repairLockRows(knex: Knex): Promise<void> {
  try {
    if (!(await knex.schema.hasTable(LOCK_TABLE))) return;
    const rows: { index: number }[] = await knex(LOCK_TABLE).select("index").orderBy("index", "asc");
    if (rows.length > 1) await knex(LOCK_TABLE).where("index", ">", rows[0].index).delete();
  } catch {
    // The next attempt tries again.
  }
}

/** Applies the pending migrations; resolves with the names this call applied (none when current). */
export async function migrateToLatest(knex: Knex, timeoutMs = 60000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      const [, applied] = (await knex.migrate.latest({ migrationSource })) as [number, string[]];
      return applied;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await repairLockRows(knex);
      await sleep(Math.min(50 * attempt, 500) + Math.random() * 50);
    }
  }
}

export async function rollbackAll(knex: Knex): Promise<void> {
  await knex.migrate.rollback({ migrationSource }, true);
}
