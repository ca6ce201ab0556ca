/**
 * One read of a range of instants over the rollups (issue 8): the range is split into whole buckets
 * of each level and raw edges (./levels.ts splitRange), each piece becomes one SELECT — over the
 * level's rollup table (or its error rollup) for whole buckets, over `telemetry_events` for the
 * edges — and the pieces are sent as one `UNION ALL` statement, so a read costs one round trip
 * whatever the number of pieces. The caller merges the rows of the pieces (they are small: grouped
 * per key and bucket level, never per run).
 *
 * Every piece selects the same columns in the same order (a UNION matches columns by position):
 * each column gives its SQL over rollup rows and over raw rows. Column and table names are constants
 * of the store modules, never request input; filter values are bound.
 */
import type { Knex } from "knex";
import { storedToMs, toStoredInstant } from "../../../lib/time";
import { InstantRange, LEVELS, RollupLevel, bucketOf, splitRange, whereBuckets, whereInstants } from "./levels";

type Db = Knex | Knex.Transaction;

/** One output column: its alias, its SQL over a level's rollup rows, its SQL over the raw rows. */
export interface RangeColumn {
  alias: string;
  level: string | ((level: RollupLevel) => string);
  runs: string;
}

export interface RangeRead {
  /** The rollup tables to read whole buckets from: the sums (`rollup`) or the error categories. */
  tables: "rollup" | "errors";
  columns: readonly RangeColumn[];
  /** GROUP BY of each piece, over rollup rows and over raw rows; none: one row per piece. */
  groupBy?: { level: string | ((level: RollupLevel) => string); runs: string };
  /** The non-time filters of a rollup piece. */
  whereLevel(qb: Knex.QueryBuilder, level: RollupLevel): void;
  /** The non-time filters of a raw piece. */
  whereRuns(qb: Knex.QueryBuilder): void;
}

const sqlOf = (sql: string | ((level: RollupLevel) => string), level: RollupLevel) => (typeof sql === "string" ? sql : sql(level));

const FINEST = LEVELS[LEVELS.length - 1];

/**
 * For a bounded raw edge (inside one bucket of the finest level, as splitRange makes them): that
 * bucket and the parts of it outside the edge (one or two inclusive instant ranges). Undefined for
 * an unbounded edge.
 */
export function edgeRest(edge: InstantRange): { bucket: string; outside: InstantRange[] } | undefined {
  if (edge.startTs === undefined || edge.endTs === undefined) return undefined;
  const bucket = bucketOf(FINEST, edge.startTs);
  if (bucketOf(FINEST, edge.endTs) !== bucket) return undefined;
  const startMs = storedToMs(edge.startTs);
  const endMs = storedToMs(edge.endTs);
  const firstMs = Math.floor(startMs / FINEST.ms) * FINEST.ms;
  const lastMs = firstMs + FINEST.ms - 1;
  const outside: InstantRange[] = [];
  if (startMs > firstMs) outside.push({ startTs: toStoredInstant(firstMs), endTs: toStoredInstant(startMs - 1) });
  if (endMs < lastMs) outside.push({ startTs: toStoredInstant(endMs + 1), endTs: toStoredInstant(lastMs) });
  return outside.length === 0 ? undefined : { bucket, outside };
}

/** `SELECT 1` of the runs (any run, unfiltered) in any of the ranges: the test of an EXISTS. */
function runsIn(db: Db, ranges: readonly InstantRange[]): Knex.QueryBuilder {
  return db("telemetry_events")
    .select(db.raw("1"))
    .where((any) => {
      for (const r of ranges) any.orWhere((one) => whereInstants(one, r));
    });
}

/** The rows of every piece of the range (whole buckets per level, then the raw edges), in one statement. */
export async function readRange(db: Db, range: InstantRange, read: RangeRead): Promise<Record<string, unknown>[]> {
  return (await readRanges(db, [{ range, read }]))[0];
}

/**
 * Several range reads in one statement (e.g. the before and after windows of every pull request of
 * a report): the rows of the i-th read at index i. Each piece is tagged with its read's index; the
 * statement holds at most 7 pieces per read (one span of days, two of hours, two of minutes, two
 * edges), so a few dozen reads stay far below SQLite's 500 terms of a compound SELECT.
 */
export async function readRanges(db: Db, requests: readonly { range: InstantRange; read: RangeRead }[]): Promise<Record<string, unknown>[][]> {
  const pieces: Knex.QueryBuilder[] = [];
  requests.forEach(({ range, read }, index) => {
    const tag = db.raw(`${index} AS range_index`);
    const split = splitRange(range);
    for (const { level, spans } of split.levels) {
      const qb = db(read.tables === "rollup" ? level.table : level.errorsTable).select([
        tag,
        ...read.columns.map((c) => db.raw(`${sqlOf(c.level, level)} AS ${c.alias}`)),
      ]);
      whereBuckets(qb, level.bucketColumn, spans);
      read.whereLevel(qb, level);
      if (read.groupBy !== undefined) qb.groupByRaw(sqlOf(read.groupBy.level, level));
      pieces.push(qb);
    }
    for (const edge of split.edges) {
      const rest = edgeRest(edge);
      const qb = db("telemetry_events").select([tag, ...read.columns.map((c) => db.raw(`${c.runs} AS ${c.alias}`))]);
      whereInstants(qb, edge);
      read.whereRuns(qb);
      if (read.groupBy !== undefined) qb.groupByRaw(read.groupBy.runs);
      if (rest === undefined) {
        pieces.push(qb);
        continue;
      }
      // The edge's bucket row answers for the edge when no run of the bucket lies outside the edge
      // (the usual case of a window ending now); the raw rows otherwise. One of the two pieces yields
      // rows, decided inside the statement, so both see the same snapshot.
      const level = FINEST;
      const whole = db(read.tables === "rollup" ? level.table : level.errorsTable)
        .select([tag, ...read.columns.map((c) => db.raw(`${sqlOf(c.level, level)} AS ${c.alias}`))])
        .where(level.bucketColumn, rest.bucket)
        .whereNotExists(runsIn(db, rest.outside));
      read.whereLevel(whole, level);
      if (read.groupBy !== undefined) whole.groupByRaw(sqlOf(read.groupBy.level, level));
      qb.whereExists(runsIn(db, rest.outside));
      pieces.push(whole, qb);
    }
  });
  let rows: Record<string, unknown>[];
  if (pieces.length === 1) {
    rows = (await pieces[0]) as Record<string, unknown>[];
  } else {
    // Each piece as a derived table: knex writes a builder's UNION before its own GROUP BY.
    const [first, ...rest] = pieces.map((piece, i) => db.select("*").from(piece.as(`piece${i}`)));
    rows = (await first.unionAll(rest)) as Record<string, unknown>[];
  }
  const out: Record<string, unknown>[][] = requests.map(() => []);
  for (const row of rows) {
    const { range_index: index, ...rest } = row;
    out[Number(index)].push(rest);
  }
  return out;
}
