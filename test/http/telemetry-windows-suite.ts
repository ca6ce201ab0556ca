/**
 * The rollup levels (day, hour, minute) behind the dashboard reads, over random data and random
 * windows (issue 8), shared by the SQLite run (test/http/telemetry-windows.test.ts) and the
 * PostgreSQL run (test/pg/telemetry-windows.test.ts):
 * - 1,600 runs over three days at random instants, many of them within seconds of a minute, hour
 *   or day boundary, ingested in random batches (one after the other, then concurrently): after each
 *   batch every level equals a fresh GROUP BY of the raw rows (sums, latency sketches, error
 *   categories with their first run);
 * - metrics (every figure, percentiles and error breakdown included), heatmap, timeseries, pareto, a
 *   sprint and pull-request windows over random windows at millisecond precision (also open-ended),
 *   with provider, route and lane filters, equal a reference computed here from the stored runs;
 * - a store written before migration 007 gets every level, sketch and error category from the
 *   backfills of 007–009; rebuildRollups repairs damaged levels.
 */
import fs from "node:fs";
import path from "node:path";
import type { Knex } from "knex";
import { roundHalfEven } from "../../lib/lanes";
import { seededRandom } from "../../lib/prng";
import { createKnex } from "../../lib/store/knex";
import { migrateToLatest } from "../../lib/store/migrate";
import { MIGRATIONS } from "../../lib/store/migrations";
import { rebuildRollups } from "../../services/telemetry/store/rollups";
import { rowFromRun, RunInput } from "../../services/telemetry/store/run";
import { toStoredInstant } from "../../lib/time";
import { TestServer, request, startTestServer, tempDir } from "../helpers/server";
import {
  RefQuery,
  RefRun,
  expectedHeatmap,
  expectedMetrics,
  expectedPareto,
  expectedSingleSprint,
  expectedTimeseries,
  refQueryString,
  windowSums,
} from "../helpers/telemetry-reference";
import type { StoreFactory } from "./telemetry-ingest-suite";
import { storeOf } from "./telemetry-ingest-suite";
import { writeReadsManifest } from "./telemetry-reads-suite";
import { expectRollupMatchesRuns, redoMigrationsFrom } from "./telemetry-rollups-suite";

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const FIRST_MS = Date.parse("2025-06-01T00:00:00.000Z");
const SPAN_DAYS = 3;
const PROVIDERS = ["gemini", "codex", "glm46", "claude", "ghost"];
const ROUTES = ["chat", null, "default", "review"];

/** Statuses with the metadata that gives each its category (§10.2), and that category. */
const OUTCOMES: { status: string; metadata: Record<string, unknown>; category: string | null }[] = [
  { status: "success", metadata: {}, category: null },
  { status: "error", metadata: { error: { category: "rate_limit" } }, category: "Rate Limit" },
  { status: "timeout", metadata: {}, category: "Timeout" },
  { status: "failed", metadata: { error: "upstream timeout" }, category: "Upstream Timeout" },
  { status: "denied", metadata: {}, category: "Denied" },
  { status: "tool_error", metadata: { error_code: "E_TOOL" }, category: "E Tool" },
];

/** A run to ingest: its request body and what the reference needs (id once stored). */
export interface GeneratedRun {
  body: Record<string, unknown>;
  ref: Omit<RefRun, "id">;
}

/** An instant near the boundaries the levels cut at: a minute, an hour or a day, or anywhere. */
function randomInstant(rand: () => number, firstMs: number, days: number): number {
  const kind = rand();
  const near = (unit: number) => Math.floor((firstMs + rand() * days * DAY_MS) / unit) * unit + Math.floor(rand() * 6000) - 3000;
  if (kind < 0.4) return firstMs + Math.floor(rand() * days * DAY_MS);
  if (kind < 0.7) return near(MINUTE_MS);
  if (kind < 0.9) return near(HOUR_MS);
  return near(DAY_MS);
}

/** A duration: mostly 100..5,000 ms, some zeros, a heavy tail up to 10^6 ms. */
function randomDuration(rand: () => number): number {
  const kind = rand();
  if (kind < 0.1) return 0;
  if (kind < 0.8) return 100 + Math.floor(rand() * 4900);
  return Math.floor(Math.exp(rand() * Math.log(1e6)));
}

/**
 * One random run. Costs are multiples of 2^-12 USD, so every sum of them is exact in any order and
 * rounded figures can be compared exactly.
 */
export function generateRun(rand: () => number, tsMs: number): GeneratedRun {
  const provider_id = PROVIDERS[Math.floor(rand() * PROVIDERS.length)];
  const route = ROUTES[Math.floor(rand() * ROUTES.length)];
  const outcome = rand() < 0.6 ? OUTCOMES[0] : OUTCOMES[1 + Math.floor(rand() * (OUTCOMES.length - 1))];
  const c = rand();
  const cost = c < 0.1 ? null : c < 0.2 ? 0 : Math.floor(rand() * 3 * 4096) / 4096;
  const k = rand();
  const cache = k < 0.2 ? { hit: true, tokens: 1 + Math.floor(rand() * 500) } : k < 0.3 ? { hit: false } : undefined;
  const tokens_in = Math.floor(rand() * 5000);
  const tokens_out = Math.floor(rand() * 3000);
  const duration_ms = randomDuration(rand);
  const ts = toStoredInstant(tsMs);
  const metadata = { ...outcome.metadata, ...(cache === undefined ? {} : { cache }) };
  return {
    body: { provider_id, route, tool: "chat.complete", tokens_in, tokens_out, duration_ms, status: outcome.status, cost_usd: cost, metadata, ts },
    ref: {
      tsMs,
      ts,
      day: ts.slice(0, 10),
      provider_id,
      route,
      tokens_in,
      tokens_out,
      duration_ms,
      success: outcome.category === null,
      category: outcome.category,
      cost,
      cacheHit: cache === undefined ? null : cache.hit,
      cachedTokens: cache?.hit ? (cache.tokens as number) : 0,
    },
  };
}

/** The RunInput of a generated run (for writing rows without the API). */
export function runInputOf(run: GeneratedRun): RunInput {
  const b = run.body;
  return {
    provider_id: b.provider_id as string,
    tool: b.tool as string,
    route: b.route as string | null,
    tokens_in: b.tokens_in as number,
    tokens_out: b.tokens_out as number,
    duration_ms: b.duration_ms as number,
    status: b.status as string,
    cost_usd: b.cost_usd as number | null,
    metadata: b.metadata as Record<string, unknown>,
    ts_ms: run.ref.tsMs,
    experiment_cohort: null,
    experiment_tag: null,
  };
}

async function ingest(server: TestServer, runs: readonly GeneratedRun[]): Promise<RefRun[]> {
  const res = await request(`${server.baseUrl}/telemetry/runs`, { method: "POST", json: { runs: runs.map((r) => r.body) } });
  if (res.status !== 201) throw new Error(`ingestion failed: ${res.status} ${res.text}`);
  const ids = res.body.ids as number[];
  return runs.map((r, i) => ({ ...r.ref, id: ids[i] }));
}

async function ok(server: TestServer, endpoint: string, query: string): Promise<any> {
  const res = await request(`${server.baseUrl}/telemetry/${endpoint}${query === "" ? "" : `?${query}`}`);
  if (res.status !== 200) throw new Error(`GET ${endpoint}?${query} → ${res.status} ${res.text}`);
  return res.body;
}

/** Random windows: ms-precision bounds, lengths from a second to the whole data, some open-ended. */
function randomWindows(rand: () => number, count: number): RefQuery[] {
  const windows: RefQuery[] = [];
  for (let i = 0; i < count; i++) {
    const start = FIRST_MS - HOUR_MS + Math.floor(rand() * (SPAN_DAYS * DAY_MS + 2 * HOUR_MS));
    const scale = [1_000, MINUTE_MS, HOUR_MS, DAY_MS, SPAN_DAYS * DAY_MS][Math.floor(rand() * 5)];
    const end = start + Math.floor(rand() * scale);
    const open = rand();
    windows.push(open < 0.1 ? { end } : open < 0.2 ? { start } : { start, end });
  }
  return windows;
}

const ROUTE_FILTERS: RefQuery[] = [{}, { provider_id: "gemini" }, { route: "chat" }, { provider_id: "codex", route: "default" }];
const LANE_FILTERS: RefQuery[] = [{}, { provider_id: "ghost" }, { lane: "balanced" }, { provider_id: "claude", lane: "balanced" }];

export function windowsSuite(label: string, makeStore: StoreFactory): void {
  describe(`${label}: rollup levels and reads over random windows`, () => {
    let server: TestServer;
    let knex: Knex;
    let manifestDir: string;
    let dropStore: () => Promise<void>;
    const rand = seededRandom(2025);
    const generated = Array.from({ length: 1600 }, () => generateRun(rand, randomInstant(rand, FIRST_MS, SPAN_DAYS)));
    const stored: RefRun[] = [];

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

    it("every level equals a GROUP BY of the raw rows after each of random batches", async () => {
      let at = 0;
      while (at < 1000) {
        const size = 1 + Math.floor(rand() * 150);
        stored.push(...(await ingest(server, generated.slice(at, at + size))));
        at += size;
        await expectRollupMatchesRuns(knex);
      }
      expect(stored.length).toBe(at);
    }, 120_000);

    it("every level equals a GROUP BY of the raw rows after concurrent batches", async () => {
      const rest = generated.slice(stored.length);
      const batches = Array.from({ length: 8 }, (_, k) => rest.filter((_, i) => i % 8 === k));
      for (const refs of await Promise.all(batches.map((b) => ingest(server, b)))) stored.push(...refs);
      expect(stored.length).toBe(generated.length);
      const counts = await expectRollupMatchesRuns(knex);
      // Three days, and the levels are finer and finer.
      expect(counts[0]).toBeGreaterThan(0);
      expect(counts[1]).toBeGreaterThan(counts[0]);
      expect(counts[2]).toBeGreaterThan(counts[1]);
    }, 120_000);

    // Windows cut exactly at a run's instant, or one millisecond beside it, at each end: a partial
    // minute with no run outside the window is read from its minute row, with one it is read raw.
    const cuts = [0, 97, 401, 888, 1203, 1555].map((i) => generated[i].ref.tsMs);
    const edgeWindows: RefQuery[] = cuts.flatMap((ts, k) => [
      { start: ts - 20 * MINUTE_MS - 1234, end: ts - (k % 2) },
      { start: ts + (k % 2), end: ts + 3 * HOUR_MS + 4321 },
      { start: ts - 30_000, end: ts + 30_000 - 1 },
      { end: ts },
    ]);
    const windows = [...randomWindows(seededRandom(77), 36), ...edgeWindows];
    windows.forEach((window, w) => {
      it(`window ${w} ${JSON.stringify(refQueryString(window))}: metrics and heatmap with provider and route filters`, async () => {
        for (const filter of ROUTE_FILTERS) {
          const q = { ...window, ...filter };
          expect({ q, body: await ok(server, "metrics", refQueryString(q)) }).toEqual({ q, body: expectedMetrics(stored, q) });
          expect({ q, body: (await ok(server, "heatmap", refQueryString(q))).buckets }).toEqual({ q, body: expectedHeatmap(stored, q) });
        }
      });
      it(`window ${w}: timeseries, pareto and a sprint with provider and lane filters`, async () => {
        for (const filter of LANE_FILTERS) {
          const q = { ...window, ...filter };
          expect({ q, body: (await ok(server, "timeseries", refQueryString(q))).items }).toEqual({ q, body: expectedTimeseries(stored, q) });
          const pareto = (await ok(server, "pareto", refQueryString(q))).items.map(({ provider_name: _n, lane: _l, ...rest }: any) => rest);
          expect({ q, body: pareto }).toEqual({ q, body: expectedPareto(stored, q) });
          const sprint = (await ok(server, "finops/sprints", refQueryString(q, { window_days: 90, limit: 1 }))).items.map((s: any) => ({
            period_start: s.period_start,
            period_end: s.period_end,
            total_cost_usd: s.total_cost_usd,
            total_tokens_in: s.total_tokens_in,
            total_tokens_out: s.total_tokens_out,
            avg_latency_ms: s.avg_latency_ms,
            success_rate: s.success_rate,
          }));
          expect({ q, body: sprint }).toEqual({ q, body: expectedSingleSprint(stored, q) });
        }
      });
    });

    it("pull-request windows cut at random milliseconds", async () => {
      const prRand = seededRandom(99);
      const prs = Array.from({ length: 10 }, (_, i) => ({
        id: `pr-${i}`,
        provider_id: PROVIDERS[i % PROVIDERS.length],
        route: i % 3 === 0 ? null : (ROUTES[i % ROUTES.length] ?? "chat"),
        merged_at: toStoredInstant(FIRST_MS + DAY_MS / 2 + Math.floor(prRand() * 2 * DAY_MS)),
      }));
      for (const pr of prs) {
        const res = await request(`${server.baseUrl}/telemetry/finops/pull-requests`, { method: "POST", json: { ...pr, title: pr.id } });
        expect(res.status).toBe(201);
      }
      const body = await ok(
        server,
        "finops/pull-requests",
        `start=${toStoredInstant(FIRST_MS)}&end=${toStoredInstant(FIRST_MS + SPAN_DAYS * DAY_MS)}&window_days=1&limit=12`,
      );
      const expected = prs
        .map((pr) => {
          const m = Date.parse(pr.merged_at);
          const before = windowSums(stored, pr.provider_id, pr.route, m - DAY_MS, m - 1);
          const after = windowSums(stored, pr.provider_id, pr.route, m, m + DAY_MS - 1);
          return {
            id: pr.id,
            merged: m,
            cost_impact_usd: roundHalfEven(after.cost - before.cost, 6),
            cost_delta: before.cost > 0 ? (after.cost - before.cost) / before.cost : 0,
            tokens_impact: after.tokens - before.tokens,
          };
        })
        .sort((a, b) => b.merged - a.merged || (a.id < b.id ? -1 : 1))
        .map(({ merged: _m, ...rest }) => rest);
      expect(
        body.items.map((i: any) => ({ id: i.id, cost_impact_usd: i.cost_impact_usd, cost_delta: i.cost_delta, tokens_impact: i.tokens_impact })),
      ).toEqual(expected);
    });

    it("rebuildRollups repairs damaged levels", async () => {
      await knex("telemetry_minutely").where("minute", "<", "2025-06-02").delete();
      await knex("telemetry_hourly").update({ run_count: knex.raw("run_count + 1") });
      await expect(expectRollupMatchesRuns(knex)).rejects.toThrow();
      await rebuildRollups(knex);
      await expectRollupMatchesRuns(knex);
    }, 120_000);
  });

  describe(`${label}: a store written before migration 007`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterAll(async () => {
      while (cleanups.length > 0) await cleanups.pop()?.();
    });

    it("gets every level, its sketches and error categories from the backfills of 007–009, and again after down and up", async () => {
      const store = await makeStore();
      const dir = tempDir("console-mcp-levels-");
      const k = createKnex({ dbUrl: store.env.CONSOLE_MCP_DB_URL ?? null, dbPath: path.join(dir, "console.db") });
      cleanups.push(async () => {
        await k.destroy();
        await store.drop();
        fs.rmSync(dir, { recursive: true, force: true });
      });
      const migrateBefore = (next: string) => {
        const list = MIGRATIONS.filter(([name]) => name < next);
        return k.migrate.latest({
          migrationSource: {
            getMigrations: async () => list.map(([name]) => name),
            getMigrationName: (name: string) => name,
            getMigration: async (name: string) => list.find(([n]) => n === name)![1],
          },
        });
      };
      await migrateBefore("004");
      const rand = seededRandom(5);
      const rows = Array.from({ length: 400 }, () => generateRun(rand, randomInstant(rand, FIRST_MS, 2))).map((run) =>
        rowFromRun(runInputOf(run), FIRST_MS),
      );
      for (let i = 0; i < rows.length; i += 50) await k("telemetry_events").insert(rows.slice(i, i + 50));
      await migrateBefore("007");
      expect(await k.schema.hasTable("telemetry_hourly")).toBe(false);
      await migrateToLatest(k);
      const counts = await expectRollupMatchesRuns(k);
      expect(counts.every((n) => n > 0)).toBe(true);
      await redoMigrationsFrom(k, "007_telemetry_rollup_levels", async () => {
        expect(await k.schema.hasTable("telemetry_minutely")).toBe(false);
        expect(await k.schema.hasColumn("telemetry_daily", "latency_sketch")).toBe(false);
      });
      expect(await expectRollupMatchesRuns(k)).toEqual(counts);
    }, 120_000);
  });
}
