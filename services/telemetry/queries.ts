/**
 * Every SQL query of the telemetry read endpoints (§10). The same statements run on SQLite and
 * PostgreSQL: aggregates only over the columns derived at ingestion (never the metadata JSON),
 * no integer division and no averages in SQL (sums and counts come back; the division happens in
 * JS), and no ORDER BY on text whose result order matters to the client (orderings by code unit
 * and with null first are applied in JS on the small grouped results). Every function takes the
 * read transaction of the request, so one response reads one snapshot.
 *
 * The grouped totals (metrics totals and cost groups, heatmap, timeseries, pareto) read a range as
 * its whole days, hours and minutes from the rollup levels (./store/levels.ts) and only the partial
 * minutes at the range's edges from the raw rows, in the same transaction and one statement
 * (./store/range-read.ts). So do the latency
 * sketches behind the percentiles of windows above 10,000 runs (`latencySketch`); smaller windows
 * get exact percentiles from the raw rows (`durationsFromTop`). The error breakdown reads the
 * error-category rollups the same way (`errorCategoryCounts`).
 *
 * Every sum of run values goes through services/telemetry/store/run-sums.ts: it cannot overflow on
 * either backend (sums beyond 2^53 come back as the nearest double).
 */
import type { Knex } from "knex";
import { aggregateNumber } from "../../lib/store/aggregate";
import { dialectOf } from "../../lib/store/knex";
import { overflowFreeSum } from "./store/run-sums";
import { RollupLevel, dayOfBucket } from "./store/levels";
import { RangeColumn, readRange } from "./store/range-read";
import type { RunPosition } from "./cursor";
import type { RunFilter } from "./filters";
import type { TelemetryRow } from "./store/run";
import { LatencySketch, SketchBins, SketchMerger } from "./store/latency-sketch";
import { firstRunSql, parseFirstRunKey } from "./store/error-rollups";

export const RUNS_TABLE = "telemetry_events";

type Db = Knex | Knex.Transaction;

/** The WHERE of a RunFilter. */
function applyFilter(qb: Knex.QueryBuilder, filter: RunFilter): Knex.QueryBuilder {
  if (filter.startTs !== undefined) qb.where("ts", ">=", filter.startTs);
  if (filter.endTs !== undefined) qb.where("ts", "<=", filter.endTs);
  return whereNonTime(qb, filter);
}

/** The provider and route filters, alike on raw rows and rollup rows (`route` holds the real route). */
function whereNonTime(qb: Knex.QueryBuilder, filter: RunFilter, routeColumn = "route"): Knex.QueryBuilder {
  if (filter.providerId !== undefined) qb.where("provider_id", filter.providerId);
  if (filter.providerIds !== undefined) qb.whereIn("provider_id", filter.providerIds);
  if (filter.route !== undefined) qb.where(routeColumn, filter.route);
  return qb;
}

function filtered(db: Db, filter: RunFilter): Knex.QueryBuilder {
  return applyFilter(db(RUNS_TABLE), filter);
}

/** Reads the filter's range over the rollup sums (whole buckets) and the raw rows (edges). */
function readSums(
  db: Db,
  filter: RunFilter,
  columns: readonly RangeColumn[],
  groupBy?: { level: string | ((l: RollupLevel) => string); runs: string },
) {
  return readRange(db, filter, {
    tables: "rollup",
    columns,
    groupBy,
    whereLevel: (qb) => whereNonTime(qb, filter),
    whereRuns: (qb) => whereNonTime(qb, filter),
  });
}

/** Merges rows by key with `add`, keeping the order of first appearance. */
function mergeBy<T>(rows: readonly T[], keyOf: (row: T) => string, add: (into: T, row: T) => void): T[] {
  const merged = new Map<string, T>();
  for (const row of rows) {
    const key = keyOf(row);
    const into = merged.get(key);
    if (into === undefined) merged.set(key, { ...row });
    else add(into, row);
  }
  return [...merged.values()];
}

/** An overflow-free sum of a rollup column and of a raw column (./store/run-sums.ts). */
function sumColumn(db: Db, alias: string, levelColumn: string, runsColumn: string): RangeColumn {
  return { alias, level: overflowFreeSum(db, levelColumn), runs: overflowFreeSum(db, runsColumn) };
}

/** Totals of one (provider, route) group. */
export interface ProviderRouteTotals {
  provider_id: string;
  route: string | null;
  run_count: number;
  tokens_in: number;
  tokens_out: number;
  duration_sum: number;
  success_count: number;
  /** Σ known costs (§5.2), unrounded; 0 when every cost is unknown. */
  cost: number;
  /** Runs with a cache flag, and the hits among them. */
  cache_samples: number;
  cache_hits: number;
  cached_tokens: number;
  first_ts: string;
  last_ts: string;
}

function providerRouteTotalsFromRow(r: Record<string, unknown>): ProviderRouteTotals {
  return {
    provider_id: r.provider_id as string,
    route: (r.route as string | null) ?? null,
    run_count: aggregateNumber(r.run_count),
    tokens_in: aggregateNumber(r.tokens_in),
    tokens_out: aggregateNumber(r.tokens_out),
    duration_sum: aggregateNumber(r.duration_sum),
    success_count: aggregateNumber(r.success_count),
    cost: aggregateNumber(r.cost),
    cache_samples: aggregateNumber(r.cache_samples),
    cache_hits: aggregateNumber(r.cache_hits),
    cached_tokens: aggregateNumber(r.cached_tokens),
    first_ts: r.first_ts as string,
    last_ts: r.last_ts as string,
  };
}

function addProviderRouteTotals(into: ProviderRouteTotals, g: ProviderRouteTotals): void {
  into.run_count += g.run_count;
  into.tokens_in += g.tokens_in;
  into.tokens_out += g.tokens_out;
  into.duration_sum += g.duration_sum;
  into.success_count += g.success_count;
  into.cost += g.cost;
  into.cache_samples += g.cache_samples;
  into.cache_hits += g.cache_hits;
  into.cached_tokens += g.cached_tokens;
  if (g.first_ts < into.first_ts) into.first_ts = g.first_ts;
  if (g.last_ts > into.last_ts) into.last_ts = g.last_ts;
}

/**
 * Totals grouped by (provider, route): everything metrics and pareto need except errors and
 * percentiles. Whole buckets from the rollups, partial minutes from the raw rows, one statement.
 */
export async function providerRouteTotals(db: Db, filter: RunFilter): Promise<ProviderRouteTotals[]> {
  const rows = await readSums(
    db,
    filter,
    [
      { alias: "provider_id", level: "provider_id", runs: "provider_id" },
      { alias: "route", level: "route", runs: "route" },
      { alias: "run_count", level: "SUM(run_count)", runs: "COUNT(*)" },
      sumColumn(db, "tokens_in", "tokens_in", "tokens_in"),
      sumColumn(db, "tokens_out", "tokens_out", "tokens_out"),
      sumColumn(db, "duration_sum", "duration_sum", "duration_ms"),
      { alias: "success_count", level: "SUM(success_count)", runs: "SUM(is_success)" },
      sumColumn(db, "cost", "cost_sum", "cost_usd"),
      { alias: "cache_samples", level: "SUM(cache_samples)", runs: "COUNT(cache_hit)" },
      { alias: "cache_hits", level: "SUM(cache_hits)", runs: "SUM(CASE WHEN cache_hit = 1 THEN 1 ELSE 0 END)" },
      sumColumn(db, "cached_tokens", "cached_tokens", "cached_tokens"),
      { alias: "first_ts", level: "MIN(first_ts)", runs: "MIN(ts)" },
      { alias: "last_ts", level: "MAX(last_ts)", runs: "MAX(ts)" },
    ],
    { level: "provider_id, route", runs: "provider_id, route" },
  );
  return mergeBy(rows.map(providerRouteTotalsFromRow), (g) => JSON.stringify([g.provider_id, g.route]), addProviderRouteTotals);
}

export interface ErrorCategoryCount {
  category: string;
  count: number;
  /** The category's first run in (ts, id) order: its ts and id. */
  first_ts: string;
  first_id: number;
}

/**
 * Non-success runs per error category, with each category's first run in (ts, id) order: whole
 * buckets from the error rollups (./store/error-rollups.ts), partial minutes from the raw rows.
 */
export async function errorCategoryCounts(db: Db, filter: RunFilter): Promise<ErrorCategoryCount[]> {
  const rows = await readRange(db, filter, {
    tables: "errors",
    columns: [
      { alias: "category", level: "category", runs: "error_category" },
      { alias: "count", level: "SUM(error_count)", runs: "COUNT(*)" },
      { alias: "first_run", level: "MIN(first_run)", runs: `MIN(${firstRunSql(db)})` },
    ],
    groupBy: { level: "category", runs: "error_category" },
    // A route filter is never empty, so route_key = route holds exactly for the runs on that route.
    whereLevel: (qb) => whereNonTime(qb, filter, "route_key"),
    whereRuns: (qb) => whereNonTime(qb, filter).whereNotNull("error_category"),
  });
  const merged = mergeBy(
    rows.map((r) => ({ category: r.category as string, count: aggregateNumber(r.count), first_run: r.first_run as string })),
    (c) => c.category,
    (into, c) => {
      into.count += c.count;
      if (c.first_run < into.first_run) into.first_run = c.first_run;
    },
  );
  return merged.map((c) => {
    const first = parseFirstRunKey(c.first_run);
    return { category: c.category, count: c.count, first_ts: first.ts, first_id: first.id };
  });
}

/**
 * The merged latency sketch of the filtered runs: the stored sketches of the whole buckets of each
 * level, and the durations of the raw rows of the partial minutes at the edges (one statement). Its
 * count is the number of runs it holds (equal to the window's run count in a consistent store).
 */
export async function latencySketch(db: Db, filter: RunFilter): Promise<LatencySketch> {
  // Typed NULLs: PostgreSQL types a bare NULL of a derived table as text, which no UNION matches.
  const rows = await readSums(db, filter, [
    { alias: "sketch", level: "latency_sketch", runs: dialectOf(db as Knex) === "pg" ? "CAST(NULL AS BYTEA)" : "NULL" },
    { alias: "duration_ms", level: "CAST(NULL AS BIGINT)", runs: "duration_ms" },
  ]);
  const merger = new SketchMerger();
  const edge = new SketchBins();
  for (const r of rows) {
    if (r.sketch !== null && r.sketch !== undefined) merger.add(r.sketch as Uint8Array);
    else if (r.duration_ms !== null && r.duration_ms !== undefined) edge.add(aggregateNumber(r.duration_ms));
  }
  merger.add(edge.encode());
  return merger.toSketch();
}

/**
 * `count` durations starting at `offset` in descending order. Percentiles sit near the top of the
 * order, so counting from the top keeps the bounded sort small.
 */
export async function durationsFromTop(db: Db, filter: RunFilter, offset: number, count: number): Promise<number[]> {
  const rows: { duration_ms: unknown }[] = await filtered(db, filter)
    .select("duration_ms")
    .orderBy("duration_ms", "desc")
    .limit(count)
    .offset(offset);
  return rows.map((r) => aggregateNumber(r.duration_ms));
}

export interface DayProviderCount {
  day: string;
  provider_id: string;
  run_count: number;
}

function dayProviderKey(r: DayProviderCount): string {
  return `${r.day}\u0000${r.provider_id}`;
}

const DAY_PROVIDER = {
  level: (level: RollupLevel) => `${dayOfBucket(level)}, provider_id`,
  runs: "day, provider_id",
};
const DAY_COLUMN: RangeColumn = { alias: "day", level: dayOfBucket, runs: "day" };

/** Run counts per (UTC day, provider): whole buckets from the rollups, partial minutes from the raw rows. */
export async function dayProviderCounts(db: Db, filter: RunFilter): Promise<DayProviderCount[]> {
  const rows = await readSums(
    db,
    filter,
    [
      DAY_COLUMN,
      { alias: "provider_id", level: "provider_id", runs: "provider_id" },
      { alias: "run_count", level: "SUM(run_count)", runs: "COUNT(*)" },
    ],
    DAY_PROVIDER,
  );
  return mergeBy(
    rows.map((r) => ({ day: r.day as string, provider_id: r.provider_id as string, run_count: aggregateNumber(r.run_count) })),
    dayProviderKey,
    (into, r) => {
      into.run_count += r.run_count;
    },
  );
}

export interface DayProviderTotals extends DayProviderCount {
  tokens_in: number;
  tokens_out: number;
  duration_sum: number;
  success_count: number;
  /** Unrounded. */
  cost: number;
}

function dayProviderTotalsFromRow(r: Record<string, unknown>): DayProviderTotals {
  return {
    day: r.day as string,
    provider_id: r.provider_id as string,
    run_count: aggregateNumber(r.run_count),
    tokens_in: aggregateNumber(r.tokens_in),
    tokens_out: aggregateNumber(r.tokens_out),
    duration_sum: aggregateNumber(r.duration_sum),
    success_count: aggregateNumber(r.success_count),
    cost: aggregateNumber(r.cost),
  };
}

/** Totals per (UTC day, provider): whole buckets from the rollups, partial minutes from the raw rows. */
export async function dayProviderTotals(db: Db, filter: RunFilter): Promise<DayProviderTotals[]> {
  const rows = await readSums(
    db,
    filter,
    [
      DAY_COLUMN,
      { alias: "provider_id", level: "provider_id", runs: "provider_id" },
      { alias: "run_count", level: "SUM(run_count)", runs: "COUNT(*)" },
      sumColumn(db, "tokens_in", "tokens_in", "tokens_in"),
      sumColumn(db, "tokens_out", "tokens_out", "tokens_out"),
      sumColumn(db, "duration_sum", "duration_sum", "duration_ms"),
      { alias: "success_count", level: "SUM(success_count)", runs: "SUM(is_success)" },
      sumColumn(db, "cost", "cost_sum", "cost_usd"),
    ],
    DAY_PROVIDER,
  );
  return mergeBy(rows.map(dayProviderTotalsFromRow), dayProviderKey, (into, r) => {
    into.run_count += r.run_count;
    into.tokens_in += r.tokens_in;
    into.tokens_out += r.tokens_out;
    into.duration_sum += r.duration_sum;
    into.success_count += r.success_count;
    into.cost += r.cost;
  });
}

/** A stored run as the runs page reads it: the logical columns (§3.2), no derived ones. */
export type StoredRun = Pick<
  TelemetryRow,
  | "id"
  | "provider_id"
  | "tool"
  | "route"
  | "tokens_in"
  | "tokens_out"
  | "duration_ms"
  | "status"
  | "cost_usd"
  | "metadata"
  | "ts"
  | "ingested_at"
  | "experiment_cohort"
  | "experiment_tag"
>;

const RUN_COLUMNS: (keyof StoredRun)[] = [
  "id",
  "provider_id",
  "tool",
  "route",
  "tokens_in",
  "tokens_out",
  "duration_ms",
  "status",
  "cost_usd",
  "metadata",
  "ts",
  "ingested_at",
  "experiment_cohort",
  "experiment_tag",
];

/**
 * Up to `count` runs strictly after `after` in (ts desc, id desc) order (keyset pagination over the
 * (ts, id) index).
 */
export async function runsAfter(db: Db, filter: RunFilter, after: RunPosition | undefined, count: number): Promise<StoredRun[]> {
  const qb = filtered(db, filter).select(RUN_COLUMNS);
  if (after !== undefined) {
    // A row-value comparison (SQLite ≥ 3.15 and PostgreSQL): one range on the (ts, id) index.
    qb.whereRaw("(ts, id) < (?, ?)", [after.ts, after.id]);
  }
  const rows: Record<string, unknown>[] = await qb
    .orderBy([
      { column: "ts", order: "desc" },
      { column: "id", order: "desc" },
    ])
    .limit(count);
  return rows.map((r) => ({
    id: aggregateNumber(r.id),
    provider_id: r.provider_id as string,
    tool: r.tool as string,
    route: (r.route as string | null) ?? null,
    tokens_in: aggregateNumber(r.tokens_in),
    tokens_out: aggregateNumber(r.tokens_out),
    duration_ms: aggregateNumber(r.duration_ms),
    status: r.status as string,
    cost_usd: r.cost_usd === null || r.cost_usd === undefined ? null : Number(r.cost_usd),
    metadata: r.metadata as string,
    ts: r.ts as string,
    ingested_at: r.ingested_at as string,
    experiment_cohort: (r.experiment_cohort as string | null) ?? null,
    experiment_tag: (r.experiment_tag as string | null) ?? null,
  }));
}
