/**
 * The Knex factory of the shared store: a SQLite file (WAL, busy timeout) by default, PostgreSQL when
 * a database URL is configured.
 */
import fs from "node:fs";
import path from "node:path";
import knexFactory, { Knex } from "knex";
import { types as pgTypes } from "pg";

// PostgreSQL returns int8 and numeric as strings; read them as numbers like SQLite does. Counts and
// ids are far below 2^53; token and duration sums (numeric, unbounded) may exceed it, and Number()
// gives the nearest double, all a JSON number can carry (issue 7).
pgTypes.setTypeParser(20, (v: string) => Number(v));
pgTypes.setTypeParser(1700, (v: string) => Number(v));
import type { StoreConfig } from "../config";

export type Dialect = "sqlite" | "pg";

export const SQLITE_BUSY_TIMEOUT_MS = 15000;

interface SqliteConnection {
  configure(option: "busyTimeout", ms: number): void;
  exec(sql: string, cb: (err: Error | null) => void): void;
}

export function dialectOf(knex: Knex): Dialect {
  return knex.client.config.client === "pg" ? "pg" : "sqlite";
}

/**
 * Knex's own log lines. Its advice on a busy migration lock ("release the lock manually") is wrong
 * here: migrateToLatest waits for the lock on purpose, so those lines are dropped.
 */
const knexLog = {
  warn(message: unknown) {
    const text = String(message);
    if (/migration(s)? (table is already locked|lock)|knex migrate:unlock/i.test(text)) return;
    console.warn(`knex: ${text}`);
  },
  error(message: unknown) {
    console.error(`knex: ${String(message)}`);
  },
  deprecate(method: unknown, alternative: unknown) {
    console.warn(`knex: ${String(method)} is deprecated, use ${String(alternative)}`);
  },
  debug() {
    // knex debug output is off
  },
};

export function createKnex(store: Pick<StoreConfig, "dbUrl" | "dbPath">): Knex {
  if (store.dbUrl !== null) {
    return knexFactory({
      client: "pg",
      log: knexLog,
      connection: store.dbUrl,
      pool: { min: 0, max: 10 },
      acquireConnectionTimeout: 10000,
    });
  }
  fs.mkdirSync(path.dirname(store.dbPath), { recursive: true });
  return knexFactory({
    client: "sqlite3",
    log: knexLog,
    connection: { filename: store.dbPath },
    useNullAsDefault: true,
    pool: {
      min: 1,
      max: 1,
      afterCreate(conn: SqliteConnection, done: (err: Error | null, conn: SqliteConnection) => void) {
        conn.configure("busyTimeout", SQLITE_BUSY_TIMEOUT_MS);
        conn.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;", (err) =>
          done(err, conn),
        );
      },
    },
  });
}

/**
 * Runs fn inside one read transaction, so everything it reads comes from one consistent snapshot
 * (§1.4): a deferred transaction on SQLite (WAL snapshot from the first read), REPEATABLE READ on
 * PostgreSQL.
 */
export async function readSnapshot<T>(knex: Knex, fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  if (dialectOf(knex) === "pg") {
    return knex.transaction(fn, { isolationLevel: "repeatable read", readOnly: true });
  }
  return knex.transaction(fn);
}
