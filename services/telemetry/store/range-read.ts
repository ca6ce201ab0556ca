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
import { InstantRange, RollupLevel, splitRange, whereBuckets, whereInstants } from "./levels";

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

/** The rows of every piece of the range (whole buckets per level, then the raw edges), in one statement. */
export async function readRange(db: Db, range: InstantRange, read: RangeRead): Promise<Record<string, unknown>[]> {
  const split = splitRange(range);
  const pieces: Knex.QueryBuilder[] = [];
  for (const { level, spans } of split.levels) {
    const qb = db(read.tables === "rollup" ? level.table : level.errorsTable)
      .select(read.columns.map((c) => db.raw(`${sqlOf(c.level, level)} AS ${c.alias}`)));
    whereBuckets(qb, level.bucketColumn, spans);
    read.whereLevel(qb, level);
    if (read.groupBy !== undefined) qb.groupByRaw(sqlOf(read.groupBy.level, level));
    pieces.push(qb);
  }
  for (const edge of split.edges) {
    const qb = db("telemetry_events").select(read.columns.map((c) => db.raw(`${c.runs} AS ${c.alias}`)));
    whereInstants(qb, edge);
    read.whereRuns(qb);
    if (read.groupBy !== undefined) qb.groupByRaw(read.groupBy.runs);
    pieces.push(qb);
  }
  if (pieces.length === 1) return (await pieces[0]) as Record<string, unknown>[];
  // Each piece as a derived table: knex writes a builder's UNION before its own GROUP BY.
  const [first, ...rest] = pieces.map((piece, i) => db.select("*").from(piece.as(`piece${i}`)));
  return (await first.unionAll(rest)) as Record<string, unknown>[];
}
