/**
 * Reference answers of the telemetry reads (§10.2–§10.5, §12.1) computed here, in plain code, from
 * the runs a test stored — the figures every rollup, sketch and query path must reproduce. Written
 * from the contract, not from the implementation.
 */
import { roundHalfEven } from "../../lib/lanes";
import { toStoredInstant } from "../../lib/time";

/** A stored run, as a test knows it. */
export interface RefRun {
  id: number;
  tsMs: number;
  ts: string;
  day: string;
  provider_id: string;
  route: string | null;
  tokens_in: number;
  tokens_out: number;
  duration_ms: number;
  success: boolean;
  /** The §10.2 error category the run was built with; null for successful runs. */
  category: string | null;
  cost: number | null;
  cacheHit: boolean | null;
  /** The run's contribution to cached_tokens. */
  cachedTokens: number;
}

/** A read's filters: inclusive ms bounds and the §10.1 filters. */
export interface RefQuery {
  start?: number;
  end?: number;
  provider_id?: string;
  lane?: string;
  route?: string;
}

/** Effective lanes of the providers of test/http/telemetry-reads-suite.ts writeReadsManifest. */
export const LANE_OF: Record<string, string | undefined> = { gemini: "balanced", claude: "balanced", glm46: "turbo", codex: "economy" };

export const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function cmpNullFirst(a: string | null, b: string | null): number {
  if (a === null) return b === null ? 0 : -1;
  return b === null ? 1 : cmp(a, b);
}

/** The query string of a RefQuery (instants in the stored form). */
export function refQueryString(q: RefQuery, extra: Record<string, string | number> = {}): string {
  const params: [string, string][] = [];
  if (q.start !== undefined) params.push(["start", toStoredInstant(q.start)]);
  if (q.end !== undefined) params.push(["end", toStoredInstant(q.end)]);
  for (const key of ["provider_id", "lane", "route"] as const) if (q[key] !== undefined) params.push([key, q[key] as string]);
  for (const [k, v] of Object.entries(extra)) params.push([k, String(v)]);
  return params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
}

export function matching(runs: readonly RefRun[], q: RefQuery): RefRun[] {
  return runs.filter(
    (r) =>
      (q.start === undefined || r.tsMs >= q.start) &&
      (q.end === undefined || r.tsMs <= q.end) &&
      (q.provider_id === undefined || r.provider_id === q.provider_id) &&
      (q.lane === undefined || LANE_OF[r.provider_id] === q.lane) &&
      (q.route === undefined || r.route === q.route),
  );
}

interface Sums {
  n: number;
  tin: number;
  tout: number;
  dur: number;
  ok: number;
  cost: number;
}

export function sums(runs: readonly RefRun[]): Sums {
  const s: Sums = { n: 0, tin: 0, tout: 0, dur: 0, ok: 0, cost: 0 };
  for (const r of runs) {
    s.n += 1;
    s.tin += r.tokens_in;
    s.tout += r.tokens_out;
    s.dur += r.duration_ms;
    s.ok += r.success ? 1 : 0;
    s.cost += r.cost ?? 0;
  }
  return s;
}

export function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const list = groups.get(key);
    if (list === undefined) groups.set(key, [item]);
    else list.push(item);
  }
  return groups;
}

/** The output form of an instant (§1.2). */
export function outInstant(ms: number): string {
  const t = toStoredInstant(ms);
  return t.endsWith(".000Z") ? `${t.slice(0, 19)}Z` : t;
}

/** Linear-interpolation percentile (§10.2) of the values, by sorting them all. */
export function exactPercentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * p;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower);
}

/** The §10.2 label of a text (ASCII texts only, which is all the tests use). */
function label(text: string): string {
  return text
    .replace(/_/g, " ")
    .split(" ")
    .filter((w) => w !== "")
    .map((w) => w[0].toUpperCase() + w.slice(1).toLowerCase())
    .join(" ");
}

function expectedCostBreakdown(runs: readonly RefRun[]) {
  const groups = [...groupBy(runs, (r) => JSON.stringify([r.provider_id, r.route])).values()]
    .map((g) => ({ provider_id: g[0].provider_id, route: g[0].route, cost: sums(g).cost, n: g.length }))
    .sort((a, b) => cmp(a.provider_id, b.provider_id) || cmpNullFirst(a.route, b.route))
    .filter((g) => g.cost > 0);
  const merged = new Map<string, { first: (typeof groups)[number]; providers: Set<string>; lanes: Set<string | null>; cost: number; n: number }>();
  for (const g of groups) {
    const lane = LANE_OF[g.provider_id] ?? null;
    const key = label(g.route !== null && g.route.trim() !== "" ? g.route : (lane ?? g.provider_id));
    let m = merged.get(key);
    if (m === undefined) {
      m = { first: g, providers: new Set(), lanes: new Set(), cost: 0, n: 0 };
      merged.set(key, m);
    }
    m.providers.add(g.provider_id);
    m.lanes.add(lane);
    m.cost += g.cost;
    m.n += g.n;
  }
  return [...merged.entries()]
    .map(([key, m]) => {
      const single = m.providers.size === 1;
      return {
        id: single ? (m.first.route === null ? m.first.provider_id : `${m.first.provider_id}:${m.first.route}`) : null,
        label: key,
        lane: m.lanes.size === 1 ? [...m.lanes][0] : null,
        provider_id: single ? m.first.provider_id : null,
        cost_usd: roundHalfEven(m.cost, 6),
        run_count: m.n,
      };
    })
    .sort((a, b) => b.cost_usd - a.cost_usd || cmp(a.label, b.label));
}

/** The whole metrics answer (§10.2), percentiles exact. */
export function expectedMetrics(runs: readonly RefRun[], q: RefQuery) {
  const m = matching(runs, q);
  if (m.length === 0) {
    return {
      start: q.start === undefined ? null : outInstant(q.start),
      end: q.end === undefined ? null : outInstant(q.end),
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
  }
  const s = sums(m);
  const providers = [...groupBy(m, (r) => r.provider_id).values()]
    .map((g) => {
      const p = sums(g);
      return {
        provider_id: g[0].provider_id,
        run_count: p.n,
        tokens_in: p.tin,
        tokens_out: p.tout,
        cost_usd: roundHalfEven(p.cost, 6),
        avg_latency_ms: p.dur / p.n,
        success_rate: p.ok / p.n,
        unrounded: p.cost,
      };
    })
    .sort((a, b) => b.run_count - a.run_count || cmp(a.provider_id, b.provider_id));
  const samples = m.filter((r) => r.cacheHit !== null);
  const cached = m.reduce((sum, r) => sum + r.cachedTokens, 0);
  const errors = m.filter((r) => !r.success).sort((a, b) => a.tsMs - b.tsMs || a.id - b.id);
  const byCategory = new Map<string, number>();
  for (const r of errors) byCategory.set(r.category as string, (byCategory.get(r.category as string) ?? 0) + 1);
  // Map iteration follows first insertion, i.e. first appearance in (ts, id) order; sort is stable.
  const errorBreakdown = [...byCategory.entries()].map(([category, count]) => ({ category, count })).sort((a, b) => b.count - a.count);
  const durations = m.map((r) => r.duration_ms);
  return {
    start: outInstant(Math.min(...m.map((r) => r.tsMs))),
    end: outInstant(Math.max(...m.map((r) => r.tsMs))),
    total_runs: s.n,
    total_tokens_in: s.tin,
    total_tokens_out: s.tout,
    total_cost_usd: roundHalfEven(
      providers.reduce((sum, p) => sum + p.unrounded, 0),
      6,
    ),
    avg_latency_ms: s.dur / s.n,
    success_rate: s.ok / s.n,
    providers: providers.map(({ unrounded: _u, ...p }) => p),
    extended: {
      cache_hit_rate: samples.length > 0 ? roundHalfEven(samples.filter((r) => r.cacheHit).length / samples.length, 6) : null,
      cached_tokens: cached !== 0 ? cached : null,
      latency_p95_ms: exactPercentile(durations, 0.95),
      latency_p99_ms: exactPercentile(durations, 0.99),
      error_rate: roundHalfEven(errors.length / s.n, 6),
      cost_breakdown: expectedCostBreakdown(m),
      error_breakdown: errorBreakdown,
    },
    window_start: null,
    window_end: null,
  };
}

export function expectedHeatmap(runs: readonly RefRun[], q: RefQuery) {
  return [...groupBy(matching(runs, q), (r) => `${r.day} ${r.provider_id}`).values()]
    .map((g) => ({ day: g[0].day, provider_id: g[0].provider_id, run_count: g.length }))
    .sort((a, b) => cmp(a.day, b.day) || cmp(a.provider_id, b.provider_id));
}

export function expectedTimeseries(runs: readonly RefRun[], q: RefQuery) {
  return [...groupBy(matching(runs, q), (r) => `${r.day} ${r.provider_id}`).values()]
    .map((g) => {
      const s = sums(g);
      return {
        day: g[0].day,
        provider_id: g[0].provider_id,
        run_count: s.n,
        tokens_in: s.tin,
        tokens_out: s.tout,
        cost_usd: roundHalfEven(s.cost, 6),
        avg_latency_ms: s.dur / s.n,
        success_count: s.ok,
      };
    })
    .sort((a, b) => cmp(a.day, b.day) || cmp(a.provider_id, b.provider_id));
}

/** Pareto entries (§10.5) without provider_name and lane. */
export function expectedPareto(runs: readonly RefRun[], q: RefQuery) {
  return [...groupBy(matching(runs, q), (r) => `${r.provider_id}:${r.route ?? "default"}`).entries()]
    .map(([id, g]) => {
      const s = sums(g);
      const routeKey = id.slice(g[0].provider_id.length + 1);
      const route = routeKey !== "default" ? routeKey : g.some((r) => r.route === "default") ? "default" : null;
      return {
        id,
        provider_id: g[0].provider_id,
        route,
        run_count: s.n,
        tokens_in: s.tin,
        tokens_out: s.tout,
        cost_usd: roundHalfEven(s.cost, 6),
        avg_latency_ms: s.dur / s.n,
        success_rate: s.ok / s.n,
      };
    })
    .sort((a, b) => b.cost_usd - a.cost_usd || cmp(a.provider_id, b.provider_id) || cmpNullFirst(a.route, b.route));
}

/** The one sprint of a 90-day window over the range (§12.1): first to last day with matching runs. */
export function expectedSingleSprint(runs: readonly RefRun[], q: RefQuery) {
  const m = matching(runs, q);
  if (m.length === 0) return [];
  let cost = 0;
  for (const g of groupBy(m, (r) => `${r.day} ${r.provider_id}`).values()) cost += roundHalfEven(sums(g).cost, 6);
  const s = sums(m);
  const days = m.map((r) => r.day).sort(cmp);
  return [
    {
      period_start: days[0],
      period_end: days[days.length - 1],
      total_cost_usd: roundHalfEven(cost, 6),
      total_tokens_in: s.tin,
      total_tokens_out: s.tout,
      avg_latency_ms: s.dur / s.n,
      success_rate: s.ok / s.n,
    },
  ];
}

/** Cost (rounded 6) and tokens of the runs of a provider (and route) with from ≤ ts ≤ to. */
export function windowSums(runs: readonly RefRun[], providerId: string, route: string | null, from: number, to: number) {
  const inWindow = runs.filter((r) => r.provider_id === providerId && (route === null || r.route === route) && r.tsMs >= from && r.tsMs <= to);
  return { cost: roundHalfEven(sums(inWindow).cost, 6), tokens: inWindow.reduce((s, r) => s + r.tokens_in + r.tokens_out, 0) };
}
