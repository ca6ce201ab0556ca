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
import { DEFAULT_READ_POOL_SIZE, DEFAULT_WRITE_POOL_SIZE, type StoreConfig } from "../config";

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

/** The connection settings createKnex and createReadKnex use (pool sizes default to the configuration's defaults). */
export type KnexSettings = Pick<StoreConfig, "dbUrl" | "dbPath"> & Partial<Pick<StoreConfig, "readPoolSize" | "writePoolSize">>;

interface PgConnection {
  query(sql: string, cb: (err: Error | null) => void): void;
}

/**
 * The store's writer: on SQLite the one read-write connection of this process (WAL, synchronous
 * NORMAL, foreign keys, busy timeout), which also runs the migrations and the seed; on PostgreSQL a
 * pool of `writePoolSize` connections (default DEFAULT_WRITE_POOL_SIZE).
 */
export function createKnex(store: KnexSettings): Knex {
  if (store.dbUrl !== null) {
    return knexFactory({
      client: "pg",
      log: knexLog,
      connection: store.dbUrl,
      pool: { min: 0, max: store.writePoolSize ?? DEFAULT_WRITE_POOL_SIZE },
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
 * The store's read pool: `readPoolSize` connections (default DEFAULT_READ_POOL_SIZE), opened on first
 * use, that refuse to write. On SQLite they are connections of their own beside the writer — WAL
 * lets each read transaction run on its snapshot while the writer commits — made read-only with
 * `PRAGMA query_only`; on PostgreSQL a pool of its own whose sessions default to read-only
 * transactions, so reads never queue behind writes for a connection.
 *
 * Open it after the schema exists (the writer creates the SQLite file and turns WAL on).
 */
export function createReadKnex(store: KnexSettings): Knex {
  const size = store.readPoolSize ?? DEFAULT_READ_POOL_SIZE;
  if (store.dbUrl !== null) {
    return knexFactory({
      client: "pg",
      log: knexLog,
      connection: store.dbUrl,
      pool: {
        min: 0,
        max: size,
        afterCreate(conn: PgConnection, done: (err: Error | null, conn: PgConnection) => void) {
          conn.query("SET default_transaction_read_only = on", (err) => done(err, conn));
        },
      },
      acquireConnectionTimeout: 10000,
    });
  }
  return knexFactory({
    client: "sqlite3",
    log: knexLog,
    connection: { filename: store.dbPath },
    useNullAsDefault: true,
    pool: {
      min: 0,
      max: size,
      afterCreate(conn: SqliteConnection, done: (err: Error | null, conn: SqliteConnection) => void) {
        conn.configure("busyTimeout", SQLITE_BUSY_TIMEOUT_MS);
        conn.exec("PRAGMA query_only = ON;", (err) => done(err, conn));
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
