/**
 * The daily rollup `telemetry_daily` (migration 004) behind the dashboard reads, shared by the
 * SQLite run (test/http/telemetry-rollups.test.ts) and the PostgreSQL run
 * (test/pg/telemetry-rollups.test.ts):
 * - after several ingestion batches (sequential and concurrent), after seeding, after the
 *   migrations' backfill of a store created before 004, and after rebuildRollups, every rollup
 *   level (day, hour, minute: sums, latency sketches, error categories) equals a fresh GROUP BY over
 *   the raw rows (expectRollupMatchesRuns, also used by the other rollup suites);
 * - heatmap, timeseries, pareto, metrics, sprints and pull-request windows over ranges whose edges
 *   cut days (runs just inside and just outside each bound), ranges inside one day, ranges of whole
 *   days exactly and open ranges, with provider, lane and route filters, equal a reference computed
 *   here from the ingested runs;
 * - whole days are read from the daily rollup and cut days from the finer levels and the raw rows
 *   (a tampered daily row shows in whole-day answers only).
 */
import fs from "node:fs";
import path from "node:path";
import type { Knex } from "knex";
import { PROJECT_ROOT } from "../../lib/config";
import { roundHalfEven } from "../../lib/lanes";
import { createKnex } from "../../lib/store/knex";
import { migrateToLatest } from "../../lib/store/migrate";
import { MIGRATIONS } from "../../lib/store/migrations";
import { seedStore } from "../../lib/store/seed";
import { rebuildRollups } from "../../services/telemetry/store/rollups";
import { parseFirstRunKey } from "../../services/telemetry/store/error-rollups";
import { SketchBins, encodeSketch, sketchOf } from "../../services/telemetry/store/latency-sketch";
import { ROLLUP_STRIPES } from "../../services/telemetry/store/stripes";
import { LEVELS, RollupLevel } from "../../services/telemetry/store/levels";
import { rowFromRun, RunInput } from "../../services/telemetry/store/run";
import { toStoredInstant } from "../../lib/time";
import { TestServer, request, startTestServer, tempDir } from "../helpers/server";
import type { StoreFactory } from "./telemetry-ingest-suite";
import { storeOf } from "./telemetry-ingest-suite";
import { writeReadsManifest } from "./telemetry-reads-suite";

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const PROVIDERS = ["gemini", "codex", "glm46", "claude", "ghost"];
const ROUTES = ["chat", null, "default", "review"];
/** Lanes of writeReadsManifest: gemini, claude balanced; glm46 turbo; codex economy; ghost none. */
const LANE_OF: Record<string, string | undefined> = { gemini: "balanced", claude: "balanced", glm46: "turbo", codex: "economy" };
const FIRST_DAY_MS = Date.parse("2025-05-01T00:00:00.000Z");
/** Offsets within each day: both midnights ± 1 ms, 06:00 and 18:00 ± 1 ms, noon. */
const OFFSETS = [0, 1, 6 * HOUR_MS - 1, 6 * HOUR_MS, 6 * HOUR_MS + 1, 12 * HOUR_MS, 18 * HOUR_MS - 1, 18 * HOUR_MS, DAY_MS - 2, DAY_MS - 1];

/** A run as ingested, with what the reference needs. */
interface SampleRun {
  body: Record<string, unknown>;
  tsMs: number;
  ts: string;
  day: string;
  provider_id: string;
  route: string | null;
  tokens_in: number;
  tokens_out: number;
  duration_ms: number;
  success: boolean;
  cost: number | null;
  cacheHit: boolean | null;
  cachedTokens: number;
}

/** 100 runs over 2025-05-01 … 05-05: two at each of the ten instants of every day. */
function sampleRuns(): SampleRun[] {
  const runs: SampleRun[] = [];
  for (let d = 0; d < 5; d++) {
    OFFSETS.forEach((offset, k) => {
      for (let copy = 0; copy < 2; copy++) {
        const i = d * 20 + k * 2 + copy;
        const tsMs = FIRST_DAY_MS + d * DAY_MS + offset;
        const provider_id = PROVIDERS[(i * 7 + copy) % PROVIDERS.length];
        const route = ROUTES[(i * 3 + d) % ROUTES.length];
        const success = i % 4 !== 0;
        const cost = i % 6 === 0 ? null : i % 6 === 1 ? 0 : 0.000125 * (((i * 13) % 40) + 1);
        const cache = i % 5 === 0 ? { hit: true, tokens: 7 } : i % 5 === 1 ? { hit: false } : undefined;
        const tokens_in = 10 + i;
        const tokens_out = 5 + (i % 7);
        const duration_ms = 100 + ((i * 37) % 900);
        const ts = toStoredInstant(tsMs);
        runs.push({
          body: {
            provider_id,
            route,
            tokens_in,
            tokens_out,
            duration_ms,
            status: success ? "success" : "error",
            cost_usd: cost,
            metadata: cache === undefined ? {} : { cache },
            ts,
            tool: "chat.complete",
          },
          tsMs,
          ts,
          day: ts.slice(0, 10),
          provider_id,
          route,
          tokens_in,
          tokens_out,
          duration_ms,
          success,
          cost,
          cacheHit: cache === undefined ? null : cache.hit,
          cachedTokens: cache?.hit ? 7 : 0,
        });
      }
    });
  }
  return runs;
}

/** A fixed shuffle (so each batch mixes days and keys, and later batches hold earlier instants). */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  let seed = 12345;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reference figures computed from the sample

interface Query {
  start?: string;
  end?: string;
  provider_id?: string;
  lane?: string;
  route?: string;
}

function queryString(q: Query): string {
  return Object.entries(q)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${encodeURIComponent(v as string)}`)
    .join("&");
}

function matching(runs: readonly SampleRun[], q: Query): SampleRun[] {
  const start = q.start === undefined ? -Infinity : Date.parse(q.start);
  const end = q.end === undefined ? Infinity : Date.parse(q.end);
  return runs.filter(
    (r) =>
      r.tsMs >= start &&
      r.tsMs <= end &&
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

function sums(runs: readonly SampleRun[]): Sums {
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

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const list = groups.get(key);
    if (list === undefined) groups.set(key, [item]);
    else list.push(item);
  }
  return groups;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function expectedHeatmap(runs: readonly SampleRun[], q: Query) {
  return [...groupBy(matching(runs, q), (r) => `${r.day} ${r.provider_id}`).values()]
    .map((g) => ({ day: g[0].day, provider_id: g[0].provider_id, run_count: g.length }))
    .sort((a, b) => cmp(a.day, b.day) || cmp(a.provider_id, b.provider_id));
}

function expectedTimeseries(runs: readonly SampleRun[], q: Query) {
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

function expectedPareto(runs: readonly SampleRun[], q: Query) {
  return [...groupBy(matching(runs, q), (r) => `${r.provider_id}:${r.route ?? "default"}`).entries()]
    .map(([id, g]) => {
      const s = sums(g);
      const routeKey = id.slice(g[0].provider_id.length + 1);
      // No route and the literal "default" are one entry, "default" when any run carries it.
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
    .sort(
      (a, b) =>
        b.cost_usd - a.cost_usd ||
        cmp(a.provider_id, b.provider_id) ||
        (a.route === null ? (b.route === null ? 0 : -1) : b.route === null ? 1 : cmp(a.route, b.route)),
    );
}

function expectedMetrics(runs: readonly SampleRun[], q: Query) {
  const m = matching(runs, q);
  if (m.length === 0) return { total_runs: 0, providers: [], extended: null };
  const s = sums(m);
  const out = (ms: number) => {
    const t = toStoredInstant(ms);
    return t.endsWith(".000Z") ? `${t.slice(0, 19)}Z` : t;
  };
  const samples = m.filter((r) => r.cacheHit !== null);
  const cached = m.reduce((sum, r) => sum + r.cachedTokens, 0);
  return {
    start: out(Math.min(...m.map((r) => r.tsMs))),
    end: out(Math.max(...m.map((r) => r.tsMs))),
    total_runs: s.n,
    total_tokens_in: s.tin,
    total_tokens_out: s.tout,
    total_cost_usd: roundHalfEven(s.cost, 6),
    avg_latency_ms: s.dur / s.n,
    success_rate: s.ok / s.n,
    providers: [...groupBy(m, (r) => r.provider_id).values()]
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
        };
      })
      .sort((a, b) => b.run_count - a.run_count || cmp(a.provider_id, b.provider_id)),
    extended: {
      cache_hit_rate: samples.length > 0 ? roundHalfEven(samples.filter((r) => r.cacheHit).length / samples.length, 6) : null,
      cached_tokens: cached !== 0 ? cached : null,
    },
  };
}

/** The metrics fields the reference covers. */
function metricsFigures(body: any) {
  if (body.total_runs === 0) return { total_runs: 0, providers: body.providers, extended: body.extended };
  return {
    start: body.start,
    end: body.end,
    total_runs: body.total_runs,
    total_tokens_in: body.total_tokens_in,
    total_tokens_out: body.total_tokens_out,
    total_cost_usd: body.total_cost_usd,
    avg_latency_ms: body.avg_latency_ms,
    success_rate: body.success_rate,
    providers: body.providers,
    extended: { cache_hit_rate: body.extended.cache_hit_rate, cached_tokens: body.extended.cached_tokens },
  };
}

/**
 * The one sprint of a 90-day window over the range: it spans the first to the last day with
 * matching runs (the range clipped to the data days).
 */
function expectedSingleSprint(runs: readonly SampleRun[], q: Query) {
  const m = matching(runs, q);
  if (m.length === 0) return [];
  // The report sums the timeseries points' rounded costs (§12.1).
  let cost = 0;
  for (const g of groupBy(m, (r) => `${r.day} ${r.provider_id}`).values()) cost += roundHalfEven(sums(g).cost, 6);
  const s = sums(m);
  const days = m.map((r) => r.day).sort(cmp);
  const [first, last] = [days[0], days[days.length - 1]];
  return [
    {
      period_start: first,
      period_end: last,
      total_cost_usd: roundHalfEven(cost, 6),
      total_tokens_in: s.tin,
      total_tokens_out: s.tout,
      avg_latency_ms: s.dur / s.n,
      success_rate: s.ok / s.n,
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// The rollup against a fresh aggregate

/** A fresh GROUP BY of the raw rows at one level (its bucket is a prefix of the stored ts). */
function freshAggregate(level: RollupLevel): string {
  return `
  SELECT SUBSTR(ts, 1, ${level.prefixLength}) AS bucket, provider_id, route, COUNT(*) AS run_count, SUM(tokens_in) AS tokens_in,
         SUM(tokens_out) AS tokens_out, SUM(duration_ms) AS duration_sum, SUM(is_success) AS success_count,
         SUM(cost_usd) AS cost_sum, COUNT(cost_usd) AS cost_count, COUNT(cache_hit) AS cache_samples,
         SUM(CASE WHEN cache_hit = 1 THEN 1 ELSE 0 END) AS cache_hits, SUM(cached_tokens) AS cached_tokens,
         MIN(ts) AS first_ts, MAX(ts) AS last_ts
  FROM telemetry_events GROUP BY SUBSTR(ts, 1, ${level.prefixLength}), provider_id, route`;
}

const COUNTED = [
  "run_count",
  "tokens_in",
  "tokens_out",
  "duration_sum",
  "success_count",
  "cost_count",
  "cache_samples",
  "cache_hits",
  "cached_tokens",
];

function rowsOf(result: unknown): Record<string, unknown>[] {
  return Array.isArray(result) ? (result as Record<string, unknown>[]) : (result as { rows: Record<string, unknown>[] }).rows;
}

function normalised(row: Record<string, unknown>, bucket: unknown) {
  const out: Record<string, unknown> = {
    key: `${String(bucket)} ${row.provider_id} ${row.route === null ? "<null>" : String(row.route)}`,
    first_ts: row.first_ts,
    last_ts: row.last_ts,
  };
  for (const c of COUNTED) out[c] = Number(row[c]);
  return { figures: out, cost: row.cost_sum === null ? 0 : Number(row.cost_sum) };
}

type Normalised = ReturnType<typeof normalised>;

/** The rows of one key's stripes as one: counts and sums added, first/last instants min/max. */
function mergeStripes(rows: readonly Normalised[]): Normalised[] {
  const byKey = new Map<string, Normalised>();
  for (const r of rows) {
    const into = byKey.get(String(r.figures.key));
    if (into === undefined) {
      byKey.set(String(r.figures.key), { figures: { ...r.figures }, cost: r.cost });
      continue;
    }
    for (const c of COUNTED) into.figures[c] = Number(into.figures[c]) + Number(r.figures[c]);
    if (String(r.figures.first_ts) < String(into.figures.first_ts)) into.figures.first_ts = r.figures.first_ts;
    if (String(r.figures.last_ts) > String(into.figures.last_ts)) into.figures.last_ts = r.figures.last_ts;
    into.cost += r.cost;
  }
  return [...byKey.values()];
}

/** The stripe of a stored rollup row: the column's value, or 0 in a store before migration 012. */
function stripeOf(row: Record<string, unknown>): number {
  return row.stripe === undefined ? 0 : Number(row.stripe);
}

/**
 * Asserts that every rollup level (telemetry_daily, _hourly, _minutely) equals a fresh GROUP BY over
 * telemetry_events, a key's rows in its several stripes (migration 012) taken together — the sums
 * added, the latency sketches merged and compared byte for byte against a sketch of the key's runs'
 * durations made here, and the level's error rollup (counts added, the smallest first run in (ts, id)
 * order per category). Every stored row has a stripe in 0 … ROLLUP_STRIPES − 1 and at most one row
 * per key and stripe. Returns the number of keys of each level, coarsest first.
 */
export async function expectRollupMatchesRuns(knex: Knex): Promise<number[]> {
  const counts: number[] = [];
  const runs = (await knex("telemetry_events").select("id", "ts", "provider_id", "route", "duration_ms", "error_category")) as {
    id: number | string;
    ts: string;
    provider_id: string;
    route: string | null;
    duration_ms: number | string;
    error_category: string | null;
  }[];
  const badStripes = (rows: Record<string, unknown>[], keyOf: (r: Record<string, unknown>) => string) => {
    const seen = new Set<string>();
    const bad: string[] = [];
    for (const r of rows) {
      const stripe = stripeOf(r);
      const key = `${keyOf(r)} #${stripe}`;
      if (!Number.isInteger(stripe) || stripe < 0 || stripe >= ROLLUP_STRIPES || seen.has(key)) bad.push(key);
      seen.add(key);
    }
    return bad;
  };
  for (const level of LEVELS) {
    const errorGroups = groupBy(
      runs.filter((r) => r.error_category !== null),
      (r) => `${r.ts.slice(0, level.prefixLength)} ${r.provider_id} ${r.route ?? ""} ${r.error_category}`,
    );
    const freshErrors = [...errorGroups.entries()]
      .map(([key, g]) => {
        const first = [...g].sort((a, b) => cmp(a.ts, b.ts) || Number(a.id) - Number(b.id))[0];
        return { key, error_count: g.length, first_ts: first.ts, first_id: Number(first.id) };
      })
      .sort((a, b) => cmp(a.key, b.key));
    const errorRows = (await knex(level.errorsTable).select()) as Record<string, unknown>[];
    const errorKey = (r: Record<string, unknown>) => `${String(r[level.bucketColumn])} ${r.provider_id} ${r.route_key} ${r.category}`;
    expect({ level: level.name, badStripes: badStripes(errorRows, errorKey) }).toEqual({ level: level.name, badStripes: [] });
    const storedErrors = [...groupBy(errorRows, errorKey).entries()]
      .map(([key, stripes]) => {
        const firstRun = stripes.map((r) => String(r.first_run)).sort(cmp)[0];
        const first = parseFirstRunKey(firstRun);
        return { key, error_count: stripes.reduce((n, r) => n + Number(r.error_count), 0), first_ts: first.ts, first_id: first.id };
      })
      .sort((a, b) => cmp(a.key, b.key));
    expect({ level: level.name, errors: storedErrors }).toEqual({ level: level.name, errors: freshErrors });
    const durations = groupBy(runs, (r) => `${r.ts.slice(0, level.prefixLength)} ${r.provider_id} ${r.route ?? ""}`);
    const rollup = (await knex(level.table).select()) as Record<string, unknown>[];
    const sumKey = (r: Record<string, unknown>) => `${String(r[level.bucketColumn])} ${r.provider_id} ${r.route_key}`;
    expect({ level: level.name, badStripes: badStripes(rollup, sumKey) }).toEqual({ level: level.name, badStripes: [] });
    const sketches = [...groupBy(rollup, sumKey).entries()].map(([key, stripes]) => {
      const merged = new SketchBins();
      for (const r of stripes) merged.addEncoded(r.latency_sketch as Uint8Array);
      const expected = encodeSketch(sketchOf((durations.get(key) ?? []).map((d) => Number(d.duration_ms))));
      return { key, matches: merged.encode().equals(expected) };
    });
    expect({ level: level.name, mismatched: sketches.filter((s) => !s.matches).map((s) => s.key) }).toEqual({ level: level.name, mismatched: [] });
    expect(sketches.length).toBe(durations.size);
    const fresh = rowsOf(await knex.raw(freshAggregate(level))).map((r) => normalised(r, r.bucket));
    for (const r of rollup) expect(r.route_key).toBe(r.route ?? "");
    expect({ level: level.name, emptyRows: rollup.filter((r) => Number(r.run_count) <= 0).map(sumKey) }).toEqual({
      level: level.name,
      emptyRows: [],
    });
    const stored = mergeStripes(rollup.map((r) => normalised(r, r[level.bucketColumn])));
    const byKey = (a: { figures: Record<string, unknown> }, b: { figures: Record<string, unknown> }) =>
      cmp(String(a.figures.key), String(b.figures.key));
    fresh.sort(byKey);
    stored.sort(byKey);
    expect({ level: level.name, rows: stored.map((r) => r.figures) }).toEqual({ level: level.name, rows: fresh.map((r) => r.figures) });
    // Costs summed in another order may differ in the last bits only.
    const costGaps = stored.map((r, i) => Math.abs(r.cost - fresh[i].cost)).filter((gap) => gap > 1e-9);
    expect(costGaps).toEqual([]);
    counts.push(stored.length);
  }
  return counts;
}

/**
 * The rollup rows of every table (sums of each level, then error rollups of each level) per stripe:
 * rows[table][stripe] = row count.
 */
export async function rollupRowsPerStripe(knex: Knex): Promise<Record<string, Record<number, number>>> {
  const out: Record<string, Record<number, number>> = {};
  for (const table of [...LEVELS.map((l) => l.table), ...LEVELS.map((l) => l.errorsTable)]) {
    const rows = (await knex(table).select("stripe").count({ n: "*" }).groupBy("stripe")) as { stripe: unknown; n: unknown }[];
    out[table] = Object.fromEntries(rows.map((r) => [Number(r.stripe), Number(r.n)]));
  }
  return out;
}

/**
 * Runs `down` of every migration from the latest back to `first`, calls `between`, then `up` of the
 * same migrations in order.
 */
export async function redoMigrationsFrom(knex: Knex, first: string, between: () => Promise<void>): Promise<void> {
  const redone = MIGRATIONS.filter(([name]) => name >= first);
  for (const [, migration] of [...redone].reverse()) await migration.down(knex);
  await between();
  for (const [, migration] of redone) await migration.up(knex);
}

// ---------------------------------------------------------------------------------------------

async function ingest(server: TestServer, runs: readonly SampleRun[]): Promise<void> {
  const res = await request(`${server.baseUrl}/telemetry/runs`, { method: "POST", json: { runs: runs.map((r) => r.body) } });
  if (res.status !== 201) throw new Error(`ingestion failed: ${res.status} ${res.text}`);
}

async function ok(server: TestServer, endpoint: string, query: string): Promise<any> {
  const res = await request(`${server.baseUrl}/telemetry/${endpoint}${query === "" ? "" : `?${query}`}`);
  if (res.status !== 200) throw new Error(`GET ${endpoint}?${query} → ${res.status} ${res.text}`);
  return res.body;
}

/** The ranges checked: [name, start, end]. */
const RANGES: [string, string | undefined, string | undefined][] = [
  ["partial days at both edges", "2025-05-02T06:00:00.000Z", "2025-05-04T17:59:59.999Z"],
  ["edges 1 ms past runs (the 06:00:00.000 runs of 05-02 and 05-04 left out)", "2025-05-02T06:00:00.001Z", "2025-05-04T05:59:59.999Z"],
  ["edges one ms inside midnight", "2025-05-01T00:00:00.001Z", "2025-05-05T23:59:59.998Z"],
  ["inside one day", "2025-05-03T05:59:59.999Z", "2025-05-03T18:00:00.000Z"],
  ["across one midnight without a whole day", "2025-05-02T12:00:00.000Z", "2025-05-03T11:59:59.999Z"],
  ["whole days exactly", "2025-05-02T00:00:00.000Z", "2025-05-04T23:59:59.999Z"],
  ["one whole day exactly", "2025-05-03T00:00:00.000Z", "2025-05-03T23:59:59.999Z"],
  ["start only, mid-day", "2025-05-03T12:00:00.000Z", undefined],
  ["end only, first ms of a day", undefined, "2025-05-02T00:00:00.000Z"],
  ["one instant", "2025-05-04T18:00:00.000Z", "2025-05-04T18:00:00.000Z"],
  ["no bounds", undefined, undefined],
  ["wider than the data", "2025-04-20T07:00:00.000Z", "2025-05-20T07:00:00.000Z"],
  ["no run inside", "2025-05-03T00:00:00.002Z", "2025-05-03T05:59:59.998Z"],
];

/** Filters per endpoint: every one takes provider_id; heatmap and metrics take route, the others lane. */
const PROVIDER_FILTERS: Query[] = [{}, { provider_id: "gemini" }];
const LANE_FILTERS: Query[] = [{ lane: "balanced" }, { provider_id: "claude", lane: "balanced" }, { provider_id: "ghost", lane: "balanced" }];
const ROUTE_FILTERS: Query[] = [{ route: "chat" }, { route: "default" }, { provider_id: "codex", route: "review" }];

export function rollupSuite(label: string, makeStore: StoreFactory): void {
  describe(`${label}: daily rollups behind the dashboard reads`, () => {
    let server: TestServer;
    let knex: Knex;
    let manifestDir: string;
    let dropStore: () => Promise<void>;
    const runs = sampleRuns();

    beforeAll(async () => {
      const manifest = writeReadsManifest();
      manifestDir = manifest.dir;
      const store = await makeStore();
      dropStore = store.drop;
      server = await startTestServer({ CONSOLE_MCP_SERVERS_PATH: manifest.file, ...store.env });
      knex = storeOf(server);
    });
    afterAll(async () => {
      await server.stop();
      await dropStore();
      fs.rmSync(manifestDir, { recursive: true, force: true });
    });

    it("stays equal to a GROUP BY over the raw rows after each of several batches", async () => {
      const order = shuffled(runs);
      const batches = [order.slice(0, 30), order.slice(30, 55), order.slice(55, 80), order.slice(80)];
      for (const batch of batches) {
        await ingest(server, batch);
        expect((await expectRollupMatchesRuns(knex))[0]).toBeGreaterThan(0);
      }
      // 5 days; every (day, provider, route) key of the sample has a row, and each level has one
      // per (bucket, provider, route).
      const keysAt = (length: number) => new Set(runs.map((r) => `${r.ts.slice(0, length)} ${r.provider_id} ${r.route}`)).size;
      expect(await expectRollupMatchesRuns(knex)).toEqual(LEVELS.map((l) => keysAt(l.prefixLength)));
    });

    for (const [name, start, end] of RANGES) {
      describe(`range: ${name}`, () => {
        for (const filter of [...PROVIDER_FILTERS, ...ROUTE_FILTERS]) {
          const q: Query = { start, end, ...filter };
          it(`heatmap and metrics with ${JSON.stringify(filter)}`, async () => {
            expect((await ok(server, "heatmap", queryString(q))).buckets).toEqual(expectedHeatmap(runs, q));
            expect(metricsFigures(await ok(server, "metrics", queryString(q)))).toEqual(expectedMetrics(runs, q));
          });
        }
        for (const filter of [...PROVIDER_FILTERS, ...LANE_FILTERS]) {
          const q: Query = { start, end, ...filter };
          const qs = queryString(q);
          it(`timeseries, pareto and a sprint over the whole range with ${JSON.stringify(filter)}`, async () => {
            expect((await ok(server, "timeseries", qs)).items).toEqual(expectedTimeseries(runs, q));
            const pareto = (await ok(server, "pareto", qs)).items.map(({ provider_name: _n, lane: _l, ...rest }: any) => rest);
            expect(pareto).toEqual(expectedPareto(runs, q));
            const body = await ok(server, "finops/sprints", `${qs}${qs === "" ? "" : "&"}window_days=90&limit=1`);
            const figures = body.items.map((sprint: any) => ({
              period_start: sprint.period_start,
              period_end: sprint.period_end,
              total_cost_usd: sprint.total_cost_usd,
              total_tokens_in: sprint.total_tokens_in,
              total_tokens_out: sprint.total_tokens_out,
              avg_latency_ms: sprint.avg_latency_ms,
              success_rate: sprint.success_rate,
            }));
            expect(figures).toEqual(expectedSingleSprint(runs, q));
          });
        }
      });
    }

    it("pull-request windows: whole days from the rollup, cut days from the raw rows", async () => {
      // Merged at 06:00 on 05-03: with 2-day windows, before = [05-01T06:00, 05-03T05:59:59.999]
      // and after = [05-03T06:00, 05-05T05:59:59.999], each one whole day plus two cut days.
      const prs = [
        { id: "pr-route", provider_id: "gemini", route: "chat", merged_at: "2025-05-03T06:00:00.000Z" },
        { id: "pr-any-route", provider_id: "codex", route: null, merged_at: "2025-05-03T06:00:00.001Z" },
        { id: "pr-midnight", provider_id: "claude", route: "default", merged_at: "2025-05-03T00:00:00.000Z" },
      ];
      for (const pr of prs) {
        const res = await request(`${server.baseUrl}/telemetry/finops/pull-requests`, {
          method: "POST",
          json: { ...pr, title: pr.id, owner: "tests" },
        });
        expect(res.status).toBe(201);
      }
      const body = await ok(server, "finops/pull-requests", "start=2025-05-02T00:00:00Z&end=2025-05-04T00:00:00Z&window_days=2&limit=12");
      const windowSums = (providerId: string, route: string | null, from: number, to: number) => {
        const inWindow = runs.filter((r) => r.provider_id === providerId && (route === null || r.route === route) && r.tsMs >= from && r.tsMs <= to);
        return { cost: roundHalfEven(sums(inWindow).cost, 6), tokens: inWindow.reduce((s, r) => s + r.tokens_in + r.tokens_out, 0) };
      };
      const expected = prs
        .map((pr) => {
          const m = Date.parse(pr.merged_at);
          const before = windowSums(pr.provider_id, pr.route, m - 2 * DAY_MS, m - 1);
          const after = windowSums(pr.provider_id, pr.route, m, m + 2 * DAY_MS - 1);
          return {
            id: pr.id,
            cost_impact_usd: roundHalfEven(after.cost - before.cost, 6),
            cost_delta: before.cost > 0 ? (after.cost - before.cost) / before.cost : 0,
            tokens_impact: after.tokens - before.tokens,
            merged: m,
          };
        })
        .sort((a, b) => b.merged - a.merged)
        .map(({ merged: _m, ...rest }) => rest);
      expect(expected.some((e) => e.tokens_impact !== 0)).toBe(true);
      expect(
        body.items.map((i: any) => ({ id: i.id, cost_impact_usd: i.cost_impact_usd, cost_delta: i.cost_delta, tokens_impact: i.tokens_impact })),
      ).toEqual(expected);
    });

    it("reads whole days from the rollup and partial days from the raw rows; rebuildRollups repairs it", async () => {
      const wholeDays = queryString({ start: "2025-05-02T00:00:00.000Z", end: "2025-05-04T23:59:59.999Z" });
      const cutDays = queryString({ start: "2025-05-02T00:00:00.001Z", end: "2025-05-03T23:59:59.998Z" });
      const insideDay = queryString({ start: "2025-05-03T00:00:00.000Z", end: "2025-05-03T23:59:59.998Z" });
      // One rollup row per provider of 05-03 gets 1000 more runs than it has.
      const rows: { provider_id: string; route_key: string; stripe: number }[] = await knex("telemetry_daily")
        .where({ day: "2025-05-03" })
        .select("provider_id", "route_key", "stripe");
      const tamperedKeys = [...new Map(rows.map((r) => [r.provider_id, r])).values()];
      expect(tamperedKeys.length).toBeGreaterThan(1);
      for (const key of tamperedKeys) {
        await knex("telemetry_daily")
          .where({ day: "2025-05-03", ...key })
          .update({ run_count: knex.raw("run_count + 1000") });
      }
      try {
        const tampered = (await ok(server, "heatmap", wholeDays)).buckets;
        const reference = expectedHeatmap(runs, { start: "2025-05-02T00:00:00.000Z", end: "2025-05-04T23:59:59.999Z" });
        expect(tampered).toEqual(reference.map((b) => (b.day === "2025-05-03" ? { ...b, run_count: b.run_count + 1000 } : b)));
        // 05-02 cut by one ms at its start, 05-03 by one ms at its end: both from raw rows.
        expect((await ok(server, "heatmap", cutDays)).buckets).toEqual(
          expectedHeatmap(runs, { start: "2025-05-02T00:00:00.001Z", end: "2025-05-03T23:59:59.998Z" }),
        );
        expect((await ok(server, "heatmap", insideDay)).buckets).toEqual(
          expectedHeatmap(runs, { start: "2025-05-03T00:00:00.000Z", end: "2025-05-03T23:59:59.998Z" }),
        );
      } finally {
        await rebuildRollups(knex);
      }
      await expectRollupMatchesRuns(knex);
      expect((await ok(server, "heatmap", wholeDays)).buckets).toEqual(
        expectedHeatmap(runs, { start: "2025-05-02T00:00:00.000Z", end: "2025-05-04T23:59:59.999Z" }),
      );
    });

    it("concurrent ingestion batches on the same keys all land in the rollup", async () => {
      const extra = sampleRuns().map((r) => ({ ...r, body: { ...r.body, tokens_in: Number(r.body.tokens_in) + 1 } }));
      const order = shuffled(extra);
      await Promise.all([0, 1, 2, 3].map((k) => ingest(server, order.slice(k * 25, (k + 1) * 25))));
      await expectRollupMatchesRuns(knex);
    });
  });

  describe(`${label}: the rollup outside ingestion`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      while (cleanups.length > 0) await cleanups.pop()?.();
    });

    async function freshKnex(): Promise<Knex> {
      const store = await makeStore();
      const dir = tempDir("console-mcp-rollup-");
      const k = createKnex({ dbUrl: store.env.CONSOLE_MCP_DB_URL ?? null, dbPath: path.join(dir, "console.db") });
      cleanups.push(async () => {
        await k.destroy();
        await store.drop();
        fs.rmSync(dir, { recursive: true, force: true });
      });
      return k;
    }

    it("seeding fills the rollup in the seed transaction", async () => {
      const k = await freshKnex();
      await migrateToLatest(k);
      expect(await seedStore(k, path.join(PROJECT_ROOT, "fixtures"))).toBe("seeded");
      for (const count of await expectRollupMatchesRuns(k)) expect(count).toBeGreaterThan(0);
    });

    it("migration 004 backfills the runs of a store created before it", async () => {
      const k = await freshKnex();
      const before004 = MIGRATIONS.filter(([name]) => name < "004");
      await k.migrate.latest({
        migrationSource: {
          getMigrations: async () => before004.map(([name]) => name),
          getMigrationName: (name: string) => name,
          getMigration: async (name: string) => before004.find(([n]) => n === name)![1],
        },
      });
      expect(await k.schema.hasTable("telemetry_daily")).toBe(false);
      const nowMs = Date.parse("2025-06-01T00:00:00Z");
      const rows = sampleRuns().map((r) =>
        rowFromRun(
          {
            provider_id: r.provider_id,
            tool: "t",
            route: r.route,
            tokens_in: r.tokens_in,
            tokens_out: r.tokens_out,
            duration_ms: r.duration_ms,
            status: r.success ? "success" : "error",
            cost_usd: r.cost,
            metadata: r.cacheHit === null ? {} : { cache: { hit: r.cacheHit, tokens: 7 } },
            ts_ms: r.tsMs,
            experiment_cohort: null,
            experiment_tag: null,
          } as RunInput,
          nowMs,
        ),
      );
      for (let i = 0; i < rows.length; i += 50) await k("telemetry_events").insert(rows.slice(i, i + 50));
      await migrateToLatest(k);
      const count = await expectRollupMatchesRuns(k);
      expect(count).toEqual(LEVELS.map((l) => new Set(rows.map((r) => `${r.ts.slice(0, l.prefixLength)} ${r.provider_id} ${r.route}`)).size));
      // Down from the latest to 004 and up again: dropped, then backfilled again.
      await redoMigrationsFrom(k, "004_telemetry_daily", async () => {
        expect(await k.schema.hasTable("telemetry_daily")).toBe(false);
      });
      expect(await expectRollupMatchesRuns(k)).toEqual(count);
    });

    it("rebuildRollups on an empty store leaves an empty rollup", async () => {
      const k = await freshKnex();
      await migrateToLatest(k);
      await rebuildRollups(k);
      expect(await expectRollupMatchesRuns(k)).toEqual([0, 0, 0]);
    });
  });
}
