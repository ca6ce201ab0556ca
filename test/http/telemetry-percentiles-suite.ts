/**
 * Latency percentiles of GET /telemetry/metrics above and below the 10,000-run threshold of §10.2
 * (issue 8), shared by the SQLite run (test/http/telemetry-percentiles.test.ts) and the PostgreSQL
 * run (test/pg/telemetry-percentiles.test.ts). The store is filled fast — raw multi-row inserts of
 * 75,000 runs, then rebuildRollups — with one provider per distribution: uniform, bimodal, heavy
 * tail up to 2^53 − 1, all equal, mostly zeros. Over random windows at millisecond precision, p95
 * and p99 are exact when the window holds at most 10,000 runs and within 1% of exact above (the
 * sketches of the rollup buckets merged with the raw rows of the partial minutes at the edges).
 */
import fs from "node:fs";
import type { Knex } from "knex";
import { seededRandom } from "../../lib/prng";
import { encodeSketch, sketchOf, sketchPercentile } from "../../services/telemetry/store/latency-sketch";
import { LEVELS } from "../../services/telemetry/store/levels";
import { rebuildRollups } from "../../services/telemetry/store/rollups";
import { rowFromRun } from "../../services/telemetry/store/run";
import { TestServer, request, startTestServer } from "../helpers/server";
import { RefQuery, exactPercentile, refQueryString } from "../helpers/telemetry-reference";
import type { StoreFactory } from "./telemetry-ingest-suite";
import { storeOf } from "./telemetry-ingest-suite";
import { writeReadsManifest } from "./telemetry-reads-suite";
import { expectRollupMatchesRuns } from "./telemetry-rollups-suite";

const DAY_MS = 86_400_000;
const FIRST_MS = Date.parse("2025-07-01T00:00:00.000Z");
const SPAN_MS = 2 * DAY_MS;
const PER_PROVIDER = 15_000;
const M = Number.MAX_SAFE_INTEGER;

/** Distributions of duration_ms, one provider each. */
const DISTRIBUTIONS: [string, (rand: () => number) => number][] = [
  ["uniform", (rand) => Math.floor(rand() * 5001)],
  ["bimodal", (rand) => (rand() < 0.95 ? 95 + Math.floor(rand() * 11) : 9950 + Math.floor(rand() * 101))],
  ["heavy", (rand) => Math.floor(Math.exp(rand() * Math.log(M)))],
  ["equal", () => 1234],
  ["zeros", (rand) => (rand() < 0.97 ? 0 : 1 + Math.floor(rand() * 50))],
];

interface SampleRun {
  tsMs: number;
  provider_id: string;
  duration_ms: number;
}

/** 1% of the exact value, plus room for the last bits of the logarithm's rounding. */
function within1pc(estimate: number, exact: number): boolean {
  return Math.abs(estimate - exact) <= 0.01 * Math.abs(exact) * (1 + 1e-12);
}

async function metrics(server: TestServer, q: RefQuery): Promise<any> {
  const res = await request(`${server.baseUrl}/telemetry/metrics?${refQueryString(q)}`);
  if (res.status !== 200) throw new Error(`metrics → ${res.status} ${res.text}`);
  return res.body;
}

export function percentilesSuite(label: string, makeStore: StoreFactory): void {
  describe(`${label}: p95/p99 exact up to 10,000 runs, within 1% above (sketches)`, () => {
    let server: TestServer;
    let knex: Knex;
    let manifestDir: string;
    let dropStore: () => Promise<void>;
    const rand = seededRandom(404);
    const runs: SampleRun[] = [];
    for (const [provider_id, duration] of DISTRIBUTIONS) {
      for (let i = 0; i < PER_PROVIDER; i++) runs.push({ tsMs: FIRST_MS + Math.floor(rand() * SPAN_MS), provider_id, duration_ms: duration(rand) });
    }

    beforeAll(async () => {
      const manifest = writeReadsManifest();
      manifestDir = manifest.dir;
      const store = await makeStore();
      dropStore = store.drop;
      server = await startTestServer({ CONSOLE_MCP_SERVERS_PATH: manifest.file, ...store.env });
      knex = storeOf(server);
      // Raw rows without the rollups (as a bulk load writes them), then one rebuild.
      const rows = runs.map((r) =>
        rowFromRun(
          {
            provider_id: r.provider_id,
            tool: "t",
            route: r.tsMs % 3 === 0 ? null : "chat",
            tokens_in: 1,
            tokens_out: 1,
            duration_ms: r.duration_ms,
            status: r.tsMs % 7 === 0 ? "error" : "success",
            cost_usd: 0.001,
            metadata: {},
            ts_ms: r.tsMs,
            experiment_cohort: null,
            experiment_tag: null,
          },
          FIRST_MS,
        ),
      );
      for (let i = 0; i < rows.length; i += 400) await knex("telemetry_events").insert(rows.slice(i, i + 400));
      await rebuildRollups(knex);
    }, 120_000);
    afterAll(async () => {
      await server.stop();
      await dropStore();
      fs.rmSync(manifestDir, { recursive: true, force: true });
    });

    it("the rebuilt levels and sketches equal a GROUP BY of the 75,000 raw rows", async () => {
      const counts = await expectRollupMatchesRuns(knex);
      expect(counts[2]).toBeGreaterThan(counts[1]);
    }, 120_000);

    const matching = (q: RefQuery) =>
      runs.filter(
        (r) =>
          (q.start === undefined || r.tsMs >= q.start) &&
          (q.end === undefined || r.tsMs <= q.end) &&
          (q.provider_id === undefined || r.provider_id === q.provider_id),
      );

    async function check(q: RefQuery): Promise<{ n: number; problems: unknown[] }> {
      const m = matching(q);
      const body = await metrics(server, q);
      expect(body.total_runs).toBe(m.length);
      if (m.length === 0) return { n: 0, problems: [] };
      const durations = m.map((r) => r.duration_ms);
      const problems: unknown[] = [];
      for (const [field, p] of [
        ["latency_p95_ms", 0.95],
        ["latency_p99_ms", 0.99],
      ] as const) {
        const exact = exactPercentile(durations, p);
        const got = body.extended[field];
        const ok = m.length <= 10_000 ? got === exact : within1pc(got, exact);
        if (!ok) problems.push({ q: refQueryString(q), n: m.length, field, exact, got });
      }
      return { n: m.length, problems };
    }

    for (const provider of [undefined, ...DISTRIBUTIONS.map(([name]) => name)]) {
      it(`random windows over ${provider ?? "every distribution mixed"}`, async () => {
        const windowRand = seededRandom(provider === undefined ? 1 : provider.length * 31);
        const problems: unknown[] = [];
        let above = 0;
        let atOrBelow = 0;
        for (let i = 0; i < 12; i++) {
          // Every other window wide (more than 10,000 runs of one provider), the others anywhere.
          const wide = i % 2 === 0;
          const start = FIRST_MS + Math.floor(windowRand() * SPAN_MS * (wide ? 0.15 : 0.6));
          const end = wide
            ? FIRST_MS + SPAN_MS - Math.floor(windowRand() * SPAN_MS * 0.15)
            : start + Math.floor(windowRand() * (FIRST_MS + SPAN_MS - start));
          const q: RefQuery = { start, end, ...(provider === undefined ? {} : { provider_id: provider }) };
          const result = await check(q);
          problems.push(...result.problems);
          if (result.n > 10_000) above++;
          else if (result.n > 0) atOrBelow++;
        }
        // Open-ended windows too.
        for (const q of [{}, { start: FIRST_MS + SPAN_MS / 3 + 123 }, { end: FIRST_MS + SPAN_MS / 2 + 456 }] as RefQuery[]) {
          const result = await check({ ...q, ...(provider === undefined ? {} : { provider_id: provider }) });
          problems.push(...result.problems);
          if (result.n > 10_000) above++;
        }
        expect(problems).toEqual([]);
        // Both paths were exercised.
        expect(above).toBeGreaterThan(2);
        expect(atOrBelow).toBeGreaterThan(0);
      }, 60_000);
    }

    it("above 10,000 runs the percentiles come from the stored sketches, at or below from the raw rows", async () => {
      // Every sketch of the "equal" provider (all 1234 ms) replaced by one of as many runs at 2000 ms.
      for (const level of LEVELS) {
        const rows = (await knex(level.table)
          .where({ provider_id: "equal" })
          .select(level.bucketColumn, "route_key", "stripe", "run_count")) as Record<string, unknown>[];
        for (const r of rows) {
          await knex(level.table)
            .where({ [level.bucketColumn]: r[level.bucketColumn], provider_id: "equal", route_key: r.route_key, stripe: r.stripe })
            .update({ latency_sketch: encodeSketch(sketchOf(Array.from({ length: Number(r.run_count) }, () => 2000))) });
        }
      }
      try {
        const wide = await metrics(server, { provider_id: "equal" });
        expect(wide.total_runs).toBe(PER_PROVIDER);
        expect(within1pc(wide.extended.latency_p95_ms, 2000)).toBe(true);
        const narrow = await metrics(server, { provider_id: "equal", start: FIRST_MS, end: FIRST_MS + DAY_MS / 2 });
        expect(narrow.total_runs).toBeLessThanOrEqual(10_000);
        expect(narrow.extended.latency_p95_ms).toBe(1234);
      } finally {
        await rebuildRollups(knex);
      }
      expect(within1pc((await metrics(server, { provider_id: "equal" })).extended.latency_p95_ms, 1234)).toBe(true);
    }, 120_000);

    it("exactly 10,000 runs: exact; 10,001 runs: within 1%", async () => {
      // The uniform provider's runs from the 10,000th newest (and 10,001st) on, to the end.
      const uniform = runs.filter((r) => r.provider_id === "uniform").sort((a, b) => b.tsMs - a.tsMs);
      for (const n of [10_000, 10_001]) {
        const start = uniform[n - 1].tsMs;
        // Unique instants around the cut, so the window holds exactly n runs.
        expect(uniform[n].tsMs).toBeLessThan(start);
        const q: RefQuery = { start, provider_id: "uniform" };
        expect(matching(q).length).toBe(n);
        const result = await check(q);
        expect(result).toEqual({ n, problems: [] });
      }
      // At 10,000 the exact value, which a sketch of the same runs would not give.
      const q: RefQuery = { start: uniform[9_999].tsMs, provider_id: "uniform" };
      const durations = matching(q).map((r) => r.duration_ms);
      const exact = exactPercentile(durations, 0.95);
      expect(sketchPercentile(sketchOf(durations), 0.95)).not.toBe(exact);
      expect((await metrics(server, q)).extended.latency_p95_ms).toBe(exact);
    });
  });
}
