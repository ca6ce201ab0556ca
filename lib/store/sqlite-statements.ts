/**
 * Reused prepared statements on SQLite connections, for the store's hot write path (telemetry
 * ingestion: every MCP tool call writes a run before it answers, runtime-contract §21).
 *
 * Through knex, a statement costs knex's query building (Raw bindings, runner, events, promise
 * chains) and node-sqlite3's `Database#all`, which prepares the statement, runs it and finalizes it
 * every time. Measured on one upsert inside a transaction: 227 µs through `trx.raw`, 111 µs through
 * `Database#all` on the same connection, 45 µs through a prepared `Statement#all` reused. So
 * `transactionRows` runs a statement on the transaction's own connection, through a small cache of
 * prepared statements of that connection keyed by SQL text (least recently used out beyond
 * STATEMENT_CACHE_SIZE). On PostgreSQL it is `trx.raw`, unchanged.
 *
 * Rules the cache keeps:
 * - a statement whose preparation or execution failed leaves the cache (finalized), so an error
 *   never sticks to its SQL text;
 * - a statement is finalized only when no call is using it (an evicted one when its last call ends);
 * - node-sqlite3 cannot close a connection that still has unfinalized statements (`close` fails
 *   with SQLITE_BUSY and the connection stays open), so the SQLite Knex instances of lib/store/knex.ts
 *   finalize a connection's cache (`closeStatementCache`) before knex closes the connection.
 *
 * Bindings are handed to node-sqlite3 as knex hands those of `raw` to it (knex's SQLite client
 * passes them through unchanged): numbers, strings, null, Buffers (blobs), booleans. An undefined
 * binding is refused, as knex refuses it.
 */
import type { Knex } from "knex";
import type { Database, Statement } from "sqlite3";

/** Most prepared statements kept per connection. */
export const STATEMENT_CACHE_SIZE = 64;
/**
 * Longest SQL text kept prepared (characters). Longer statements (multi-row writes of large batches,
 * whose preparation is a small part of their cost) are prepared, run and finalized each time, so the
 * cache's memory stays small (a prepared statement grows with its bound values).
 */
export const MAX_CACHED_SQL_CHARS = 16_384;

/** A result row of a statement, by column name. */
export type StatementRow = Record<string, unknown>;

/** What knex adds to its connection objects (its ids, used in its `query` events). */
interface KnexConnection extends Database {
  __knexUid?: string;
  __knexTxId?: string;
}

interface Entry {
  sql: string;
  /** Resolves once prepared; rejects when preparation failed (node-sqlite3 has then finalized it). */
  prepared: Promise<Statement>;
  /** Set once prepared. */
  statement: Statement | null;
  /** Calls using the statement now. */
  uses: number;
  /** Out of the cache: finalized as soon as `uses` is 0. */
  dropped: boolean;
  /** Finalization started. */
  finalizing: boolean;
  /** Resolves once finalized (or once its preparation failed). */
  finalized: Promise<void>;
  markFinalized(): void;
}

/** The prepared statements of one SQLite connection (see the module comment). */
export class StatementCache {
  /** In use order: the least recently used first (a Map keeps insertion order). */
  private readonly entries = new Map<string, Entry>();
  /** Entries out of the cache, not finalized yet (in use, or being finalized). */
  private readonly draining = new Set<Entry>();
  private closed = false;
  /** Statements prepared so far (a call that found its statement cached prepares none). */
  prepares = 0;

  constructor(
    private readonly db: Database,
    private readonly capacity: number = STATEMENT_CACHE_SIZE,
  ) {}

  /** Statements cached now. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Runs `sql` with `bindings` (positional `?`) and answers its result rows (empty for a statement
   * without rows), as `Statement#all` gives them. Rejects with node-sqlite3's error (its `code`, e.g.
   * SQLITE_CONSTRAINT), the SQL text in front of its message as knex puts it; the statement then
   * leaves the cache and is finalized. Rejects once the cache is closed.
   */
  async all(sql: string, bindings: readonly unknown[]): Promise<StatementRow[]> {
    if (this.closed) throw new Error("the connection's statement cache is closed");
    const undefinedAt = bindings.indexOf(undefined);
    if (undefinedAt >= 0) throw new Error(`undefined binding at position ${undefinedAt} - ${sql}`);
    const entry = this.entryOf(sql);
    entry.uses += 1;
    try {
      const statement = entry.statement ?? (await entry.prepared);
      return await new Promise<StatementRow[]>((resolve, reject) => {
        statement.all(bindings, (err: Error | null, rows: StatementRow[]) => (err ? reject(err) : resolve(rows)));
      });
    } catch (err) {
      this.drop(entry);
      // Not `instanceof Error`: node-sqlite3's errors may come from another realm (jest's sandbox).
      if (typeof (err as { message?: unknown })?.message === "string") (err as Error).message = `${sql} - ${(err as Error).message}`;
      throw err;
    } finally {
      entry.uses -= 1;
      if (entry.dropped && entry.uses === 0) this.finalize(entry);
    }
  }

  /**
   * Finalizes every statement (one in use once its call ends) and refuses further calls; resolves
   * when all are finalized, after which the connection can be closed.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const entry of [...this.entries.values()]) this.drop(entry);
    await Promise.all([...this.draining].map((entry) => entry.finalized));
  }

  /** The entry of `sql`, now the most recently used: the cached one, or a new one (evicting the oldest beyond capacity). */
  private entryOf(sql: string): Entry {
    const cached = this.entries.get(sql);
    if (cached !== undefined) {
      this.entries.delete(sql);
      this.entries.set(sql, cached);
      return cached;
    }
    let markFinalized!: () => void;
    const finalized = new Promise<void>((resolve) => (markFinalized = resolve));
    const entry: Entry = {
      sql,
      prepared: null as unknown as Promise<Statement>,
      statement: null,
      uses: 0,
      dropped: false,
      finalizing: false,
      finalized,
      markFinalized,
    };
    this.prepares += 1;
    entry.prepared = new Promise<Statement>((resolve, reject) => {
      const statement = this.db.prepare(sql, (err: Error | null) => {
        if (err === null) {
          entry.statement = statement;
          resolve(statement);
        } else {
          // node-sqlite3 finalizes a statement whose preparation failed.
          entry.finalizing = true;
          markFinalized();
          reject(err);
        }
      });
    });
    entry.prepared.catch(() => undefined); // reported to the call that made the entry
    void finalized.then(() => this.draining.delete(entry));
    if (sql.length <= MAX_CACHED_SQL_CHARS) {
      this.entries.set(sql, entry);
      for (const oldest of this.entries.values()) {
        if (this.entries.size <= this.capacity) break;
        this.drop(oldest);
      }
    } else {
      // Used once: dropped at once, finalized after its call.
      entry.dropped = true;
      this.draining.add(entry);
    }
    return entry;
  }

  /** Takes the entry out of the cache; finalizes it now when unused, else when its last call ends. */
  private drop(entry: Entry): void {
    if (this.entries.get(entry.sql) === entry) this.entries.delete(entry.sql);
    if (!entry.dropped) {
      entry.dropped = true;
      this.draining.add(entry);
    }
    if (entry.uses === 0) this.finalize(entry);
  }

  private finalize(entry: Entry): void {
    if (entry.finalizing) return;
    entry.finalizing = true;
    // Finalizing waits for a call node-sqlite3 is still running on the statement (its queue).
    entry.prepared.then(
      (statement) => statement.finalize(() => entry.markFinalized()),
      () => entry.markFinalized(),
    );
  }
}

/** The statement caches of open connections. */
const caches = new WeakMap<Database, StatementCache>();

/** The statement cache of a SQLite connection (made on first use). */
export function statementCacheOf(db: Database): StatementCache {
  let cache = caches.get(db);
  if (cache === undefined) {
    cache = new StatementCache(db);
    caches.set(db, cache);
  }
  return cache;
}

/**
 * Finalizes the cached statements of a SQLite connection that is about to be closed (nothing when it
 * has no cache). Called by the SQLite Knex instances of ./knex.ts before they close a connection.
 */
export async function closeStatementCache(db: Database): Promise<void> {
  const cache = caches.get(db);
  if (cache === undefined) return;
  caches.delete(db);
  await cache.close();
}

/** The part of a knex transaction's client used here (knex's transaction client hands out its own connection). */
interface TransactionClient {
  acquireConnection(): Promise<KnexConnection>;
  emit(event: "query", data: unknown): boolean;
}

/**
 * The SQLite connection a knex transaction runs on: knex's transaction client answers
 * `acquireConnection` with the transaction's connection and never releases it to the pool
 * (knex/lib/execution/transaction.js, makeTxClient). Throws for anything but an open transaction.
 */
export async function transactionConnection(trx: Knex.Transaction): Promise<Database> {
  if (trx.isTransaction !== true) throw new Error("not a knex transaction");
  return (trx.client as unknown as TransactionClient).acquireConnection();
}

/**
 * Runs one statement inside the caller's transaction and answers its result rows (RETURNING rows,
 * selected rows; empty for a statement without rows). On SQLite it runs on the transaction's own
 * connection through that connection's prepared-statement cache (see the module comment); knex still
 * sees it in its `query` event. On PostgreSQL it is `trx.raw(sql, bindings)`'s rows.
 *
 * `sql` uses `?` for its bindings (no `??` identifiers, no `?` inside literals: the text goes to the
 * driver as it is on SQLite). Rejects as the statement fails, or when the transaction is over
 * (committed or rolled back), as knex does.
 */
export async function transactionRows(trx: Knex.Transaction, sql: string, bindings: readonly Knex.RawBinding[]): Promise<StatementRow[]> {
  // lib/store/knex.ts dialectOf (not imported: knex.ts imports this module).
  if (trx.client.config.client === "pg") {
    return ((await trx.raw(sql, bindings as Knex.RawBinding[])) as { rows: StatementRow[] }).rows;
  }
  const conn = (await transactionConnection(trx)) as KnexConnection;
  if (trx.isCompleted()) throw new Error(`Transaction query already complete, run with DEBUG=knex:tx for more info - ${sql}`);
  (trx.client as unknown as TransactionClient).emit("query", {
    __knexUid: conn.__knexUid,
    __knexTxId: conn.__knexTxId,
    method: "raw",
    sql,
    bindings,
  });
  return statementCacheOf(conn).all(sql, bindings);
}
