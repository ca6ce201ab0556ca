/**
 * The telemetry read answers (§10.2–§10.5) built from grouped query rows. Pure functions: the SQL
 * groups, these merge, divide, round and order.
 */
import type { Lane } from "../../lib/lanes";
import { roundHalfEven } from "../../lib/lanes";
import { compareNullableText, compareText } from "../../lib/text-order";
import { compareProviderRoute } from "./ordering";
import type { DayProviderCount, DayProviderTotals, ErrorCategoryCount, ProviderRouteTotals } from "./queries";

/** What the summaries need to know about a manifest provider (a ProviderInfo fits). */
export interface ProviderFacts {
  lane: Lane;
  summary: { name: string };
}

export interface ProviderMetrics {
  provider_id: string;
  run_count: number;
  tokens_in: number;
  tokens_out: number;
  cost_usd: number;
  avg_latency_ms: number;
  success_rate: number;
}

/** Totals of a set of groups (sums only). */
export interface Totals {
  run_count: number;
  tokens_in: number;
  tokens_out: number;
  duration_sum: number;
  success_count: number;
  cost: number;
}

function emptyTotals(): Totals {
  return { run_count: 0, tokens_in: 0, tokens_out: 0, duration_sum: 0, success_count: 0, cost: 0 };
}

function addTotals(into: Totals, g: Totals): void {
  into.run_count += g.run_count;
  into.tokens_in += g.tokens_in;
  into.tokens_out += g.tokens_out;
  into.duration_sum += g.duration_sum;
  into.success_count += g.success_count;
  into.cost += g.cost;
}

/** Per-provider totals (unrounded cost), ordered by run_count desc then provider_id asc. */
export function totalsByProvider(groups: readonly ProviderRouteTotals[]): (Totals & { provider_id: string })[] {
  const byProvider = new Map<string, Totals & { provider_id: string }>();
  for (const g of [...groups].sort(compareProviderRoute)) {
    let t = byProvider.get(g.provider_id);
    if (t === undefined) {
      t = { provider_id: g.provider_id, ...emptyTotals() };
      byProvider.set(g.provider_id, t);
    }
    addTotals(t, g);
  }
  return [...byProvider.values()].sort((a, b) => b.run_count - a.run_count || compareText(a.provider_id, b.provider_id));
}

export function providerMetrics(t: Totals & { provider_id: string }): ProviderMetrics {
  return {
    provider_id: t.provider_id,
    run_count: t.run_count,
    tokens_in: t.tokens_in,
    tokens_out: t.tokens_out,
    cost_usd: roundHalfEven(t.cost, 6),
    avg_latency_ms: t.duration_sum / t.run_count,
    success_rate: t.success_count / t.run_count,
  };
}

export interface ErrorBreakdownEntry {
  category: string;
  count: number;
}

/**
 * Count per category, ordered by count desc; ties by first appearance in (ts, id) order (§10.2):
 * each category's first run is (first_ts, first_id).
 */
export function errorBreakdown(counts: readonly ErrorCategoryCount[]): ErrorBreakdownEntry[] {
  return [...counts]
    .sort((a, b) => b.count - a.count || compareText(a.first_ts, b.first_ts) || a.first_id - b.first_id)
    .map((c) => ({ category: c.category, count: c.count }));
}

export interface HeatmapBucket {
  day: string;
  provider_id: string;
  run_count: number;
}

function compareDayProvider(a: { day: string; provider_id: string }, b: { day: string; provider_id: string }): number {
  return compareText(a.day, b.day) || compareText(a.provider_id, b.provider_id);
}

export function heatmapBuckets(rows: readonly DayProviderCount[]): HeatmapBucket[] {
  return [...rows].sort(compareDayProvider).map((r) => ({ day: r.day, provider_id: r.provider_id, run_count: r.run_count }));
}

export interface TimeseriesItem {
  day: string;
  provider_id: string;
  run_count: number;
  tokens_in: number;
  tokens_out: number;
  cost_usd: number;
  avg_latency_ms: number;
  success_count: number;
}

export function timeseriesItems(rows: readonly DayProviderTotals[]): TimeseriesItem[] {
  return [...rows].sort(compareDayProvider).map((r) => ({
    day: r.day,
    provider_id: r.provider_id,
    run_count: r.run_count,
    tokens_in: r.tokens_in,
    tokens_out: r.tokens_out,
    cost_usd: roundHalfEven(r.cost, 6),
    avg_latency_ms: r.duration_sum / r.run_count,
    success_count: r.success_count,
  }));
}

export interface RouteBreakdown {
  id: string;
  provider_id: string;
  provider_name: string;
  route: string | null;
  lane: Lane;
  run_count: number;
  tokens_in: number;
  tokens_out: number;
  cost_usd: number;
  avg_latency_ms: number;
  success_rate: number;
}

/** The route a pareto entry stands for: no route and the literal `default` are one entry. */
const DEFAULT_ROUTE = "default";

/**
 * Pareto entries (§10.5): one per (provider, route), null route and `default` merged; lane falls
 * back to "balanced" and the name to the provider id for providers not in the manifest.
 */
export function paretoItems(groups: readonly ProviderRouteTotals[], providerById: ReadonlyMap<string, ProviderFacts>): RouteBreakdown[] {
  const entries = new Map<string, { provider_id: string; route: string | null; totals: Totals }>();
  for (const g of [...groups].sort(compareProviderRoute)) {
    const routeKey = g.route === null ? DEFAULT_ROUTE : g.route;
    const id = `${g.provider_id}:${routeKey}`;
    let entry = entries.get(id);
    if (entry === undefined) {
      entry = { provider_id: g.provider_id, route: g.route, totals: emptyTotals() };
      entries.set(id, entry);
    } else if (g.route === DEFAULT_ROUTE) {
      entry.route = DEFAULT_ROUTE;
    }
    addTotals(entry.totals, g);
  }
  const items = [...entries.entries()].map(([id, e]): RouteBreakdown => {
    const provider = providerById.get(e.provider_id);
    return {
      id,
      provider_id: e.provider_id,
      provider_name: provider?.summary.name ?? e.provider_id,
      route: e.route,
      lane: provider?.lane ?? "balanced",
      run_count: e.totals.run_count,
      tokens_in: e.totals.tokens_in,
      tokens_out: e.totals.tokens_out,
      cost_usd: roundHalfEven(e.totals.cost, 6),
      avg_latency_ms: e.totals.duration_sum / e.totals.run_count,
      success_rate: e.totals.success_count / e.totals.run_count,
    };
  });
  return items.sort((a, b) => b.cost_usd - a.cost_usd || compareText(a.provider_id, b.provider_id) || compareNullableText(a.route, b.route));
}
