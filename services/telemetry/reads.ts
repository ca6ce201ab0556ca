/**
 * The five telemetry read endpoints (§10.2–§10.6): each answer is computed inside one read
 * transaction (§1.4), from the query rows of ./queries, shaped by ./summaries.
 */
import type { Knex } from "knex";
import { roundHalfEven } from "../../lib/lanes";
import type { ProviderInfo } from "../../lib/provider-directory";
import { readSnapshot } from "../../lib/store/knex";
import { RunItem, runItemFromRow } from "./store/run";
import { formatInstant, formatStoredInstant } from "../../lib/time";
import { CostBreakdownEntry, costBreakdown } from "./cost-breakdown";
import { encodeCursor } from "./cursor";
import { ReadQuery, RunFilter, runFilterOf } from "./filters";
import { interpolate, percentilePosition } from "./percentile";
import { EXACT_PERCENTILE_MAX_RUNS, sketchPercentile } from "./store/latency-sketch";
import {
  dayProviderCounts,
  dayProviderTotals,
  durationsFromTop,
  errorCategoryCounts,
  latencySketch,
  providerRouteTotals,
  runsAfter,
} from "./queries";
import {
  ErrorBreakdownEntry,
  HeatmapBucket,
  ProviderMetrics,
  RouteBreakdown,
  TimeseriesItem,
  errorBreakdown,
  heatmapBuckets,
  paretoItems,
  providerMetrics,
  timeseriesItems,
  totalsByProvider,
} from "./summaries";

export interface ExtendedMetrics {
  cache_hit_rate: number | null;
  cached_tokens: number | null;
  latency_p95_ms: number | null;
  latency_p99_ms: number | null;
  error_rate: number | null;
  cost_breakdown: CostBreakdownEntry[];
  error_breakdown: ErrorBreakdownEntry[];
}

export interface MetricsAnswer {
  start: string | null;
  end: string | null;
  total_runs: number;
  total_tokens_in: number;
  total_tokens_out: number;
  total_cost_usd: number;
  avg_latency_ms: number;
  success_rate: number;
  providers: ProviderMetrics[];
  extended: ExtendedMetrics | null;
  window_start: null;
  window_end: null;
}

function byId(providers: readonly ProviderInfo[]): Map<string, ProviderInfo> {
  return new Map(providers.map((p) => [p.id, p]));
}

/** The exact linear-interpolation percentile p of the filtered durations, reading only its neighbours. */
async function durationPercentile(trx: Knex.Transaction, filter: RunFilter, count: number, p: number): Promise<number> {
  const at = percentilePosition(count, p);
  // Descending order: index i of the ascending order is at count − 1 − i.
  const values = await durationsFromTop(trx, filter, count - 1 - at.upper, at.upper - at.lower + 1);
  const upper = values[0];
  const lower = values[values.length - 1];
  return interpolate(at, lower, upper);
}

/**
 * p95 and p99 of the filtered durations (§10.2): exact from the raw rows when the window holds at
 * most 10,000 runs; above, from the merged latency sketches of the window's rollup buckets (within
 * 1% of exact; see ./store/latency-sketch.ts). Should the sketches not hold every run of the window
 * (they always do in a consistent store), the exact values are read instead.
 */
async function latencyPercentiles(trx: Knex.Transaction, filter: RunFilter, runs: number): Promise<[number, number]> {
  if (runs > EXACT_PERCENTILE_MAX_RUNS) {
    const sketch = await latencySketch(trx, filter);
    if (sketch.count === runs) return [sketchPercentile(sketch, 0.95), sketchPercentile(sketch, 0.99)];
  }
  return [await durationPercentile(trx, filter, runs, 0.95), await durationPercentile(trx, filter, runs, 0.99)];
}

export async function readMetrics(knex: Knex, query: ReadQuery, providers: readonly ProviderInfo[]): Promise<MetricsAnswer> {
  const empty: MetricsAnswer = {
    start: query.startMs === undefined ? null : formatInstant(query.startMs),
    end: query.endMs === undefined ? null : formatInstant(query.endMs),
    total_runs: 0,
    total_tokens_in: 0,
    total_tokens_out: 0,
    total_cost_usd: 0,
    avg_latency_ms: 0,
    success_rate: 0,
    providers: [],
    extended: null,
    window_start: null,
    window_end: null,
  };
  const filter = runFilterOf(query, providers);
  if (filter === null) return empty;
  const providerById = byId(providers);

  return readSnapshot(knex, async (trx) => {
    const groups = await providerRouteTotals(trx, filter);
    if (groups.length === 0) return empty;

    const perProvider = totalsByProvider(groups);
    let runs = 0;
    let tokensIn = 0;
    let tokensOut = 0;
    let durationSum = 0;
    let successes = 0;
    let cost = 0;
    let cacheSamples = 0;
    let cacheHits = 0;
    let cachedTokens = 0;
    let first = groups[0].first_ts;
    let last = groups[0].last_ts;
    for (const t of perProvider) cost += t.cost;
    for (const g of groups) {
      runs += g.run_count;
      tokensIn += g.tokens_in;
      tokensOut += g.tokens_out;
      durationSum += g.duration_sum;
      successes += g.success_count;
      cacheSamples += g.cache_samples;
      cacheHits += g.cache_hits;
      cachedTokens += g.cached_tokens;
      if (g.first_ts < first) first = g.first_ts;
      if (g.last_ts > last) last = g.last_ts;
    }

    const [p95, p99] = await latencyPercentiles(trx, filter, runs);

    const errors = errorBreakdown(await errorCategoryCounts(trx, filter));
    const errorCount = errors.reduce((sum, e) => sum + e.count, 0);

    return {
      start: formatStoredInstant(first),
      end: formatStoredInstant(last),
      total_runs: runs,
      total_tokens_in: tokensIn,
      total_tokens_out: tokensOut,
      total_cost_usd: roundHalfEven(cost, 6),
      avg_latency_ms: durationSum / runs,
      success_rate: successes / runs,
      providers: perProvider.map(providerMetrics),
      extended: {
        cache_hit_rate: cacheSamples > 0 ? roundHalfEven(cacheHits / cacheSamples, 6) : null,
        cached_tokens: cachedTokens !== 0 ? cachedTokens : null,
        latency_p95_ms: p95,
        latency_p99_ms: p99,
        error_rate: roundHalfEven(errorCount / runs, 6),
        cost_breakdown: costBreakdown(groups, (id) => providerById.get(id)?.lane ?? null),
        error_breakdown: errors,
      },
      window_start: null,
      window_end: null,
    };
  });
}

export async function readHeatmap(knex: Knex, query: ReadQuery, providers: readonly ProviderInfo[]): Promise<{ buckets: HeatmapBucket[] }> {
  const filter = runFilterOf(query, providers);
  if (filter === null) return { buckets: [] };
  const rows = await readSnapshot(knex, (trx) => dayProviderCounts(trx, filter));
  return { buckets: heatmapBuckets(rows) };
}

export async function readTimeseries(
  knex: Knex,
  query: ReadQuery,
  providers: readonly ProviderInfo[],
): Promise<{ items: TimeseriesItem[]; next_cursor: null }> {
  const filter = runFilterOf(query, providers);
  if (filter === null) return { items: [], next_cursor: null };
  const rows = await readSnapshot(knex, (trx) => dayProviderTotals(trx, filter));
  return { items: timeseriesItems(rows), next_cursor: null };
}

export async function readPareto(
  knex: Knex,
  query: ReadQuery,
  providers: readonly ProviderInfo[],
): Promise<{ items: RouteBreakdown[]; next_cursor: null }> {
  const filter = runFilterOf(query, providers);
  if (filter === null) return { items: [], next_cursor: null };
  const groups = await readSnapshot(knex, (trx) => providerRouteTotals(trx, filter));
  return { items: paretoItems(groups, byId(providers)), next_cursor: null };
}

export async function readRuns(
  knex: Knex,
  query: ReadQuery,
  providers: readonly ProviderInfo[],
): Promise<{ items: RunItem[]; next_cursor: string | null }> {
  const filter = runFilterOf(query, providers);
  if (filter === null) return { items: [], next_cursor: null };
  const rows = await readSnapshot(knex, (trx) => runsAfter(trx, filter, query.cursor, query.limit + 1));
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  const providerById = byId(providers);
  return {
    items: page.map((row) => runItemFromRow(row, providerById)),
    next_cursor: rows.length > query.limit ? encodeCursor({ ts: last.ts, id: last.id }) : null,
  };
}
