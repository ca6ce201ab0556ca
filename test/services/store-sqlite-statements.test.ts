/**
 * The prepared-statement cache of SQLite connections (lib/store/sqlite-statements.ts), on real
 * SQLite files through the store's own Knex writer (lib/store/knex.ts): statements are reused, a
 * failing statement leaves the cache, eviction and closing finalize every statement so the file is
 * closed, and a rollback undoes what cached statements wrote (telemetry ingestion's path included).
 */
import fs from "node:fs";
import path from "node:path";
import type { Knex } from "knex";
import sqlite3 from "sqlite3";
import { createKnex } from "../../lib/store/knex";
import { migrateToLatest } from "../../lib/store/migrate";
import { MAX_CACHED_SQL_CHARS, StatementCache, statementCacheOf, transactionConnection, transactionRows } from "../../lib/store/sqlite-statements";
import { insertTelemetryRows } from "../../services/telemetry/store/insert";
import { rowFromRun, validateIngestBody } from "../../services/telemetry/store/run";
import { tempDir } from "../helpers/server";

/** Paths of the files this process has open (its /proc/self/fd links). */
function openFiles(): string[] {
  const files: string[] = [];
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    try {
      files.push(fs.readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // closed meanwhile (the directory listing's own fd)
    }
  }
  return files;
}

const INSERT = "INSERT INTO items (name, size, data) VALUES (?, ?, ?) RETURNING id, name, size, data";

async function makeItems(knex: Knex): Promise<void> {
  await knex.schema.createTable("items", (t) => {
    t.increments("id");
    t.text("name").notNullable().unique();
    t.integer("size");
    t.binary("data");
  });
}

describe("SQLite statement cache", () => {
  let dir: string;
  let dbPath: string;
  let knex: Knex;

  beforeEach(async () => {
    dir = tempDir("console-mcp-statements-");
    dbPath = path.join(dir, "console.db");
    knex = createKnex({ dbUrl: null, dbPath });
    await makeItems(knex);
  });
  afterEach(async () => {
    await knex.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("reuses one prepared statement for the same SQL text, within and across transactions", async () => {
    let cache: StatementCache | undefined;
    for (let t = 0; t < 3; t++) {
      await knex.transaction(async (trx) => {
        cache = statementCacheOf(await transactionConnection(trx));
        for (let i = 0; i < 10; i++) {
          const rows = await transactionRows(trx, INSERT, [`item-${t}-${i}`, i, null]);
          expect(rows).toEqual([{ id: expect.any(Number), name: `item-${t}-${i}`, size: i, data: null }]);
        }
        await transactionRows(trx, "SELECT COUNT(*) AS n FROM items", []);
      });
    }
    expect(cache?.prepares).toBe(2);
    expect(cache?.size).toBe(2);
    expect(await knex("items").count({ n: "*" })).toEqual([{ n: 30 }]);
  });

  it("binds values as knex's raw does (text, integers, doubles, null, Buffers), and knex sees the statements", async () => {
    const queries: string[] = [];
    knex.on("query", (q: { sql: string }) => queries.push(q.sql));
    const blob = Buffer.from([0, 1, 2, 255]);
    const viaKnex = await knex.transaction(async (trx) => trx.raw(INSERT, ["k", 2 ** 40, blob]));
    const viaCache = await knex.transaction(async (trx) => transactionRows(trx, INSERT, ["c", 2 ** 40, blob]));
    const viaKnexNull = await knex.transaction(async (trx) => trx.raw(INSERT, ["kn", 1.5, null]));
    const viaCacheNull = await knex.transaction(async (trx) => transactionRows(trx, INSERT, ["cn", 1.5, null]));
    const strip = (rows: Record<string, unknown>[]) => rows.map(({ id: _id, name: _name, ...rest }) => rest);
    expect(strip(viaCache)).toEqual(strip(viaKnex as unknown as Record<string, unknown>[]));
    expect(strip(viaCacheNull)).toEqual(strip(viaKnexNull as unknown as Record<string, unknown>[]));
    expect(strip(viaCache)).toEqual([{ size: 2 ** 40, data: blob }]);
    const stored = await knex("items").select("name", "size", "data").orderBy("id");
    expect(stored.map((r) => [r.name, r.size, r.data])).toEqual([
      ["k", 2 ** 40, blob],
      ["c", 2 ** 40, blob],
      ["kn", 1.5, null],
      ["cn", 1.5, null],
    ]);
    expect(queries.filter((q) => q === INSERT)).toHaveLength(4);
  });

  it("refuses an undefined binding, as knex does, without running anything", async () => {
    await expect(knex.transaction((trx) => transactionRows(trx, INSERT, ["u", undefined as unknown as number, null]))).rejects.toThrow(
      /undefined binding at position 1/,
    );
    expect(await knex("items").count({ n: "*" })).toEqual([{ n: 0 }]);
  });

  it("drops a statement whose execution failed, and runs the same SQL afresh afterwards", async () => {
    await knex.transaction(async (trx) => {
      const cache = statementCacheOf(await transactionConnection(trx));
      await transactionRows(trx, INSERT, ["dup", 1, null]);
      expect([cache.prepares, cache.size]).toEqual([1, 1]);
      const failed = transactionRows(trx, INSERT, ["dup", 2, null]);
      await expect(failed).rejects.toMatchObject({ code: "SQLITE_CONSTRAINT" });
      await expect(failed).rejects.toThrow(new RegExp(`^${INSERT.replace(/[()?]/g, "\\$&")} - SQLITE_CONSTRAINT`));
      expect(cache.size).toBe(0);
      // The same text works again, prepared anew, and the transaction goes on.
      expect(await transactionRows(trx, INSERT, ["other", 3, null])).toMatchObject([{ name: "other" }]);
      expect([cache.prepares, cache.size]).toEqual([2, 1]);
    });
    expect((await knex("items").select("name").orderBy("id")).map((r) => r.name)).toEqual(["dup", "other"]);
  });

  it("drops a statement whose preparation failed, so the same text works once it can", async () => {
    const sql = "INSERT INTO later (x) VALUES (?) RETURNING x";
    await knex.transaction(async (trx) => {
      const cache = statementCacheOf(await transactionConnection(trx));
      await expect(transactionRows(trx, sql, [1])).rejects.toThrow(/SQLITE_ERROR: no such table: later/);
      expect(cache.size).toBe(0);
      await trx.raw("CREATE TABLE later (x INTEGER)");
      expect(await transactionRows(trx, sql, [1])).toEqual([{ x: 1 }]);
      expect(cache.size).toBe(1);
    });
  });

  it("leaves nothing stored when the transaction rolls back after cached statements ran, and the statements stay usable", async () => {
    const failure = new Error("after the inserts");
    await expect(
      knex.transaction(async (trx) => {
        await transactionRows(trx, INSERT, ["gone-1", 1, null]);
        await transactionRows(trx, INSERT, ["gone-2", 2, null]);
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await knex("items").count({ n: "*" })).toEqual([{ n: 0 }]);
    await knex.transaction((trx) => transactionRows(trx, INSERT, ["kept", 3, null]));
    expect((await knex("items").select("name")).map((r) => r.name)).toEqual(["kept"]);
  });

  it("runs a statement longer than MAX_CACHED_SQL_CHARS without keeping it", async () => {
    const rows = Math.ceil(MAX_CACHED_SQL_CHARS / 8); // "(?, ?), " is 8 characters
    const sql = `INSERT INTO items (name, size) VALUES ${Array.from({ length: rows }, () => "(?, ?)").join(", ")} RETURNING id`;
    expect(sql.length).toBeGreaterThan(MAX_CACHED_SQL_CHARS);
    await knex.transaction(async (trx) => {
      const cache = statementCacheOf(await transactionConnection(trx));
      for (let round = 0; round < 2; round++) {
        const bindings = Array.from({ length: rows }, (_, i) => [`long-${round}-${i}`, i]).flat();
        expect(await transactionRows(trx, sql, bindings)).toHaveLength(rows);
      }
      expect([cache.prepares, cache.size]).toEqual([2, 0]);
    });
    expect(await knex("items").count({ n: "*" })).toEqual([{ n: 2 * rows }]);
  });

  it("refuses a statement once its transaction is over", async () => {
    let done: Knex.Transaction | undefined;
    await knex.transaction(async (trx) => {
      done = trx;
    });
    await expect(transactionRows(done as Knex.Transaction, INSERT, ["late", 1, null])).rejects.toThrow(/Transaction query already complete/);
    expect(await knex("items").count({ n: "*" })).toEqual([{ n: 0 }]);
  });

  it("keeps at most its capacity, finalizing the least recently used (after its running call)", async () => {
    await knex.transaction(async (trx) => {
      const db = await transactionConnection(trx);
      const cache = new StatementCache(db, 2);
      const sqlOf = (k: number) => `SELECT ${k} AS k`;
      // The first call is still running when two other texts evict it.
      const first = cache.all(sqlOf(1), []);
      const others = [cache.all(sqlOf(2), []), cache.all(sqlOf(3), [])];
      expect(await first).toEqual([{ k: 1 }]);
      expect(await Promise.all(others)).toEqual([[{ k: 2 }], [{ k: 3 }]]);
      expect(cache.size).toBe(2);
      // The most recently used stay: 2 is used again (no prepare), 1 is prepared again.
      await cache.all(sqlOf(2), []);
      expect(cache.prepares).toBe(3);
      await cache.all(sqlOf(1), []);
      expect([cache.prepares, cache.size]).toEqual([4, 2]);
      await cache.close();
      await expect(cache.all(sqlOf(1), [])).rejects.toThrow(/closed/);
    });
  });
});

describe("closing a SQLite store with cached statements", () => {
  it("node-sqlite3 cannot close a connection with an unfinalized statement (why the store finalizes first)", async () => {
    const dir = tempDir("console-mcp-statements-");
    try {
      const db = await new Promise<sqlite3.Database>((resolve, reject) => {
        const opened = new sqlite3.Database(path.join(dir, "raw.db"), (err) => (err ? reject(err) : resolve(opened)));
      });
      const statement = await new Promise<sqlite3.Statement>((resolve, reject) => {
        const prepared = db.prepare("SELECT 1 AS one", (err: Error | null) => (err ? reject(err) : resolve(prepared)));
      });
      await expect(new Promise<void>((resolve, reject) => db.close((err) => (err ? reject(err) : resolve())))).rejects.toMatchObject({
        code: "SQLITE_BUSY",
      });
      await new Promise<void>((resolve) => statement.finalize(() => resolve()));
      await new Promise<void>((resolve, reject) => db.close((err) => (err ? reject(err) : resolve())));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("knex.destroy() finalizes the cached statements and closes the file (no handle left open)", async () => {
    const dir = tempDir("console-mcp-statements-");
    const dbPath = path.join(dir, "console.db");
    try {
      const knex = createKnex({ dbUrl: null, dbPath });
      await makeItems(knex);
      let cache: StatementCache | undefined;
      await knex.transaction(async (trx) => {
        cache = statementCacheOf(await transactionConnection(trx));
        for (let i = 0; i < 5; i++) await transactionRows(trx, INSERT, [`i${i}`, i, null]);
        await transactionRows(trx, "SELECT name FROM items WHERE size = ?", [1]);
      });
      expect(cache?.size).toBe(2);
      expect(openFiles().filter((f) => f.startsWith(dbPath))).not.toHaveLength(0);
      await knex.destroy();
      expect(openFiles().filter((f) => f.startsWith(dbPath))).toEqual([]);
      await expect(cache?.all(INSERT, ["after", 1, null])).rejects.toThrow(/closed/);
      // The file holds what was committed.
      const again = createKnex({ dbUrl: null, dbPath });
      try {
        expect(await again("items").count({ n: "*" })).toEqual([{ n: 5 }]);
      } finally {
        await again.destroy();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("telemetry ingestion on cached statements", () => {
  let dir: string;
  let knex: Knex;

  beforeAll(async () => {
    dir = tempDir("console-mcp-statements-");
    knex = createKnex({ dbUrl: null, dbPath: path.join(dir, "console.db") });
    await migrateToLatest(knex);
  });
  afterAll(async () => {
    await knex.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const counts = async () => {
    const tables = [
      "telemetry_events",
      "telemetry_daily",
      "telemetry_hourly",
      "telemetry_minutely",
      "telemetry_daily_errors",
      "telemetry_hourly_errors",
      "telemetry_minutely_errors",
    ];
    const out: Record<string, number> = {};
    for (const t of tables) out[t] = Number((await knex(t).count({ n: "*" }))[0].n);
    return out;
  };

  it("a rollback after the run and its rollups were written leaves nothing stored; the next write stores all of it", async () => {
    const nowMs = Date.parse("2025-06-01T12:00:00.000Z");
    const runs = validateIngestBody(
      { runs: [{ provider_id: "p", tool: "t", ts: "2025-06-01T11:59:00Z", duration_ms: 12, status: "error", tokens_in: 1, tokens_out: 2 }] },
      nowMs,
    );
    const rows = runs.map((run) => rowFromRun(run, nowMs));
    const empty = await counts();
    const failure = new Error("after the rollups");
    await expect(
      knex.transaction(async (trx) => {
        await insertTelemetryRows(trx, rows);
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await counts()).toEqual(empty);
    await knex.transaction((trx) => insertTelemetryRows(trx, rows));
    expect(await counts()).toEqual(Object.fromEntries(Object.keys(empty).map((t) => [t, 1])));
    expect(await knex("telemetry_minutely").select("run_count", "duration_sum")).toEqual([{ run_count: 1, duration_sum: 12 }]);
  });
});
