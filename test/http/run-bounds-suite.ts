/**
 * Sums the store can always hold (issue 7, item 3), shared by test/http/run-bounds.test.ts (SQLite)
 * and test/pg/run-bounds.test.ts (PostgreSQL):
 * - the issue's example: 1,100 runs with tokens_in 2^53 − 1 on one day. PostgreSQL answered 500 (the
 *   rollup's bigint overflowed) and SQLite accepted them, then failed every read with an `end` over
 *   them. Now they are stored, every read over them answers 200 with the sums (the nearest double of
 *   the exact sum), and later runs of that provider, day and route are stored and counted;
 * - the class: every summed value at its contract maximum (tokens_in, tokens_out, duration_ms and the
 *   cached-token count 2^53 − 1, the cached-token count also at −(2^53 − 1), cost_usd 10^6), in
 *   batches over two days, read through every endpoint with and without `end` — whole days from the
 *   rollup, partial days from the raw rows, and both mixed; the input edges (2^53 − 1 accepted,
 *   2^53 and a cost above 10^6 refused, any number inside metadata accepted);
 * - stores written before: migration 005 makes them hold every sum (a rollup at the old bigint limit
 *   takes more runs; rounded rollup sums and costs beyond the bound are repaired).
 *
 * Figures below 2^53 are compared exactly. Beyond, a JSON number cannot carry the exact sum: a figure
 * the store sums in one step is the nearest double of the exact sum; a figure the service adds up
 * from sums read separately (rollup days and edge rows, several groups) may be a few units in the
 * last place away from it (PARTS_TOLERANCE).
 */
import fs from "node:fs";
import path from "node:path";
import type { Knex } from "knex";
import { createKnex } from "../../lib/store/knex";
import { MIGRATIONS } from "../../lib/store/migrations";
import { rebuildRollups } from "../../services/telemetry/store/rollups";
import { rowFromRun, RunInput } from "../../services/telemetry/store/run";
import { request, startTestServer, tempDir, TestServer } from "../helpers/server";
import { countRuns, StoreFactory, storeOf } from "./telemetry-ingest-suite";

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
/** The first of the two days the runs fall on (in the past, so PR windows are not clipped by now). */
const D = Date.parse("2025-05-10T00:00:00.000Z");
const DAY_D = "2025-05-10";
/** The contract's largest token count and duration (§11.2): 2^53 − 1. */
const M = Number.MAX_SAFE_INTEGER;
const MB = BigInt(M);
/** The largest cost_usd of one run. */
const COST_MAX = 1_000_000;
const TWO_53 = 2n ** 53n;
/** Four roundings of a double, relative (see the module comment). */
const PARTS_TOLERANCE = 2 ** -50;
/** When the two legacy runs costing 1e308 each happened. */
const COSTLY_TS = D + 18 * HOUR_MS;

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Checks a figure of an answer against the exact sum `exact`: a JSON number equal to it below 2^53
 * in magnitude; beyond, the nearest double of it, or (fromParts) within PARTS_TOLERANCE of it.
 */
function expectFigure(what: string, actual: unknown, exact: bigint, fromParts: boolean): void {
  const nearest = Number(exact);
  const beyond = exact > TWO_53 || exact < -TWO_53;
  const allowed = beyond && fromParts ? PARTS_TOLERANCE * Math.abs(nearest) : 0;
  if (typeof actual !== "number" || !(Math.abs(actual - nearest) <= allowed)) {
    throw new Error(`${what}: ${JSON.stringify(actual)} is not ${nearest} (exact sum ${exact}${allowed > 0 ? `, ± ${allowed}` : ""})`);
  }
}

/** Checks a figure derived from sums (an average) against its exact value, within PARTS_TOLERANCE. */
function expectNear(what: string, actual: unknown, expected: number): void {
  if (typeof actual !== "number" || !(Math.abs(actual - expected) <= PARTS_TOLERANCE * Math.abs(expected))) {
    throw new Error(`${what}: ${JSON.stringify(actual)} is not ${expected} ± ${PARTS_TOLERANCE * Math.abs(expected)}`);
  }
}

async function postRuns(server: TestServer, body: unknown) {
  return request(`${server.baseUrl}/telemetry/runs`, { method: "POST", json: body });
}

async function postPullRequest(server: TestServer, id: string, mergedMs: number, route = "chat") {
  const res = await request(`${server.baseUrl}/telemetry/finops/pull-requests`, {
    method: "POST",
    json: { id, title: id, merged_at: iso(mergedMs), provider_id: "gemini", route },
  });
  expect(res.status).toBe(201);
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
  describe(`${label}: the issue's example (1,100 runs with tokens_in 2^53 − 1 on one day)`, () => {
    let server: TestServer;
    let drop: () => Promise<void>;
    /** One run a minute from 00:00 of D: the last at 18:19. */
    const issueTs = Array.from({ length: 1100 }, (_, i) => D + i * MINUTE_MS);
    /** Every read path over day D, each giving one group summed by the store in one step. */
    const issueRanges: Range[] = [
      { name: "no start, no end (rollup)" },
      { name: "day D as a whole day (rollup)", start: D, end: D + DAY_MS - 1 },
      { name: "the day before and D, whole days (rollup)", start: D - DAY_MS, end: D + DAY_MS - 1 },
      { name: "an end after the runs, inside D (raw rows)", end: D + 20 * HOUR_MS },
      { name: "an end inside the runs (raw rows)", end: D + 9 * HOUR_MS + 30 * MINUTE_MS },
      { name: "start and end inside D (raw rows)", start: D + HOUR_MS + 1, end: D + 17 * HOUR_MS },
      { name: "a partial D and the whole day after (raw rows + rollup)", start: D + 6 * HOUR_MS, end: D + 2 * DAY_MS - 1 },
    ];

    beforeAll(async () => {
      const store = await makeStore();
      drop = store.drop;
      server = await startTestServer(store.env);
    });
    afterAll(async () => {
      await server?.stop();
      await drop?.();
    });

    it("the batch is accepted (201) and every run is stored", async () => {
      const runs = issueTs.map((ts) => ({ provider_id: "gemini", route: "chat", ts: iso(ts), tokens_in: M }));
      const res = await postRuns(server, { runs });
      expect(res.status).toBe(201);
      expect(res.body.inserted).toBe(1100);
      expect(await countRuns(storeOf(server))).toBe(1100);
    });

    describe.each(issueRanges)("reads over $name", (range) => {
      const n = () => issueTs.filter((ts) => inRange(range, ts)).length;
      const tokens = () => BigInt(n()) * MB;

      it("metrics: 200 with the sum of tokens_in", async () => {
        expect(n()).toBeGreaterThan(400);
        const body = await get(server, "telemetry/metrics", rangeQuery(range));
        expect(body).toMatchObject({ total_runs: n(), total_tokens_out: 0, total_cost_usd: 0, avg_latency_ms: 0, success_rate: 0 });
        expectFigure("total_tokens_in", body.total_tokens_in, tokens(), false);
        expect(body.providers).toHaveLength(1);
        expect(body.providers[0]).toMatchObject({ provider_id: "gemini", run_count: n(), tokens_out: 0 });
        expectFigure("providers[0].tokens_in", body.providers[0].tokens_in, tokens(), false);
      });

      it("heatmap and timeseries: 200 with the day's figures", async () => {
        const heatmap = await get(server, "telemetry/heatmap", rangeQuery(range));
        expect(heatmap.buckets).toEqual([{ day: DAY_D, provider_id: "gemini", run_count: n() }]);
        const timeseries = await get(server, "telemetry/timeseries", rangeQuery(range));
        expect(timeseries.items).toHaveLength(1);
        expect(timeseries.items[0]).toMatchObject({ day: DAY_D, provider_id: "gemini", run_count: n(), tokens_out: 0, cost_usd: 0 });
        expectFigure("timeseries tokens_in", timeseries.items[0].tokens_in, tokens(), false);
      });

      it("pareto and sprints: 200 with the route's and the day's totals", async () => {
        const pareto = await get(server, "telemetry/pareto", rangeQuery(range));
        expect(pareto.items).toHaveLength(1);
        expect(pareto.items[0]).toMatchObject({ id: "gemini:chat", run_count: n(), tokens_out: 0, cost_usd: 0 });
        expectFigure("pareto tokens_in", pareto.items[0].tokens_in, tokens(), false);
        const sprints = await get(server, "telemetry/finops/sprints", { ...rangeQuery(range), window_days: 1 });
        expect(sprints.items).toHaveLength(1);
        expect(sprints.items[0]).toMatchObject({ period_start: DAY_D, total_tokens_out: 0, total_cost_usd: 0 });
        expectFigure("sprint total_tokens_in", sprints.items[0].total_tokens_in, tokens(), false);
      });

      it("runs: 200, each run as sent", async () => {
        const body = await get(server, "telemetry/runs", { ...rangeQuery(range), limit: 100 });
        expect(body.items).toHaveLength(100);
        for (const item of body.items) expect(item).toMatchObject({ provider_id: "gemini", tokens_in: M, tokens_out: 0 });
        expect(Date.parse(body.items[0].ts)).toBe(Math.max(...issueTs.filter((ts) => inRange(range, ts))));
      });
    });

    it("pull requests: 200 with the token impact of windows over the runs", async () => {
      // Merged after every run: its window before holds them all, the window after none.
      await postPullRequest(server, "pr-after-all", D + 19 * HOUR_MS);
      // Merged at 09:00: 540 runs in the window before, 560 in the window after.
      await postPullRequest(server, "pr-at-nine", D + 9 * HOUR_MS);
      const queries: Record<string, string | number>[] = [
        { window_days: 1, start: iso(D) },
        { window_days: 1, start: iso(D), end: iso(D + 20 * HOUR_MS) },
      ];
      for (const query of queries) {
        const body = await get(server, "telemetry/finops/pull-requests", query);
        const byId = new Map(body.items.map((i: { id: string }) => [i.id, i]));
        const all = byId.get("pr-after-all") as Record<string, unknown>;
        expect(all).toMatchObject({ cost_impact_usd: 0 });
        expectFigure("pr-after-all tokens_impact", all.tokens_impact, -1100n * MB, false);
        const nine = byId.get("pr-at-nine") as Record<string, unknown>;
        // The difference of two sums of its windows.
        expectFigure("pr-at-nine tokens_impact", nine.tokens_impact, (560n - 540n) * MB, true);
      }
    });

    it("later runs of the same provider, day and route are stored and counted", async () => {
      for (let batch = 0; batch < 3; batch++) {
        const runs = Array.from({ length: 10 }, (_, k) => ({
          provider_id: "gemini",
          route: "chat",
          ts: iso(D + 21 * HOUR_MS + batch * 100 + k),
          tokens_in: M,
          tokens_out: 1,
        }));
        const res = await postRuns(server, { runs });
        expect(res.status).toBe(201);
      }
      expect(await countRuns(storeOf(server))).toBe(1130);
      // The rollup, added to by four batches, and the raw rows summed at once.
      const open = await get(server, "telemetry/metrics", {});
      expect(open).toMatchObject({ total_runs: 1130, total_tokens_out: 30 });
      expectFigure("total_tokens_in (rollup)", open.total_tokens_in, 1130n * MB, true);
      const raw = await get(server, "telemetry/metrics", { end: iso(D + 23 * HOUR_MS) });
      expect(raw).toMatchObject({ total_runs: 1130, total_tokens_out: 30 });
      expectFigure("total_tokens_in (raw rows)", raw.total_tokens_in, 1130n * MB, false);
      const timeseries = await get(server, "telemetry/timeseries", { end: iso(D + 22 * HOUR_MS) });
      expect(timeseries.items).toEqual([expect.objectContaining({ day: DAY_D, run_count: 1130, tokens_out: 30 })]);
    });
  });

  describe(`${label}: the input edges of §11.2`, () => {
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

    it("one run with every summed value at its maximum is accepted and read back as sent", async () => {
      const res = await postRuns(server, {
        provider_id: "gemini",
        route: "edge",
        ts: iso(D + HOUR_MS),
        status: "success",
        tokens_in: M,
        tokens_out: M,
        duration_ms: M,
        cost_usd: COST_MAX,
        metadata: { cache: { hit: true, tokens: M } },
      });
      expect(res.status).toBe(201);
      const runs = await get(server, "telemetry/runs", { route: "edge" });
      expect(runs.items).toEqual([expect.objectContaining({ tokens_in: M, tokens_out: M, duration_ms: M, cost_usd: COST_MAX })]);
      const metrics = await get(server, "telemetry/metrics", { route: "edge", end: iso(D + DAY_MS) });
      expect(metrics).toMatchObject({ total_runs: 1, total_tokens_in: M, total_tokens_out: M, avg_latency_ms: M, total_cost_usd: COST_MAX });
      expect(metrics.extended).toMatchObject({ cached_tokens: M, latency_p99_ms: M });
    });

    it("beyond the maxima → 422 naming the field, nothing stored", async () => {
      const before = await countRuns(storeOf(server));
      const cases: [Record<string, unknown>, string, number][] = [
        [{ tokens_in: 2 ** 53 }, "tokens_in", M],
        [{ tokens_out: 2 ** 53 }, "tokens_out", M],
        [{ duration_ms: 1e300 }, "duration_ms", M],
        [{ cost_usd: 1_000_000.000001 }, "cost_usd", COST_MAX],
        [{ cost_usd: "1000001" }, "cost_usd", COST_MAX],
        [{ cost_usd: 1e308 }, "cost_usd", COST_MAX],
      ];
      for (const [values, field, le] of cases) {
        const res = await postRuns(server, { runs: [{ provider_id: "gemini" }, { provider_id: "gemini", ...values }] });
        expect(res.status).toBe(422);
        expect(res.body.detail).toEqual([
          expect.objectContaining({ type: "less_than_equal", loc: ["body", "runs", 1, field], input: values[field], ctx: { le } }),
        ]);
      }
      expect(await countRuns(storeOf(server))).toBe(before);
    });

    it("numbers of any size inside metadata never refuse a run; a cached-token count beyond 2^53 − 1 is no count", async () => {
      const res = await postRuns(server, {
        runs: [
          // A hit whose count is no count: the run's tokens_out count as cached (§10.2).
          { provider_id: "codex", route: "meta", ts: iso(D + HOUR_MS), tokens_out: 40, metadata: { cache: { hit: true, tokens: 2 ** 53 } } },
          { provider_id: "codex", route: "meta", ts: iso(D + HOUR_MS + 1), tokens_out: 2, metadata: { cache: { hit: true, tokens: -1e300 } } },
          // No flag and no count: nothing cached.
          { provider_id: "codex", route: "meta", ts: iso(D + HOUR_MS + 2), metadata: { cacheHitTokens: 1e308, other: { n: 2 ** 80 } } },
        ],
      });
      expect(res.status).toBe(201);
      const queries: Record<string, string>[] = [{}, { end: iso(D + 2 * HOUR_MS) }];
      for (const query of queries) {
        const metrics = await get(server, "telemetry/metrics", { ...query, route: "meta" });
        expect(metrics).toMatchObject({ total_runs: 3, extended: expect.objectContaining({ cached_tokens: 42, cache_hit_rate: 1 }) });
      }
    });
  });

  describe(`${label}: every summed value at its maximum, through every read path`, () => {
    let server: TestServer;
    let drop: () => Promise<void>;
    /** ts of the gemini/chat runs at the maximum. */
    const maxed: number[] = [];
    /** ts of the codex runs whose cached-token count is −(2^53 − 1) and every other value 0. */
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
          provider_id: "gemini",
          route: "chat",
          ts: iso(ts),
          status: "success",
          tokens_in: M,
          tokens_out: M,
          duration_ms: M,
          cost_usd: COST_MAX,
          metadata: { cache: { hit: true, tokens: M } },
        })),
        ...minCached.map((ts) => ({
          provider_id: "codex",
          route: "chat",
          ts: iso(ts),
          status: "success",
          cost_usd: 0,
          metadata: { cache: { hit: true, tokens: -M } },
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
          .map((d) => ({
            day: iso(D + d * DAY_MS).slice(0, 10),
            n: maxed.filter((ts) => inRange(range, ts) && Math.floor((ts - D) / DAY_MS) === d).length,
          }))
          .filter((x) => x.n > 0);

      it("metrics: the totals, per provider too", async () => {
        const count = n();
        expect(count).toBeGreaterThan(80);
        const body = await get(server, "telemetry/metrics", { ...rangeQuery(range), provider_id: "gemini" });
        const sum = BigInt(count) * MB;
        expect(body).toMatchObject({ total_runs: count, total_cost_usd: count * COST_MAX, success_rate: 1 });
        expectFigure("total_tokens_in", body.total_tokens_in, sum, true);
        expectFigure("total_tokens_out", body.total_tokens_out, sum, true);
        expectNear("avg_latency_ms", body.avg_latency_ms, M);
        expect(body.providers).toHaveLength(1);
        const [p] = body.providers;
        expect(p).toMatchObject({ provider_id: "gemini", run_count: count, cost_usd: count * COST_MAX, success_rate: 1 });
        expectFigure("provider tokens_in", p.tokens_in, sum, true);
        expectFigure("provider tokens_out", p.tokens_out, sum, true);
        expectNear("provider avg_latency_ms", p.avg_latency_ms, M);
        expect(body.extended).toMatchObject({
          cache_hit_rate: 1,
          latency_p95_ms: M,
          latency_p99_ms: M,
          error_rate: 0,
          cost_breakdown: [{ label: "Chat", provider_id: "gemini", cost_usd: count * COST_MAX, run_count: count }],
        });
        expectFigure("cached_tokens", body.extended.cached_tokens, sum, true);
      });

      it("metrics over both providers: the negative cached-token counts count too", async () => {
        const count = n();
        const codex = minCached.filter((ts) => inRange(range, ts)).length;
        const body = await get(server, "telemetry/metrics", rangeQuery(range));
        expect(body.total_runs).toBe(count + codex);
        expectFigure("total_tokens_in", body.total_tokens_in, BigInt(count) * MB, true);
        expectFigure("cached_tokens", body.extended.cached_tokens, BigInt(count - codex) * MB, true);
        expectNear("avg_latency_ms", body.avg_latency_ms, (count * M) / (count + codex));
      });

      it("heatmap and timeseries: the per-day figures", async () => {
        const heatmap = await get(server, "telemetry/heatmap", { ...rangeQuery(range), provider_id: "gemini" });
        expect(heatmap.buckets).toEqual(perDay().map((d) => ({ day: d.day, provider_id: "gemini", run_count: d.n })));
        const timeseries = await get(server, "telemetry/timeseries", { ...rangeQuery(range), provider_id: "gemini" });
        const days = perDay();
        expect(timeseries.items).toHaveLength(days.length);
        days.forEach((d, i) => {
          const item = timeseries.items[i];
          expect(item).toMatchObject({ day: d.day, provider_id: "gemini", run_count: d.n, cost_usd: d.n * COST_MAX, success_count: d.n });
          expectFigure(`${d.day} tokens_in`, item.tokens_in, BigInt(d.n) * MB, true);
          expectFigure(`${d.day} tokens_out`, item.tokens_out, BigInt(d.n) * MB, true);
          expectNear(`${d.day} avg_latency_ms`, item.avg_latency_ms, M);
        });
      });

      it("pareto: the route totals", async () => {
        const count = n();
        const body = await get(server, "telemetry/pareto", { ...rangeQuery(range), provider_id: "gemini" });
        expect(body.items).toHaveLength(1);
        expect(body.items[0]).toMatchObject({
          id: "gemini:chat",
          provider_id: "gemini",
          route: "chat",
          run_count: count,
          cost_usd: count * COST_MAX,
          success_rate: 1,
        });
        expectFigure("pareto tokens_in", body.items[0].tokens_in, BigInt(count) * MB, true);
        expectFigure("pareto tokens_out", body.items[0].tokens_out, BigInt(count) * MB, true);
        expectNear("pareto avg_latency_ms", body.items[0].avg_latency_ms, M);
      });

      it("sprints (one-day windows): the per-day totals", async () => {
        const body = await get(server, "telemetry/finops/sprints", { ...rangeQuery(range), provider_id: "gemini", window_days: 1, limit: 12 });
        const days = perDay().reverse();
        expect(body.items.map((i: Record<string, unknown>) => [i.period_start, i.total_cost_usd])).toEqual(days.map((d) => [d.day, d.n * COST_MAX]));
        days.forEach((d, i) => {
          expectFigure(`${d.day} total_tokens_in`, body.items[i].total_tokens_in, BigInt(d.n) * MB, true);
          expectFigure(`${d.day} total_tokens_out`, body.items[i].total_tokens_out, BigInt(d.n) * MB, true);
          expectNear(`${d.day} avg_latency_ms`, body.items[i].avg_latency_ms, M);
        });
      });

      it("the runs page shows the maxima as sent", async () => {
        const body = await get(server, "telemetry/runs", { ...rangeQuery(range), provider_id: "gemini", limit: 1 });
        expect(body.items[0]).toMatchObject({ tokens_in: M, tokens_out: M, duration_ms: M, cost_usd: COST_MAX });
      });
    });

    it("pull-request windows (whole days and edges): the cost and token impacts", async () => {
      // Merged at noon of D+1: before = noon D … noon D+1 (edges of both days), after = noon D+1 … noon D+2.
      const merged = D + DAY_MS + 12 * HOUR_MS;
      await postPullRequest(server, "pr-max", merged);
      const before = maxed.filter((ts) => ts >= merged - DAY_MS && ts < merged).length;
      const after = maxed.filter((ts) => ts >= merged && ts < merged + DAY_MS).length;
      expect(before).toBeGreaterThan(after);
      const body = await get(server, "telemetry/finops/pull-requests", { window_days: 1, start: iso(D), end: iso(D + 3 * DAY_MS) });
      expect(body.items).toEqual([
        expect.objectContaining({ id: "pr-max", cost_impact_usd: (after - before) * COST_MAX, cost_delta: (after - before) / before }),
      ]);
      expectFigure("tokens_impact", body.items[0].tokens_impact, BigInt(after - before) * 2n * MB, true);
    });

    it("the rollup holds the exact sums, and a rebuild from the runs gives the same rollup", async () => {
      const knex = storeOf(server);
      const columns = ["tokens_in", "tokens_out", "duration_sum", "cached_tokens"];
      const read = async () =>
        (await knex("telemetry_daily")
          .select("day", "provider_id", "run_count", ...columns.map((c) => knex.raw("CAST(?? AS TEXT) AS ??", [c, c])))
          .orderBy(["day", "provider_id"])) as Record<string, unknown>[];
      const exact = (n: number, v: bigint) => (BigInt(n) * v).toString();
      const kept = await read();
      expect(kept).toEqual([
        { day: DAY_D, provider_id: "codex", run_count: 10, tokens_in: "0", tokens_out: "0", duration_sum: "0", cached_tokens: exact(10, -MB) },
        { day: DAY_D, provider_id: "gemini", run_count: 800, ...Object.fromEntries(columns.map((c) => [c, exact(800, MB)])) },
        { day: "2025-05-11", provider_id: "gemini", run_count: 300, ...Object.fromEntries(columns.map((c) => [c, exact(300, MB)])) },
      ]);
      await rebuildRollups(knex);
      expect(await read()).toEqual(kept);
    });
  });

  describe(`${label}: a store written before migration 005`, () => {
    let server: TestServer;
    let knex: Knex;
    const cleanups: (() => Promise<void>)[] = [];
    /** gemini/chat runs at the maximum, one batch: ts of each, spread over day D. */
    const legacy: number[] = [];
    /** What the old batch sum held: 1,000 × (2^53 − 1) added up in doubles. */
    let roundedSum = 0;

    const readRollup = async () =>
      ((await knex("telemetry_daily").select().orderBy(["day", "provider_id", "route_key"])) as Record<string, unknown>[]).map((r) => ({ ...r }));

    beforeAll(async () => {
      const store = await makeStore();
      const dir = tempDir("console-mcp-bounds-");
      const dbPath = path.join(dir, "console.db");
      cleanups.push(async () => {
        await store.drop();
        fs.rmSync(dir, { recursive: true, force: true });
      });
      // A store as the previous version left it: migrated up to 004 (bigint rollup columns), its
      // runs summed into the daily rollup (here by 004's backfill, as that version's inserts did).
      const old = createKnex({ dbUrl: store.env.CONSOLE_MCP_DB_URL ?? null, dbPath });
      const migrateBefore = (next: string) => {
        const list = MIGRATIONS.filter(([name]) => name < next);
        return old.migrate.latest({
          migrationSource: {
            getMigrations: async () => list.map(([name]) => name),
            getMigrationName: (name: string) => name,
            getMigration: async (name: string) => list.find(([n]) => n === name)![1],
          },
        });
      };
      await migrateBefore("004");
      const run = (ts: number, values: Partial<RunInput>): RunInput => ({
        provider_id: "gemini",
        tool: "t",
        route: "chat",
        tokens_in: 0,
        tokens_out: 0,
        duration_ms: 0,
        status: "success",
        cost_usd: null,
        metadata: {},
        ts_ms: ts,
        experiment_cohort: null,
        experiment_tag: null,
        ...values,
      });
      // 1,000 runs at 2^53 − 1 in one rollup row: 9.007e18, just below the bigint limit (9.223e18).
      for (let k = 0; k < 1000; k++) legacy.push(D + k * 86_000);
      const rows = legacy.map((ts) =>
        rowFromRun(run(ts, { tokens_in: M, tokens_out: M, duration_ms: M, metadata: { cache: { hit: true, tokens: M } } }), D),
      );
      // Two costs of 1e308 on two routes (the previous validation allowed any finite cost): their
      // sum is past the double range (PostgreSQL raised on it, SQLite reached Infinity).
      for (const route of ["a", "b"]) rows.push(rowFromRun(run(COSTLY_TS, { route, cost_usd: 1e308 }), D));
      for (let i = 0; i < rows.length; i += 50) await old("telemetry_events").insert(rows.slice(i, i + 50));
      await migrateBefore("005");
      // The previous version added a batch up in doubles, which rounds beyond 2^53: its rollup row.
      for (let k = 0; k < 1000; k++) roundedSum += M;
      expect(BigInt(roundedSum)).not.toBe(1000n * MB);
      const rounded = BigInt(roundedSum).toString();
      await old("telemetry_daily")
        .where({ route: "chat" })
        .update({ tokens_in: rounded, tokens_out: rounded, duration_sum: rounded, cached_tokens: rounded });
      await old.destroy();

      server = await startTestServer({ ...store.env, CONSOLE_MCP_DB_PATH: dbPath });
      knex = storeOf(server);
    });
    afterAll(async () => {
      await server?.stop();
      for (const c of cleanups) await c();
    });

    it("migration 005 recomputed the rollup: exact sums, costs at the bound (as rebuildRollups computes it)", async () => {
      const migrated = await readRollup();
      const chat = migrated.find((r) => r.route === "chat")!;
      const columns = ["tokens_in", "tokens_out", "duration_sum", "cached_tokens"];
      for (const column of columns) expectFigure(`rollup ${column}`, chat[column], 1000n * MB, false);
      // Exactly, as the store holds them (the rounded sums were 24 short).
      const asText = await knex("telemetry_daily")
        .where({ route: "chat" })
        .first(columns.map((c) => knex.raw("CAST(?? AS TEXT) AS ??", [c, c])));
      expect(asText).toEqual(Object.fromEntries(columns.map((c) => [c, (1000n * MB).toString()])));
      expect(migrated.filter((r) => r.route !== "chat").map((r) => r.cost_sum)).toEqual([COST_MAX, COST_MAX]);
      await rebuildRollups(knex);
      expect(await readRollup()).toEqual(migrated);
    });

    it("a cost beyond the bound is stored as the bound; every other value as it was", async () => {
      const runs = await get(server, "telemetry/runs", { provider_id: "gemini", route: "chat", limit: 1 });
      expect(runs.items[0]).toMatchObject({ tokens_in: M, tokens_out: M, duration_ms: M });
      for (const route of ["a", "b"]) {
        const costly = await get(server, "telemetry/runs", { provider_id: "gemini", route });
        expect(costly.items.map((i: { cost_usd: number }) => i.cost_usd)).toEqual([COST_MAX]);
      }
    });

    it.each(RANGES)("reads over $name answer 200 with the sums", async (range) => {
      const count = legacy.filter((ts) => inRange(range, ts)).length;
      const costRuns = inRange(range, COSTLY_TS) ? 2 : 0;
      expect(count).toBeGreaterThan(0);
      const metrics = await get(server, "telemetry/metrics", rangeQuery(range));
      expect(metrics).toMatchObject({ total_runs: count + costRuns, total_cost_usd: costRuns * COST_MAX });
      expectFigure("total_tokens_in", metrics.total_tokens_in, BigInt(count) * MB, true);
      expectFigure("cached_tokens", metrics.extended.cached_tokens, BigInt(count) * MB, true);
      for (const endpoint of ["telemetry/heatmap", "telemetry/timeseries", "telemetry/runs", "telemetry/finops/sprints"]) {
        await get(server, endpoint, rangeQuery(range));
      }
      const pareto = await get(server, "telemetry/pareto", { ...rangeQuery(range), provider_id: "gemini" });
      const chat = pareto.items.find((i: { route: string }) => i.route === "chat");
      expect(chat).toMatchObject({ run_count: count });
      expectFigure("pareto tokens_in", chat.tokens_in, BigInt(count) * MB, true);
      expectNear("pareto avg_latency_ms", chat.avg_latency_ms, M);
    });

    it("pull-request windows over them answer the sums", async () => {
      const merged = D + 12 * HOUR_MS;
      await postPullRequest(server, "pr-legacy", merged);
      const before = legacy.filter((ts) => ts < merged).length;
      const after = legacy.length - before;
      expect(before).toBeGreaterThan(after);
      const body = await get(server, "telemetry/finops/pull-requests", { window_days: 1, start: iso(D), end: iso(D + DAY_MS) });
      expect(body.items).toEqual([expect.objectContaining({ id: "pr-legacy", cost_impact_usd: 0 })]);
      expectFigure("tokens_impact", body.items[0].tokens_impact, BigInt(after - before) * 2n * MB, true);
    });

    it("new runs at the maximum on the same provider, day and route are stored (past the old bigint limit) and counted", async () => {
      const res = await postRuns(server, {
        runs: Array.from({ length: 100 }, (_, k) => ({
          provider_id: "gemini",
          route: "chat",
          ts: iso(D + 13 * HOUR_MS + k),
          tokens_in: M,
          tokens_out: M,
          cost_usd: COST_MAX,
        })),
      });
      expect(res.status).toBe(201);
      for (const end of [undefined, D + 20 * HOUR_MS]) {
        const count = legacy.filter((ts) => end === undefined || ts <= end).length + 100;
        const metrics = await get(server, "telemetry/metrics", { ...rangeQuery({ name: "", end }), provider_id: "gemini", route: "chat" });
        expect(metrics).toMatchObject({ total_runs: count, total_cost_usd: 100 * COST_MAX });
        expectFigure("total_tokens_in", metrics.total_tokens_in, BigInt(count) * MB, true);
        expectFigure("total_tokens_out", metrics.total_tokens_out, BigInt(count) * MB, true);
      }
    });
  });
}
