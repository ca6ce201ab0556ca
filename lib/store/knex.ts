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
import { closeStatementCache } from "./sqlite-statements";

export type Dialect = "sqlite" | "pg";

export const SQLITE_BUSY_TIMEOUT_MS = 15000;

interface SqliteConnection {
  configure(option: "busyTimeout", ms: number): void;
  exec(sql: string, cb: (err: Error | null) => void): void;
  all(sql: string, cb: (err: Error | null, rows: unknown[]) => void): void;
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
  return finalizingBeforeClose(
    knexFactory({
      client: "sqlite3",
      log: knexLog,
      connection: { filename: store.dbPath },
      useNullAsDefault: true,
      pool: {
        min: 1,
        max: 1,
        afterCreate(conn: SqliteConnection, done: (err: Error | null, conn: SqliteConnection) => void) {
          conn.configure("busyTimeout", SQLITE_BUSY_TIMEOUT_MS);
          conn.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;", (err) => done(err, conn));
        },
      },
    }),
  );
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
  return finalizingBeforeClose(
    knexFactory({
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
    }),
  );
}

/**
 * A SQLite Knex instance whose connections finalize their cached prepared statements
 * (./sqlite-statements.ts) before knex closes them, whatever closes them (`destroy()`, the pool
 * dropping a connection): node-sqlite3 refuses to close a connection that still has unfinalized
 * statements, and the connection would stay open.
 */
function finalizingBeforeClose(knex: Knex): Knex {
  const client = knex.client as { destroyRawConnection(conn: SqliteConnection): Promise<void> };
  const destroyRaw = client.destroyRawConnection.bind(client);
  client.destroyRawConnection = async (conn) => {
    await closeStatementCache(conn as unknown as Parameters<typeof closeStatementCache>[0]);
    return destroyRaw(conn);
  };
  return knex;
}

/** How often the writer looks at the WAL's size (WalCheckpoints). */
export const WAL_CHECK_INTERVAL_MS = 1000;
/** WAL frames (pages) beyond which the writer restarts the WAL: 4,096 frames = 16 MiB at 4 KiB pages. */
export const WAL_RESTART_FRAMES = 4096;
/** How long a WAL restart waits for the readers still using the WAL before giving up until the next check. */
export const WAL_RESTART_WAIT_MS = 100;

function sqliteAll(conn: SqliteConnection, sql: string): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => conn.all(sql, (err, rows) => (err ? reject(err) : resolve(rows as Record<string, unknown>[]))));
}

function sqliteExec(conn: SqliteConnection, sql: string): Promise<void> {
  return new Promise((resolve, reject) => conn.exec(sql, (err) => (err ? reject(err) : resolve())));
}

/**
 * Keeps the SQLite WAL of a busy store small. SQLite's automatic checkpoint (PASSIVE, at commits)
 * copies the WAL back into the database but can only start the WAL file over when no reader is using
 * it; with the read pool running transactions back to back there is always one, so the file grows
 * without bound (hundreds of MiB within a minute of mixed load), and every read gets slower as it
 * searches a longer WAL. So every WAL_CHECK_INTERVAL_MS the writer checkpoints (PASSIVE) and, when
 * the WAL holds more than WAL_RESTART_FRAMES frames, asks for a RESTART checkpoint, which waits at
 * most WAL_RESTART_WAIT_MS for the readers of older snapshots to finish (new readers then read the
 * database file), so the next commit writes the WAL from its start. Writes queue behind it for at
 * most that wait. Stop it before the Knex instance is destroyed.
 */
export class WalCheckpoints {
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();
  /** RESTART checkpoints that completed, and those that gave up (readers still busy). */
  restarts = 0;
  restartsBusy = 0;

  private readonly restartFrames: number;

  constructor(
    private readonly knex: Knex,
    options: { intervalMs?: number; restartFrames?: number } = {},
  ) {
    this.restartFrames = options.restartFrames ?? WAL_RESTART_FRAMES;
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.check()).catch(() => undefined);
    }, options.intervalMs ?? WAL_CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  /** One check (the timer calls it): PASSIVE, then RESTART when the WAL is long. */
  async check(): Promise<void> {
    const client = this.knex.client as { acquireConnection(): Promise<SqliteConnection>; releaseConnection(c: SqliteConnection): Promise<void> };
    const conn = await client.acquireConnection();
    try {
      const [passive] = await sqliteAll(conn, "PRAGMA wal_checkpoint(PASSIVE)");
      if (Number(passive?.log ?? 0) <= this.restartFrames) return;
      await sqliteExec(conn, `PRAGMA busy_timeout = ${WAL_RESTART_WAIT_MS}`);
      try {
        const [restart] = await sqliteAll(conn, "PRAGMA wal_checkpoint(RESTART)");
        if (Number(restart?.busy ?? 1) === 0) this.restarts += 1;
        else this.restartsBusy += 1;
      } finally {
        await sqliteExec(conn, `PRAGMA busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
      }
    } finally {
      await client.releaseConnection(conn);
    }
  }

  /** Stops the checks and waits for one in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
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
