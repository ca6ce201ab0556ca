/**
 * The rollups of `telemetry_events` (see ./levels.ts): per (bucket, provider_id, route) sums of the
 * runs at three levels — UTC day (`telemetry_daily`, migration 004), hour and minute
 * (`telemetry_hourly`, `telemetry_minutely`, migration 007). Kept exact in the transaction of every
 * insert (`addToRollups`, called by insertTelemetryRows for ingestion and seeding) and recomputed
 * from the raw rows by `rebuildRollups` (bulk loads, repair).
 *
 * Every rollup row also holds a latency sketch of its runs' durations (`latency_sketch`, migration
 * 008, ./latency-sketch.ts): merged with the batch's sketch in the same transaction, rebuilt from the
 * raw rows by rebuildRollups.
 *
 * A key may have several rows, one per stripe (./stripes.ts, migration 012): each insert transaction
 * adds its batch to the rows of the stripe it holds, so concurrent writers never update the same row;
 * the key's figures are the sum of its rows (reads aggregate them), and a rebuild writes one row per
 * key in stripe 0.
 *
 * The summed integer columns (tokens_in, tokens_out, duration_sum, cached_tokens) can exceed int64:
 * values up to 2^53 − 1 per run are accepted (§11.2), so ~1,024 runs at the maximum on one key
 * already do (issue 7). They are numeric on PostgreSQL (migrations 005 and 007); on SQLite an integer
 * `+` that overflows int64 yields a REAL instead of failing, so the column holds the nearest double
 * from then on. A batch's own sums are computed exactly here (ExactSum) before they are added.
 */
import type { Knex } from "knex";
import { dialectOf } from "../../../lib/store/knex";
import { transactionRows } from "../../../lib/store/sqlite-statements";
import { compareText } from "../../../lib/text-order";
import { ERROR_TABLES, addErrorsToLevel, errorRollupRows, rebuildErrorLevel } from "./error-rollups";
import { SketchBins } from "./latency-sketch";
import { LEVELS, RollupLevel, bucketOf } from "./levels";
import type { TelemetryRowInsert } from "./run";
import { overflowFreeSum, storedIntegerSum } from "./run-sums";
import { claimStripe } from "./stripes";

/**
 * An exact integer sum: a number while it is a safe integer (|sum| ≤ 2^53 − 1), a bigint beyond. It
 * is bound as a number, or as its decimal text (exact on PostgreSQL's numeric; on SQLite text of an
 * integer beyond int64 converts to the nearest REAL).
 */
export type ExactSum = number | bigint;

/** sum + value, exactly; value is a safe integer (a stored run value). */
export function addExact(sum: ExactSum, value: number): ExactSum {
  if (typeof sum === "bigint") return sum + BigInt(value);
  const added = sum + value;
  // Two safe integers add exactly unless the exact result is 2^53 or more in magnitude, and then
  // the rounded result is not a safe integer either.
  return Number.isSafeInteger(added) ? added : BigInt(sum) + BigInt(value);
}

/** One rollup row: what a group of runs of one (bucket, provider_id, route) adds. */
export interface RollupRow {
  /** The bucket (`YYYY-MM-DD`, `YYYY-MM-DDTHH` or `YYYY-MM-DDTHH:MM`), in the level's bucket column. */
  bucket: string;
  provider_id: string;
  /** The route, or '' for no route. */
  route_key: string;
  route: string | null;
  run_count: number;
  tokens_in: ExactSum;
  tokens_out: ExactSum;
  duration_sum: ExactSum;
  success_count: number;
  /** Σ known costs, unrounded; unknown costs add 0 (§5.2). */
  cost_sum: number;
  cost_count: number;
  cache_samples: number;
  cache_hits: number;
  /** May be negative: a cache hit can carry a negative count (§10.2). */
  cached_tokens: ExactSum;
  first_ts: string;
  last_ts: string;
  /** The sketch of the group's durations. */
  latency: SketchBins;
}

/** The columns after the bucket column, in the order the upsert binds them. */
const ROW_COLUMNS: readonly (keyof RollupRow)[] = [
  "provider_id",
  "route_key",
  "route",
  "run_count",
  "tokens_in",
  "tokens_out",
  "duration_sum",
  "success_count",
  "cost_sum",
  "cost_count",
  "cache_samples",
  "cache_hits",
  "cached_tokens",
  "first_ts",
  "last_ts",
];

const ADDED_COLUMNS = [
  "run_count",
  "tokens_in",
  "tokens_out",
  "duration_sum",
  "success_count",
  "cost_sum",
  "cost_count",
  "cache_samples",
  "cache_hits",
  "cached_tokens",
] as const;

/** The rollup rows of a batch of runs at one level, one per (bucket, provider_id, route), in key order. */
export function rollupRows(level: RollupLevel, rows: readonly TelemetryRowInsert[]): RollupRow[] {
  const groups = new Map<string, RollupRow>();
  for (const r of rows) {
    const bucket = bucketOf(level, r.ts);
    const routeKey = r.route ?? "";
    const key = `${bucket}\u0000${r.provider_id}\u0000${routeKey}`;
    let g = groups.get(key);
    if (g === undefined) {
      g = {
        bucket,
        provider_id: r.provider_id,
        route_key: routeKey,
        route: r.route,
        run_count: 0,
        tokens_in: 0,
        tokens_out: 0,
        duration_sum: 0,
        success_count: 0,
        cost_sum: 0,
        cost_count: 0,
        cache_samples: 0,
        cache_hits: 0,
        cached_tokens: 0,
        first_ts: r.ts,
        last_ts: r.ts,
        latency: new SketchBins(),
      };
      groups.set(key, g);
    }
    g.run_count += 1;
    g.tokens_in = addExact(g.tokens_in, r.tokens_in);
    g.tokens_out = addExact(g.tokens_out, r.tokens_out);
    g.duration_sum = addExact(g.duration_sum, r.duration_ms);
    g.success_count += r.is_success;
    if (r.cost_usd !== null) {
      g.cost_sum += r.cost_usd;
      g.cost_count += 1;
    }
    if (r.cache_hit !== null) {
      g.cache_samples += 1;
      if (r.cache_hit === 1) g.cache_hits += 1;
    }
    g.cached_tokens = addExact(g.cached_tokens, r.cached_tokens);
    if (r.ts < g.first_ts) g.first_ts = r.ts;
    if (r.ts > g.last_ts) g.last_ts = r.ts;
    g.latency.add(r.duration_ms);
  }
  return [...groups.values()].sort(
    (a, b) => compareText(a.bucket, b.bucket) || compareText(a.provider_id, b.provider_id) || compareText(a.route_key, b.route_key),
  );
}

/**
 * Rollup rows per statement: 17 bound values each, far below SQLite's and PostgreSQL's limits
 * (a multi-row VALUES list, not knex's UNION ALL form, so SQLite's compound-select limit does not apply).
 */
const UPSERT_CHUNK_ROWS = 400;

/**
 * The upsert of `rowCount` rollup rows of one stripe (bound in each row, after the bucket). Without
 * `withSketch` (PostgreSQL) it returns the sketch each row held before (null for a new row), to be
 * merged and written by sketchStatements; with it (SQLite) each row also binds its merged sketch,
 * last, which the upsert writes itself.
 */
function upsertSql(level: RollupLevel, rowCount: number, withSketch = false): string {
  const t = level.table;
  const set = [
    ...ADDED_COLUMNS.map((c) => `${c} = ${t}.${c} + excluded.${c}`),
    `first_ts = CASE WHEN excluded.first_ts < ${t}.first_ts THEN excluded.first_ts ELSE ${t}.first_ts END`,
    `last_ts = CASE WHEN excluded.last_ts > ${t}.last_ts THEN excluded.last_ts ELSE ${t}.last_ts END`,
    ...(withSketch ? ["latency_sketch = excluded.latency_sketch"] : []),
  ].join(", ");
  const columns = [level.bucketColumn, "stripe", ...ROW_COLUMNS, ...(withSketch ? ["latency_sketch"] : [])];
  const placeholders = `(${columns.map(() => "?").join(", ")})`;
  return (
    `INSERT INTO ${t} (${columns.join(", ")})
    VALUES ${Array.from({ length: rowCount }, () => placeholders).join(", ")}
    ON CONFLICT (${level.bucketColumn}, provider_id, route_key, stripe) DO UPDATE SET ${set}` +
    (withSketch
      ? ""
      : `
    RETURNING ${level.bucketColumn} AS bucket, provider_id, route_key, latency_sketch`)
  );
}

const keyOf = (bucket: unknown, providerId: unknown, routeKey: unknown) => `${String(bucket)}\u0000${String(providerId)}\u0000${String(routeKey)}`;

/** A stored sketch to write: the row's key and the sketch's stored form. */
interface SketchWrite {
  bucket: string;
  provider_id: string;
  route_key: string;
  sketch: Buffer;
}

/**
 * The statements writing the latency sketches of existing rows of one level (one per chunk): a
 * multi-row UPDATE … FROM (VALUES …), the same on both dialects (PostgreSQL needs the bytea type
 * spelled out). With a stripe, the rows of that stripe; without, every row of each key (the rebuild,
 * whose keys have one row each — and migration 008, which runs before the stripe column exists).
 */
function sketchStatements(
  pg: boolean,
  level: RollupLevel,
  writes: readonly SketchWrite[],
  stripe?: number,
): { sql: string; bindings: Knex.RawBinding[] }[] {
  const t = level.table;
  const value = pg ? "(?, ?, ?, ?::bytea)" : "(?, ?, ?, ?)";
  const statements: { sql: string; bindings: Knex.RawBinding[] }[] = [];
  for (let start = 0; start < writes.length; start += UPSERT_CHUNK_ROWS) {
    const chunk = writes.slice(start, start + UPSERT_CHUNK_ROWS);
    const bindings: Knex.RawBinding[] = chunk.flatMap((w) => [w.bucket, w.provider_id, w.route_key, w.sketch]);
    if (stripe !== undefined) bindings.push(stripe);
    statements.push({
      sql: `UPDATE ${t} SET latency_sketch = v.column4 FROM (VALUES ${chunk.map(() => value).join(", ")}) AS v
       WHERE ${t}.${level.bucketColumn} = v.column1 AND ${t}.provider_id = v.column2 AND ${t}.route_key = v.column3
       ${stripe === undefined ? "" : `AND ${t}.stripe = ?`}`,
      bindings,
    });
  }
  return statements;
}

/** Writes the latency sketches of existing rows of one level (sketchStatements), outside the insert path. */
async function writeSketches(db: Knex | Knex.Transaction, level: RollupLevel, writes: readonly SketchWrite[]): Promise<void> {
  for (const { sql, bindings } of sketchStatements(dialectOf(db as Knex) === "pg", level, writes)) await db.raw(sql, bindings);
}

/** The bound values of one rollup row of the upsert: bucket, stripe, then ROW_COLUMNS (exact sums beyond 2^53 as text). */
function rowBindings(g: RollupRow, stripe: number): Knex.RawBinding[] {
  return [
    g.bucket,
    stripe,
    ...ROW_COLUMNS.map((c) => {
      const value = g[c];
      return typeof value === "bigint" ? value.toString() : (value as Knex.RawBinding);
    }),
  ];
}

function bindingsOf(chunk: readonly RollupRow[], stripe: number): Knex.RawBinding[] {
  return chunk.flatMap((g) => rowBindings(g, stripe));
}

/**
 * PostgreSQL: adds rollup rows to the rows of one stripe of one level, inside the caller's
 * transaction (which holds the stripe): the sums by one upsert per chunk, which returns the sketch
 * each row held before (null for a new row); then the merged sketches by one UPDATE per chunk. No
 * other writer can change the rows in between: no other open transaction holds the stripe, and the
 * upsert's row locks would keep any other writer (a rebuild) out until this transaction ends.
 */
async function addToLevel(trx: Knex.Transaction, level: RollupLevel, groups: readonly RollupRow[], stripe: number): Promise<void> {
  for (let start = 0; start < groups.length; start += UPSERT_CHUNK_ROWS) {
    const chunk = groups.slice(start, start + UPSERT_CHUNK_ROWS);
    const before = new Map<string, unknown>();
    for (const r of await transactionRows(trx, upsertSql(level, chunk.length), bindingsOf(chunk, stripe))) {
      before.set(keyOf(r.bucket, r.provider_id, r.route_key), r.latency_sketch);
    }
    const writes = chunk.map((g): SketchWrite => {
      const stored = before.get(keyOf(g.bucket, g.provider_id, g.route_key));
      if (stored !== null && stored !== undefined) g.latency.addEncoded(stored as Uint8Array);
      return { bucket: g.bucket, provider_id: g.provider_id, route_key: g.route_key, sketch: g.latency.encode() };
    });
    for (const { sql, bindings } of sketchStatements(true, level, writes, stripe)) await transactionRows(trx, sql, bindings);
  }
}

/** Keys whose stored sketches one statement of readStoredSketches reads (3 bound values each). */
const SKETCH_READ_CHUNK_KEYS = 1000;

/**
 * The stored sketches of the given rollup rows (groups[i]: rows of LEVELS[i]) in one stripe, by
 * level then key (a key without a row, or with a null sketch, is absent): one statement per
 * SKETCH_READ_CHUNK_KEYS keys, all levels together, each read by its primary key.
 */
async function readStoredSketches(
  trx: Knex.Transaction,
  groups: readonly (readonly RollupRow[])[],
  stripe: number,
): Promise<Map<string, Uint8Array>[]> {
  const stored = LEVELS.map(() => new Map<string, Uint8Array>());
  const keys = groups.flatMap((rows, level) => rows.map((g) => ({ level, g })));
  for (let start = 0; start < keys.length; start += SKETCH_READ_CHUNK_KEYS) {
    const chunk = keys.slice(start, start + SKETCH_READ_CHUNK_KEYS);
    const parts: string[] = [];
    const bindings: Knex.RawBinding[] = [];
    LEVELS.forEach((level, i) => {
      const mine = chunk.filter((k) => k.level === i);
      if (mine.length === 0) return;
      parts.push(
        `SELECT ${i} AS level, ${level.bucketColumn} AS bucket, provider_id, route_key, latency_sketch FROM ${level.table}
         WHERE stripe = ? AND (${level.bucketColumn}, provider_id, route_key) IN (VALUES ${mine.map(() => "(?, ?, ?)").join(", ")})`,
      );
      bindings.push(stripe, ...mine.flatMap(({ g }) => [g.bucket, g.provider_id, g.route_key]));
    });
    for (const r of await transactionRows(trx, parts.join(" UNION ALL "), bindings)) {
      if (r.latency_sketch !== null) stored[Number(r.level)].set(keyOf(r.bucket, r.provider_id, r.route_key), r.latency_sketch as Uint8Array);
    }
  }
  return stored;
}

/**
 * SQLite: adds the rollup rows of every level (groups[i]: rows of LEVELS[i]) to the rows of one
 * stripe, inside the caller's transaction, which already holds the database's write lock (it
 * inserted the runs): no other writer can change a row until it commits, so the stored sketches are
 * read first (readStoredSketches), merged here, and each level's upsert writes the sums and the
 * merged sketch in one statement per chunk.
 */
async function addToLevelsAlone(trx: Knex.Transaction, groups: readonly RollupRow[][], stripe: number): Promise<void> {
  const stored = await readStoredSketches(trx, groups, stripe);
  for (let i = 0; i < LEVELS.length; i++) {
    for (let start = 0; start < groups[i].length; start += UPSERT_CHUNK_ROWS) {
      const chunk = groups[i].slice(start, start + UPSERT_CHUNK_ROWS);
      const bindings = chunk.flatMap((g) => {
        const before = stored[i].get(keyOf(g.bucket, g.provider_id, g.route_key));
        if (before !== undefined) g.latency.addEncoded(before);
        return [...rowBindings(g, stripe), g.latency.encode()];
      });
      await transactionRows(trx, upsertSql(LEVELS[i], chunk.length, true), bindings);
    }
  }
}

/**
 * Adds a batch of inserted runs (ids[i] = the id of rows[i]) to every rollup level and its error
 * rollup, inside the caller's transaction (the one that inserts the runs), in the stripe the
 * transaction claims first (./stripes.ts): no other open transaction writes that stripe, so on
 * PostgreSQL concurrent batches neither wait for each other's rollup rows nor deadlock on them.
 * The rows are still written in one fixed order — levels coarsest first, sums before errors, the
 * keys of a table sorted — the order rebuildRollups locks the tables in. Call it after the runs'
 * insert (on SQLite it relies on the write lock that insert took).
 */
export async function addToRollups(trx: Knex.Transaction, rows: readonly TelemetryRowInsert[], ids: readonly number[]): Promise<void> {
  const stripe = await claimStripe(trx);
  const groups = LEVELS.map((level) => rollupRows(level, rows));
  if (dialectOf(trx as unknown as Knex) === "pg") {
    for (let i = 0; i < LEVELS.length; i++) await addToLevel(trx, LEVELS[i], groups[i], stripe);
  } else {
    await addToLevelsAlone(trx, groups, stripe);
  }
  for (const level of LEVELS) await addErrorsToLevel(trx, level, errorRollupRows(level, rows, ids), stripe);
}

/**
 * One level as a fresh aggregate of `telemetry_events`, one row per key. The integer sums are exact
 * wherever the store can hold them (./run-sums.ts storedIntegerSum), as the batch upserts write them,
 * so a rebuilt rollup equals the incrementally kept one. It names no stripe (the rows get the
 * column's default, 0), so it also fits the schema before migration 012, whose down relies on it.
 */
function rebuildSql(knex: Knex, level: RollupLevel): string {
  const sum = (column: string) => storedIntegerSum(knex, column);
  // telemetry_events.day is the first 10 characters of ts, and is indexed.
  const bucket = level.name === "day" ? "day" : `SUBSTR(ts, 1, ${level.prefixLength})`;
  return `
  INSERT INTO ${level.table} (${level.bucketColumn}, ${ROW_COLUMNS.join(", ")})
  SELECT ${bucket}, provider_id, COALESCE(route, ''), route, COUNT(*), ${sum("tokens_in")}, ${sum("tokens_out")},
         ${sum("duration_ms")}, SUM(is_success), COALESCE(${overflowFreeSum(knex, "cost_usd")}, 0), COUNT(cost_usd),
         COUNT(cache_hit), SUM(CASE WHEN cache_hit = 1 THEN 1 ELSE 0 END), ${sum("cached_tokens")}, MIN(ts), MAX(ts)
  FROM telemetry_events
  GROUP BY ${bucket}, provider_id, route`;
}

/**
 * Recomputes every rollup level (sums, sketches, error categories) from the raw rows in one transaction: for runs written without
 * insertTelemetryRows (bulk loads) and for repair. On PostgreSQL the rollup tables are locked against
 * writers first, in the order writers take them: batches that already updated them commit before the
 * rebuild reads the runs, and batches that have not yet reached them wait and add their runs after
 * the rebuild.
 */
export async function rebuildRollups(knex: Knex): Promise<void> {
  await knex.transaction(async (trx) => {
    if (dialectOf(knex) === "pg") {
      await trx.raw(`LOCK TABLE ${[...LEVELS.map((l) => l.table), ...ERROR_TABLES].join(", ")} IN EXCLUSIVE MODE`);
    }
    await recomputeRollups(trx);
  });
}

/**
 * Replaces every rollup row (sums, sketches, error categories) by a fresh aggregate of the raw rows,
 * one row per key, in the caller's transaction without locking anything first (rebuildRollups locks;
 * migration 012's down runs inside its migration). Writes no stripe column, so it fits the schema
 * before migration 012 as well as after.
 */
export async function recomputeRollups(db: Knex | Knex.Transaction): Promise<void> {
  for (const level of LEVELS) {
    await db(level.table).delete();
    await db.raw(rebuildSql(db as Knex, level));
  }
  await rebuildLatencySketches(db);
  for (const level of LEVELS) await rebuildErrorLevel(db, level);
}

/** Raw rows read per statement by rebuildLatencySketches. */
const SKETCH_SCAN_ROWS = 20_000;

/**
 * Recomputes the latency sketch of every row of every level from the raw rows (the rows must exist:
 * rebuildRollups and migration 008 call this after the sums). Reads the runs in (ts, id) order in
 * chunks (keyset on the (ts, id) index) and writes each UTC day's sketches once the scan has passed
 * it, so memory holds one day's buckets, whatever the size of the store.
 */
export async function rebuildLatencySketches(db: Knex | Knex.Transaction): Promise<void> {
  let day: string | null = null;
  let sketches = LEVELS.map(() => new Map<string, { bucket: string; provider_id: string; route_key: string; sketch: SketchBins }>());
  const flush = async () => {
    for (let i = 0; i < LEVELS.length; i++) {
      const writes = [...sketches[i].values()].map((s) => ({ ...s, sketch: s.sketch.encode() }));
      writes.sort((a, b) => compareText(keyOf(a.bucket, a.provider_id, a.route_key), keyOf(b.bucket, b.provider_id, b.route_key)));
      await writeSketches(db, LEVELS[i], writes);
    }
    sketches = LEVELS.map(() => new Map());
  };
  let after: { ts: string; id: number } | undefined;
  for (;;) {
    const qb = db("telemetry_events").select("id", "ts", "provider_id", "route", "duration_ms");
    if (after !== undefined) qb.whereRaw("(ts, id) > (?, ?)", [after.ts, after.id]);
    const rows: { id: number | string; ts: string; provider_id: string; route: string | null; duration_ms: number | string }[] = await qb
      .orderBy([{ column: "ts" }, { column: "id" }])
      .limit(SKETCH_SCAN_ROWS);
    for (const r of rows) {
      const rowDay = r.ts.slice(0, 10);
      if (rowDay !== day) {
        if (day !== null) await flush();
        day = rowDay;
      }
      const routeKey = r.route ?? "";
      LEVELS.forEach((level, i) => {
        const bucket = bucketOf(level, r.ts);
        const key = keyOf(bucket, r.provider_id, routeKey);
        let entry = sketches[i].get(key);
        if (entry === undefined) {
          entry = { bucket, provider_id: r.provider_id, route_key: routeKey, sketch: new SketchBins() };
          sketches[i].set(key, entry);
        }
        entry.sketch.add(Number(r.duration_ms));
      });
    }
    if (rows.length < SKETCH_SCAN_ROWS) break;
    const last = rows[rows.length - 1];
    after = { ts: last.ts, id: Number(last.id) };
  }
  await flush();
}
