/**
 * The daily rollup `telemetry_daily` (migration 004): per (UTC day, provider_id, route) sums of the
 * runs in `telemetry_events`. Kept exact in the transaction of every insert (`addToDailyRollups`,
 * called by insertTelemetryRows for ingestion and seeding), rebuilt from the raw rows by
 * `rebuildDailyRollups` (bulk loads, repair), and read through `splitRangeByDays`: the UTC days
 * wholly inside a range come from the rollup, the partial edge days from the raw rows.
 *
 * The summed integer columns (tokens_in, tokens_out, duration_sum, cached_tokens) can exceed int64:
 * values up to 2^53 − 1 per run are accepted (§11.2), so ~1,024 runs at the maximum on one key
 * already do (issue 7). They are numeric on PostgreSQL (migration 005); on SQLite an integer `+` that
 * overflows int64 yields a REAL instead of failing, so the column holds the nearest double from then
 * on. A batch's own sums are computed exactly here (ExactSum) before they are added.
 */
import type { Knex } from "knex";
import type { TelemetryRowInsert } from "./run";
import { MAX_INSTANT_MS, MIN_INSTANT_MS, storedToMs, toStoredInstant, utcDay } from "../../../lib/time";
import { dialectOf } from "../../../lib/store/knex";
import { overflowFreeSum, storedIntegerSum } from "./run-sums";
import { compareText } from "../../../lib/text-order";

export const DAILY_TABLE = "telemetry_daily";

const DAY_MS = 86_400_000;

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

/** One rollup row: what a group of runs of one (day, provider_id, route) adds. */
export interface DailyRollupRow {
  day: string;
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
}

const ROLLUP_COLUMNS: readonly (keyof DailyRollupRow)[] = [
  "day", "provider_id", "route_key", "route", "run_count", "tokens_in", "tokens_out", "duration_sum", "success_count",
  "cost_sum", "cost_count", "cache_samples", "cache_hits", "cached_tokens", "first_ts", "last_ts",
];

const ADDED_COLUMNS: readonly (keyof DailyRollupRow)[] = [
  "run_count", "tokens_in", "tokens_out", "duration_sum", "success_count", "cost_sum", "cost_count", "cache_samples",
  "cache_hits", "cached_tokens",
];

/** The rollup rows of a batch of runs, one per (day, provider_id, route), in key order. */
export function dailyRollupRows(rows: readonly TelemetryRowInsert[]): DailyRollupRow[] {
  const groups = new Map<string, DailyRollupRow>();
  for (const r of rows) {
    const routeKey = r.route ?? "";
    const key = `${r.day}\u0000${r.provider_id}\u0000${routeKey}`;
    let g = groups.get(key);
    if (g === undefined) {
      g = {
        day: r.day, provider_id: r.provider_id, route_key: routeKey, route: r.route, run_count: 0, tokens_in: 0,
        tokens_out: 0, duration_sum: 0, success_count: 0, cost_sum: 0, cost_count: 0, cache_samples: 0, cache_hits: 0,
        cached_tokens: 0, first_ts: r.ts, last_ts: r.ts,
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
  }
  return [...groups.values()].sort(
    (a, b) => compareText(a.day, b.day) || compareText(a.provider_id, b.provider_id) || compareText(a.route_key, b.route_key),
  );
}

/**
 * Rollup rows per statement: 16 bound values each, far below SQLite's and PostgreSQL's limits
 * (a multi-row VALUES list, not knex's UNION ALL form, so SQLite's compound-select limit does not apply).
 */
const UPSERT_CHUNK_ROWS = 400;

const UPSERT_SET = [
  ...ADDED_COLUMNS.map((c) => `${c} = ${DAILY_TABLE}.${c} + excluded.${c}`),
  `first_ts = CASE WHEN excluded.first_ts < ${DAILY_TABLE}.first_ts THEN excluded.first_ts ELSE ${DAILY_TABLE}.first_ts END`,
  `last_ts = CASE WHEN excluded.last_ts > ${DAILY_TABLE}.last_ts THEN excluded.last_ts ELSE ${DAILY_TABLE}.last_ts END`,
].join(", ");

/**
 * Adds a batch of inserted runs to the rollup, inside the caller's transaction (the one that inserts
 * the runs). Keys are written in one fixed order, so concurrent batches on PostgreSQL lock the
 * shared rollup rows in the same order and cannot deadlock on them.
 */
export async function addToDailyRollups(trx: Knex.Transaction, rows: readonly TelemetryRowInsert[]): Promise<void> {
  const groups = dailyRollupRows(rows);
  const rowPlaceholders = `(${ROLLUP_COLUMNS.map(() => "?").join(", ")})`;
  for (let start = 0; start < groups.length; start += UPSERT_CHUNK_ROWS) {
    const chunk = groups.slice(start, start + UPSERT_CHUNK_ROWS);
    const bindings = chunk.flatMap((g) =>
      ROLLUP_COLUMNS.map((c) => {
        const value = g[c];
        return typeof value === "bigint" ? value.toString() : value;
      }),
    );
    await trx.raw(
      `INSERT INTO ${DAILY_TABLE} (${ROLLUP_COLUMNS.join(", ")}) VALUES ${chunk.map(() => rowPlaceholders).join(", ")}
       ON CONFLICT (day, provider_id, route_key) DO UPDATE SET ${UPSERT_SET}`,
      bindings,
    );
  }
}

/**
 * The rollup of every stored run, as a fresh aggregate of `telemetry_events`. The integer sums are
 * exact wherever the store can hold them (services/telemetry/store/run-sums.ts storedIntegerSum), as the batch
 * upserts write them, so a rebuilt rollup equals the incrementally kept one.
 */
function rebuildSql(knex: Knex): string {
  const sum = (column: string) => storedIntegerSum(knex, column);
  return `
  INSERT INTO ${DAILY_TABLE} (${ROLLUP_COLUMNS.join(", ")})
  SELECT day, provider_id, COALESCE(route, ''), route, COUNT(*), ${sum("tokens_in")}, ${sum("tokens_out")},
         ${sum("duration_ms")}, SUM(is_success), COALESCE(${overflowFreeSum(knex, "cost_usd")}, 0), COUNT(cost_usd),
         COUNT(cache_hit), SUM(CASE WHEN cache_hit = 1 THEN 1 ELSE 0 END), ${sum("cached_tokens")}, MIN(ts), MAX(ts)
  FROM telemetry_events
  GROUP BY day, provider_id, route`;
}

/**
 * Recomputes the whole rollup from the raw rows in one transaction: for runs written without
 * insertTelemetryRows (bulk loads) and for repair. On PostgreSQL the rollup is locked against
 * writers first: batches that already updated it commit before the rebuild reads the runs, and
 * batches that have not yet reached it wait and add their runs after the rebuild.
 */
export async function rebuildDailyRollups(knex: Knex): Promise<void> {
  await knex.transaction(async (trx) => {
    if (dialectOf(knex) === "pg") await trx.raw(`LOCK TABLE ${DAILY_TABLE} IN EXCLUSIVE MODE`);
    await trx(DAILY_TABLE).delete();
    await trx.raw(rebuildSql(knex));
  });
}

// ---------------------------------------------------------------------------------------------
// Reading a range as whole days plus edges

/** An inclusive range of stored instants; an absent bound is unbounded. */
export interface InstantRange {
  startTs?: string;
  endTs?: string;
}

/** Inclusive UTC days `YYYY-MM-DD`; an absent bound is unbounded. */
export interface DaySpan {
  firstDay?: string;
  lastDay?: string;
}

export interface DaySplit {
  /** The UTC days lying wholly inside the range (read from the rollup), or null when there is none. */
  wholeDays: DaySpan | null;
  /**
   * The rest of the range, to read from the raw rows: the whole range when wholeDays is null, else
   * the part of the first partial day before the span and the part of the last partial day after
   * it (each present only when not empty). Disjoint from the span and from each other.
   */
  edges: InstantRange[];
}

/**
 * Splits an inclusive range of instants into the UTC days wholly inside it and the partial days at
 * its edges. A day is whole when both 00:00:00.000 and 23:59:59.999 of it are in the range.
 */
export function splitRangeByDays(range: InstantRange): DaySplit {
  const startMs = range.startTs === undefined ? undefined : storedToMs(range.startTs);
  const endMs = range.endTs === undefined ? undefined : storedToMs(range.endTs);
  // The first instant of the first whole day, and the last instant of the last whole day.
  const spanStartMs = startMs === undefined ? undefined : Math.ceil(startMs / DAY_MS) * DAY_MS;
  const spanEndMs = endMs === undefined ? undefined : Math.floor((endMs + 1) / DAY_MS) * DAY_MS - 1;
  const noWholeDay =
    (spanStartMs !== undefined && spanStartMs > MAX_INSTANT_MS) ||
    (spanEndMs !== undefined && spanEndMs < MIN_INSTANT_MS) ||
    (spanStartMs !== undefined && spanEndMs !== undefined && spanStartMs > spanEndMs);
  if (noWholeDay) {
    const whole: InstantRange = {};
    if (range.startTs !== undefined) whole.startTs = range.startTs;
    if (range.endTs !== undefined) whole.endTs = range.endTs;
    return { wholeDays: null, edges: [whole] };
  }
  const wholeDays: DaySpan = {};
  const edges: InstantRange[] = [];
  if (spanStartMs !== undefined && startMs !== undefined) {
    wholeDays.firstDay = utcDay(spanStartMs);
    if (startMs < spanStartMs) edges.push({ startTs: range.startTs, endTs: toStoredInstant(spanStartMs - 1) });
  }
  if (spanEndMs !== undefined && endMs !== undefined) {
    wholeDays.lastDay = utcDay(spanEndMs);
    if (endMs > spanEndMs) edges.push({ startTs: toStoredInstant(spanEndMs + 1), endTs: range.endTs });
  }
  return { wholeDays, edges };
}
