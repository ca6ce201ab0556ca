/**
 * Sums that cannot overflow the store (issue 7, item 3), shared by test/http/run-bounds.test.ts
 * (SQLite) and test/pg/run-bounds.test.ts (PostgreSQL):
 * - the issue's example: 1,100 runs with tokens_in 2^53 − 1 on one day. PostgreSQL answered 500 (the
 *   rollup's bigint overflowed) and SQLite accepted them, then failed every read with an `end` over
 *   them. Now each such value is a 422 naming its field, nothing is stored, and later runs of that
 *   provider, day and route are stored and read normally;
 * - the class: every summed value (tokens_in, tokens_out, duration_ms, cost_usd, the cached-token
 *   count) at its maximum, in batches over two days, read through every endpoint with and without
 *   `end` — whole days from the rollup, partial days from the raw rows, and both mixed — gives exact
 *   figures (counts × maxima);
 * - rows stored before the bounds (up to 2^53 − 1, costs of 1e308, as the old validation allowed):
 *   migration 005 recomputes the rollup, every read answers 200 with each such value counted as its
 *   bound, the runs page still shows the stored values, and new runs on those days are stored.
 */
import fs from "node:fs";
import path from "node:path";
import type { Knex } from "knex";
import { createKnex } from "../../lib/store/knex";
import { MIGRATIONS } from "../../lib/store/migrations";
import { rebuildDailyRollups } from "../../lib/store/telemetry-daily";
import { insertTelemetryRows } from "../../lib/store/telemetry-insert";
import { MAX_RUN_COST_USD, MAX_RUN_INTEGER, rowFromRun, RunInput } from "../../lib/telemetry-run";
import { request, startTestServer, tempDir, TestServer } from "../helpers/server";
import { countRuns, StoreFactory, storeOf } from "./telemetry-ingest-suite";

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** The first of the two days the runs fall on (in the past, so PR windows are not clipped by now). */
const D = Date.parse("2025-05-10T00:00:00.000Z");
const LEGACY = 2 ** 53 - 1;
/** When the two legacy runs costing 1e308 each happened. */
const COSTLY_TS = D + 18 * HOUR_MS;

const iso = (ms: number) => new Date(ms).toISOString();

async function postRuns(server: TestServer, body: unknown) {
  return request(`${server.baseUrl}/telemetry/runs`, { method: "POST", json: body });
}

async function get(server: TestServer, endpoint: string, query: Record<string, string | number>) {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)])).toString();
  const res = await request(`${server.baseUrl}/${endpoint}${qs === "" ? "" : `?${qs}`}`);
  if (res.status !== 200) throw new Error(`GET ${endpoint}?${qs} → ${res.status} ${res.text}`);
  return res.body;
}

/** An inclusive ts range of a read; absent bounds are open. */
interface Range {
  name: string;
  start?: number;
  end?: number;
}

const inRange = (r: Range, ts: number) => (r.start === undefined || ts >= r.start) && (r.end === undefined || ts <= r.end);

function rangeQuery(r: Range): Record<string, string> {
  const q: Record<string, string> = {};
  if (r.start !== undefined) q.start = iso(r.start);
  if (r.end !== undefined) q.end = iso(r.end);
  return q;
}

/**
 * Ranges over the days D and D+1 that take each read path: open (rollup only), whole days (rollup),
 * an `end` inside a day (raw rows only), both bounds inside days with no whole day between (raw
 * rows), and a partial first day plus a whole second day (raw rows and rollup, merged).
 */
const RANGES: Range[] = [
  { name: "no start, no end (rollup)" },
  { name: "the two whole days (rollup)", start: D, end: D + 2 * DAY_MS - 1 },
  { name: "end at noon of the first day (raw rows)", end: D + 12 * HOUR_MS },
  { name: "06:00:00.001 of D to 06:00 of D+1 (raw rows)", start: D + 6 * HOUR_MS + 1, end: D + DAY_MS + 6 * HOUR_MS },
  { name: "06:00 of D to midnight after D+1 (raw rows + rollup)", start: D + 6 * HOUR_MS, end: D + 2 * DAY_MS },
];

export function runBoundsSuite(label: string, makeStore: StoreFactory): void {
  describe(`${label}: the issue's example`, () => {
    let server: TestServer;
    let drop: () => Promise<void>;
    beforeAll(async () => {
      const store = await makeStore();
      drop = store.drop;
      server = await startTestServer(store.env);
    });
    afterAll(async () => {
      await server?.stop();
      await drop?.();
    });

    it("1,100 runs with tokens_in 2^53 − 1 on one day → 422 naming each one's tokens_in, nothing stored", async () => {
      const runs = Array.from({ length: 1100 }, (_, i) => ({
        provider_id: "gemini", route: "chat", ts: iso(D + i * 1000), tokens_in: LEGACY,
      }));
      const res = await postRuns(server, { runs });
      expect(res.status).toBe(422);
      // The answer lists the first 1,000 problems (the contract asks for at least 100).
      expect(res.body.detail).toHaveLength(1000);
      res.body.detail.forEach((item: { type: string; loc: unknown[]; input: unknown; ctx: unknown }, i: number) => {
        expect(item).toMatchObject({ type: "less_than_equal", loc: ["body", "runs", i, "tokens_in"], input: LEGACY, ctx: { le: 1e9 } });
      });
      expect(await countRuns(storeOf(server))).toBe(0);
    });

    it("one such run alone is a 422 too (it was valid one by one)", async () => {
      const res = await postRuns(server, { provider_id: "gemini", route: "chat", ts: iso(D), tokens_in: LEGACY });
      expect(res.status).toBe(422);
      expect(res.body.detail.map((d: { loc: unknown[] }) => d.loc)).toEqual([["body", "tokens_in"]]);
    });

    it("later runs of that provider, day and route are stored, and reads with and without end answer them", async () => {
      const res = await postRuns(server, {
        runs: [
          { provider_id: "gemini", route: "chat", ts: iso(D + HOUR_MS), tokens_in: MAX_RUN_INTEGER, tokens_out: 5, duration_ms: 10 },
          { provider_id: "gemini", route: "chat", ts: iso(D + 2 * HOUR_MS), tokens_in: 7, tokens_out: 5, duration_ms: 30 },
        ],
      });
      expect(res.status).toBe(201);
      const queries: Record<string, string>[] = [{}, { end: iso(D + 12 * HOUR_MS) }, { start: iso(D), end: iso(D + DAY_MS - 1) }];
      for (const query of queries) {
        const metrics = await get(server, "telemetry/metrics", query);
        expect(metrics).toMatchObject({ total_runs: 2, total_tokens_in: 1_000_000_007, total_tokens_out: 10, avg_latency_ms: 20 });
        const timeseries = await get(server, "telemetry/timeseries", query);
        expect(timeseries.items).toEqual([
          expect.objectContaining({ day: "2025-05-10", provider_id: "gemini", run_count: 2, tokens_in: 1_000_000_007 }),
        ]);
      }
    });
  });

  describe(`${label}: every summed value at its maximum, through every read path`, () => {
    let server: TestServer;
    let drop: () => Promise<void>;
    /** ts of the gemini/chat runs at the maximum. */
    const maxed: number[] = [];
    /** ts of the codex runs whose cached-token count is the minimum (−10^9) and every other value 0. */
    const minCached: number[] = [];

    beforeAll(async () => {
      const store = await makeStore();
      drop = store.drop;
      server = await startTestServer(store.env);
      for (let k = 0; k < 800; k++) maxed.push(D + k * 100_000);
      for (let k = 0; k < 300; k++) maxed.push(D + DAY_MS + k * 250_000);
      for (let k = 0; k < 10; k++) minCached.push(D + 3 * HOUR_MS + k);
      const runs = [
        ...maxed.map((ts) => ({
          provider_id: "gemini", route: "chat", ts: iso(ts), status: "success",
          tokens_in: MAX_RUN_INTEGER, tokens_out: MAX_RUN_INTEGER, duration_ms: MAX_RUN_INTEGER, cost_usd: MAX_RUN_COST_USD,
          metadata: { cache: { hit: true, tokens: MAX_RUN_INTEGER } },
        })),
        ...minCached.map((ts) => ({
          provider_id: "codex", route: "chat", ts: iso(ts), status: "success", cost_usd: 0,
          metadata: { cache: { hit: true, tokens: -MAX_RUN_INTEGER } },
        })),
      ];
      // Several batches, so the rollup rows of both days are added to more than once.
      for (const size of [400, 1, 399, 310]) {
        const res = await postRuns(server, { runs: runs.splice(0, size) });
        expect(res.status).toBe(201);
      }
      expect(runs).toHaveLength(0);
      expect(await countRuns(storeOf(server))).toBe(1110);
    });
    afterAll(async () => {
      await server?.stop();
      await drop?.();
    });

    describe.each(RANGES)("$name", (range) => {
      const n = () => maxed.filter((ts) => inRange(range, ts)).length;
      const perDay = () =>
        [0, 1]
          .map((d) => ({ day: iso(D + d * DAY_MS).slice(0, 10), n: maxed.filter((ts) => inRange(range, ts) && Math.floor((ts - D) / DAY_MS) === d).length }))
          .filter((x) => x.n > 0);

      it("metrics: exact totals, per provider too", async () => {
        const count = n();
        expect(count).toBeGreaterThan(80);
        const body = await get(server, "telemetry/metrics", { ...rangeQuery(range), provider_id: "gemini" });
        expect(body).toMatchObject({
          total_runs: count,
          total_tokens_in: count * 1e9,
          total_tokens_out: count * 1e9,
          total_cost_usd: count * 1e6,
          avg_latency_ms: 1e9,
          success_rate: 1,
          providers: [{ provider_id: "gemini", run_count: count, tokens_in: count * 1e9, tokens_out: count * 1e9, cost_usd: count * 1e6, avg_latency_ms: 1e9, success_rate: 1 }],
        });
        expect(body.extended).toMatchObject({
          cache_hit_rate: 1, cached_tokens: count * 1e9, latency_p95_ms: 1e9, latency_p99_ms: 1e9, error_rate: 0,
          cost_breakdown: [{ label: "Chat", provider_id: "gemini", cost_usd: count * 1e6, run_count: count }],
        });
      });

      it("metrics over both providers: the minimum cached-token count counts too", async () => {
        const count = n();
        const codex = minCached.filter((ts) => inRange(range, ts)).length;
        const body = await get(server, "telemetry/metrics", rangeQuery(range));
        expect(body.total_runs).toBe(count + codex);
        expect(body.total_tokens_in).toBe(count * 1e9);
        expect(body.extended.cached_tokens).toBe((count - codex) * 1e9);
        expect(body.avg_latency_ms).toBe((count * 1e9) / (count + codex));
      });

      it("heatmap and timeseries: exact per-day figures", async () => {
        const heatmap = await get(server, "telemetry/heatmap", { ...rangeQuery(range), provider_id: "gemini" });
        expect(heatmap.buckets).toEqual(perDay().map((d) => ({ day: d.day, provider_id: "gemini", run_count: d.n })));
        const timeseries = await get(server, "telemetry/timeseries", { ...rangeQuery(range), provider_id: "gemini" });
        expect(timeseries.items).toEqual(
          perDay().map((d) => ({
            day: d.day, provider_id: "gemini", run_count: d.n, tokens_in: d.n * 1e9, tokens_out: d.n * 1e9,
            cost_usd: d.n * 1e6, avg_latency_ms: 1e9, success_count: d.n,
          })),
        );
      });

      it("pareto: exact route totals", async () => {
        const count = n();
        const body = await get(server, "telemetry/pareto", { ...rangeQuery(range), provider_id: "gemini" });
        expect(body.items).toEqual([
          {
            id: "gemini:chat", provider_id: "gemini", provider_name: "Gemini MCP", route: "chat", lane: "balanced",
            run_count: count, tokens_in: count * 1e9, tokens_out: count * 1e9, cost_usd: count * 1e6, avg_latency_ms: 1e9,
            success_rate: 1,
          },
        ]);
      });

      it("sprints (one-day windows): exact per-day totals", async () => {
        const body = await get(server, "telemetry/finops/sprints", { ...rangeQuery(range), provider_id: "gemini", window_days: 1, limit: 12 });
        expect(
          body.items.map((i: Record<string, unknown>) => [i.period_start, i.total_cost_usd, i.total_tokens_in, i.total_tokens_out, i.avg_latency_ms]),
        ).toEqual(perDay().reverse().map((d) => [d.day, d.n * 1e6, d.n * 1e9, d.n * 1e9, 1e9]));
      });

      it("the runs page shows the maxima as sent", async () => {
        const body = await get(server, "telemetry/runs", { ...rangeQuery(range), provider_id: "gemini", limit: 1 });
        expect(body.items[0]).toMatchObject({ tokens_in: 1e9, tokens_out: 1e9, duration_ms: 1e9, cost_usd: 1e6 });
      });
    });

    it("pull-request windows (whole days and edges): exact cost and token impacts", async () => {
      // Merged at noon of D+1: before = noon D … noon D+1 (edges of both days), after = noon D+1 … noon D+2.
      const merged = D + DAY_MS + 12 * HOUR_MS;
      const res = await request(`${server.baseUrl}/telemetry/finops/pull-requests`, {
        method: "POST", json: { id: "pr-max", title: "max", merged_at: iso(merged), provider_id: "gemini", route: "chat" },
      });
      expect(res.status).toBe(201);
      const before = maxed.filter((ts) => ts >= merged - DAY_MS && ts < merged).length;
      const after = maxed.filter((ts) => ts >= merged && ts < merged + DAY_MS).length;
      expect(before).toBeGreaterThan(after);
      const body = await get(server, "telemetry/finops/pull-requests", { window_days: 1, start: iso(D), end: iso(D + 3 * DAY_MS) });
      expect(body.items).toEqual([
        expect.objectContaining({
          id: "pr-max", cost_impact_usd: (after - before) * 1e6, tokens_impact: (after - before) * 2e9,
          cost_delta: (after - before) / before,
        }),
      ]);
    });
  });

  describe(`${label}: rows stored before the bounds`, () => {
    let server: TestServer;
    let knex: Knex;
    const cleanups: (() => Promise<void>)[] = [];
    /** Legacy gemini/chat runs: ts of each, spread over day D. */
    const legacy: number[] = [];

    beforeAll(async () => {
      const store = await makeStore();
      const dir = tempDir("console-mcp-bounds-");
      const dbPath = path.join(dir, "console.db");
      cleanups.push(async () => {
        await store.drop();
        fs.rmSync(dir, { recursive: true, force: true });
      });
      // A store as the previous version left it: migrated up to 004, runs written with the old
      // validation's largest values by the old insert path (rows and rollup in one transaction).
      const old = createKnex({ dbUrl: store.env.CONSOLE_MCP_DB_URL ?? null, dbPath });
      const upTo004 = MIGRATIONS.filter(([name]) => name < "005");
      await old.migrate.latest({
        migrationSource: {
          getMigrations: async () => upTo004.map(([name]) => name),
          getMigrationName: (name: string) => name,
          getMigration: async (name: string) => upTo004.find(([n]) => n === name)![1],
        },
      });
      const run = (ts: number, values: Partial<RunInput>): RunInput => ({
        provider_id: "gemini", tool: "t", route: "chat", tokens_in: 0, tokens_out: 0, duration_ms: 0, status: "success",
        cost_usd: null, metadata: {}, ts_ms: ts, experiment_cohort: null, experiment_tag: null, ...values,
      });
      // 1,000 runs at 2^53 − 1 in one rollup row: 9.007e18, just below the bigint limit PostgreSQL enforced.
      for (let k = 0; k < 1000; k++) legacy.push(D + k * 86_000);
      const rows = legacy.map((ts) =>
        rowFromRun(run(ts, { tokens_in: LEGACY, tokens_out: LEGACY, duration_ms: LEGACY, metadata: { cache: { hit: true, tokens: LEGACY } } }), D),
      );
      await old.transaction((trx) => insertTelemetryRows(trx, rows));
      // Two costs of 1e308 on two routes: their sum is past the double range (PostgreSQL raised on it).
      for (const route of ["a", "b"]) {
        await old.transaction((trx) => insertTelemetryRows(trx, [rowFromRun(run(COSTLY_TS, { route, cost_usd: 1e308 }), D)]));
      }
      await old.destroy();

      server = await startTestServer({ ...store.env, CONSOLE_MCP_DB_PATH: dbPath });
      knex = storeOf(server);
    });
    afterAll(async () => {
      await server?.stop();
      for (const c of cleanups) await c();
    });

    it("migration 005 recomputed the rollup with the capped sums (as rebuildDailyRollups computes it)", async () => {
      const read = async () =>
        ((await knex("telemetry_daily").select().orderBy(["day", "provider_id", "route_key"])) as Record<string, unknown>[]).map(
          (r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === "string" && /^\d/.test(v) && k !== "day" && !k.endsWith("_ts") ? Number(v) : v])),
        );
      const migrated = await read();
      expect(migrated.find((r) => r.route === "chat")).toMatchObject({
        run_count: 1000, tokens_in: 1e12, tokens_out: 1e12, duration_sum: 1e12, cached_tokens: 1e12,
      });
      expect(migrated.filter((r) => r.route !== "chat").map((r) => r.cost_sum)).toEqual([1e6, 1e6]);
      await rebuildDailyRollups(knex);
      expect(await read()).toEqual(migrated);
    });

    it.each(RANGES)("reads over $name answer 200, each stored value counted as its bound", async (range) => {
      const count = legacy.filter((ts) => inRange(range, ts)).length;
      const costRuns = inRange(range, COSTLY_TS) ? 2 : 0;
      expect(count).toBeGreaterThan(0);
      const metrics = await get(server, "telemetry/metrics", rangeQuery(range));
      expect(metrics).toMatchObject({
        total_runs: count + costRuns, total_tokens_in: count * 1e9, total_tokens_out: count * 1e9, total_cost_usd: costRuns * 1e6,
      });
      expect(metrics.extended.cached_tokens).toBe(count * 1e9);
      for (const endpoint of ["telemetry/heatmap", "telemetry/timeseries", "telemetry/pareto", "telemetry/runs", "telemetry/finops/sprints"]) {
        await get(server, endpoint, rangeQuery(range));
      }
      const pareto = await get(server, "telemetry/pareto", { ...rangeQuery(range), provider_id: "gemini" });
      const chat = pareto.items.find((i: { route: string }) => i.route === "chat");
      expect(chat).toMatchObject({ run_count: count, tokens_in: count * 1e9, avg_latency_ms: 1e9 });
    });

    it("the runs page and the latency percentiles still show the stored values", async () => {
      const runs = await get(server, "telemetry/runs", { provider_id: "gemini", route: "chat", limit: 1 });
      expect(runs.items[0]).toMatchObject({ tokens_in: LEGACY, tokens_out: LEGACY, duration_ms: LEGACY });
      const costly = await get(server, "telemetry/runs", { provider_id: "gemini", route: "a" });
      expect(costly.items[0].cost_usd).toBe(1e308);
      const metrics = await get(server, "telemetry/metrics", { provider_id: "gemini", route: "chat" });
      expect(metrics.extended.latency_p99_ms).toBe(LEGACY);
    });

    it("pull-request windows over them answer the capped figures", async () => {
      const merged = D + 12 * HOUR_MS;
      const res = await request(`${server.baseUrl}/telemetry/finops/pull-requests`, {
        method: "POST", json: { id: "pr-legacy", title: "t", merged_at: iso(merged), provider_id: "gemini", route: "chat" },
      });
      expect(res.status).toBe(201);
      const before = legacy.filter((ts) => ts < merged).length;
      const after = legacy.length - before;
      expect(before).toBeGreaterThan(after);
      const body = await get(server, "telemetry/finops/pull-requests", { window_days: 1, start: iso(D), end: iso(D + DAY_MS) });
      expect(body.items).toEqual([
        expect.objectContaining({ id: "pr-legacy", tokens_impact: (after - before) * 2e9, cost_impact_usd: 0 }),
      ]);
    });

    it("new runs at the maximum on the same provider, day and route are stored and counted", async () => {
      const res = await postRuns(server, {
        runs: Array.from({ length: 24 }, (_, k) => ({
          provider_id: "gemini", route: "chat", ts: iso(D + 13 * HOUR_MS + k), tokens_in: MAX_RUN_INTEGER, cost_usd: MAX_RUN_COST_USD,
        })),
      });
      expect(res.status).toBe(201);
      for (const end of [undefined, D + 20 * HOUR_MS]) {
        const count = legacy.filter((ts) => end === undefined || ts <= end).length + 24;
        const metrics = await get(server, "telemetry/metrics", { ...rangeQuery({ name: "", end }), provider_id: "gemini", route: "chat" });
        expect(metrics).toMatchObject({ total_runs: count, total_tokens_in: count * 1e9, total_cost_usd: 24 * 1e6 });
      }
    });
  });
}
