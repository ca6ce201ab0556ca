/**
 * The rollup levels of `telemetry_events` and how a range of instants is read from them (issue 8).
 *
 * Three levels of the same sums are kept in the insert transaction: per UTC day (`telemetry_daily`,
 * migration 004), per UTC hour (`telemetry_hourly`) and per UTC minute (`telemetry_minutely`, both
 * migration 007), each keyed by (bucket, provider_id, route_key). A bucket is named by the prefix of
 * the stored instant text `YYYY-MM-DDTHH:MM:SS.sssZ` that it shares with every instant inside it:
 * `YYYY-MM-DD` (10 characters), `YYYY-MM-DDTHH` (13), `YYYY-MM-DDTHH:MM` (16); text order is
 * chronological, so a span of buckets is a text range.
 *
 * `splitRange` cuts any inclusive range [start, end] at millisecond precision into the whole days
 * inside it, then the whole hours of what is left, then the whole minutes of what is left after
 * that, and at most two partial minutes (one at each end) that only the raw rows can answer. A read
 * then touches at most 1 + 2 × 23 + 2 × 59 rollup buckets per key plus two minutes of raw rows,
 * whatever the number of runs in the range.
 */
import type { Knex } from "knex";
import { MAX_INSTANT_MS, MIN_INSTANT_MS, storedToMs, toStoredInstant } from "../../../lib/time";

/** One rollup level: its table, the column naming its bucket, and the bucket's width. */
export interface RollupLevel {
  name: "day" | "hour" | "minute";
  table: string;
  /** The bucket column: `day`, `hour` or `minute`. */
  bucketColumn: string;
  /** Characters of the stored instant text that name the bucket. */
  prefixLength: number;
  /** Bucket width in milliseconds; buckets are aligned on the UTC epoch. */
  ms: number;
  /** The level's error-category rollup (./error-rollups.ts). */
  errorsTable: string;
}

export const DAY_LEVEL: RollupLevel = {
  name: "day",
  table: "telemetry_daily",
  bucketColumn: "day",
  prefixLength: 10,
  ms: 86_400_000,
  errorsTable: "telemetry_daily_errors",
};
export const HOUR_LEVEL: RollupLevel = {
  name: "hour",
  table: "telemetry_hourly",
  bucketColumn: "hour",
  prefixLength: 13,
  ms: 3_600_000,
  errorsTable: "telemetry_hourly_errors",
};
export const MINUTE_LEVEL: RollupLevel = {
  name: "minute",
  table: "telemetry_minutely",
  bucketColumn: "minute",
  prefixLength: 16,
  ms: 60_000,
  errorsTable: "telemetry_minutely_errors",
};

/** Every level, coarsest first: the order in which splitRange fills them and writers lock them. */
export const LEVELS: readonly RollupLevel[] = [DAY_LEVEL, HOUR_LEVEL, MINUTE_LEVEL];

/** The bucket of a stored instant text at a level. */
export function bucketOf(level: RollupLevel, ts: string): string {
  return ts.slice(0, level.prefixLength);
}

/** The SQL of the UTC day of a level's rollup rows (bucket columns are constants, never input). */
export function dayOfBucket(level: RollupLevel): string {
  return level.name === "day" ? "day" : `SUBSTR(${level.bucketColumn}, 1, 10)`;
}

/** An inclusive range of stored instants; an absent bound is unbounded. */
export interface InstantRange {
  startTs?: string;
  endTs?: string;
}

/** Inclusive range of buckets of one level; an absent bound is unbounded. */
export interface BucketSpan {
  first?: string;
  last?: string;
}

/** The buckets a range reads from one level: at most one span on the coarsest level, two below. */
export interface LevelSpans {
  level: RollupLevel;
  spans: BucketSpan[];
}

export interface RangeSplit {
  /** The levels with at least one whole bucket in the range, coarsest first. */
  levels: LevelSpans[];
  /**
   * What no whole bucket of any level covers, to read from the raw rows: at most two ranges (one at
   * each end), each inside one bucket of the finest level. Disjoint from the spans and each other.
   */
  edges: InstantRange[];
}

/**
 * Splits an inclusive range of instants into whole buckets of each level (coarsest first) and the
 * raw edges. A bucket is whole when its first and last millisecond are both in the range. The
 * pieces are disjoint and together cover exactly the range. `levels` defaults to every level.
 */
export function splitRange(range: InstantRange, levels: readonly RollupLevel[] = LEVELS): RangeSplit {
  const out: RangeSplit = { levels: [], edges: [] };
  const spansOf = new Map<RollupLevel, BucketSpan[]>();
  const split = (startMs: number | undefined, endMs: number | undefined, index: number): void => {
    if (index === levels.length) {
      const edge: InstantRange = {};
      if (startMs !== undefined) edge.startTs = toStoredInstant(startMs);
      if (endMs !== undefined) edge.endTs = toStoredInstant(endMs);
      out.edges.push(edge);
      return;
    }
    const level = levels[index];
    // The first instant of the first whole bucket, and the last instant of the last whole bucket.
    const spanStartMs = startMs === undefined ? undefined : Math.ceil(startMs / level.ms) * level.ms;
    const spanEndMs = endMs === undefined ? undefined : Math.floor((endMs + 1) / level.ms) * level.ms - 1;
    const noWholeBucket =
      (spanStartMs !== undefined && spanStartMs > MAX_INSTANT_MS) ||
      (spanEndMs !== undefined && spanEndMs < MIN_INSTANT_MS) ||
      (spanStartMs !== undefined && spanEndMs !== undefined && spanStartMs > spanEndMs);
    if (noWholeBucket) {
      split(startMs, endMs, index + 1);
      return;
    }
    const span: BucketSpan = {};
    if (spanStartMs !== undefined) span.first = bucketOf(level, toStoredInstant(spanStartMs));
    if (spanEndMs !== undefined) span.last = bucketOf(level, toStoredInstant(spanEndMs));
    let spans = spansOf.get(level);
    if (spans === undefined) {
      spans = [];
      spansOf.set(level, spans);
    }
    spans.push(span);
    if (startMs !== undefined && spanStartMs !== undefined && startMs < spanStartMs) split(startMs, spanStartMs - 1, index + 1);
    if (endMs !== undefined && spanEndMs !== undefined && endMs > spanEndMs) split(spanEndMs + 1, endMs, index + 1);
  };
  split(range.startTs === undefined ? undefined : storedToMs(range.startTs), range.endTs === undefined ? undefined : storedToMs(range.endTs), 0);
  for (const level of levels) {
    const spans = spansOf.get(level);
    if (spans !== undefined) out.levels.push({ level, spans });
  }
  return out;
}

/** Restricts a query to the buckets of `spans` (OR of the spans; no condition when one is unbounded). */
export function whereBuckets(qb: Knex.QueryBuilder, column: string, spans: readonly BucketSpan[]): Knex.QueryBuilder {
  if (spans.some((s) => s.first === undefined && s.last === undefined)) return qb;
  return qb.where((any) => {
    for (const span of spans) {
      any.orWhere((one) => {
        if (span.first !== undefined) one.where(column, ">=", span.first);
        if (span.last !== undefined) one.where(column, "<=", span.last);
      });
    }
  });
}

/** Restricts a query of the raw rows to an instant range. */
export function whereInstants(qb: Knex.QueryBuilder, range: InstantRange): Knex.QueryBuilder {
  if (range.startTs !== undefined) qb.where("ts", ">=", range.startTs);
  if (range.endTs !== undefined) qb.where("ts", "<=", range.endTs);
  return qb;
}
