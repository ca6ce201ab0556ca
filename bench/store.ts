/**
 * The store at scale (issue 8): builds a store of BENCH_RUNS runs (default 1,000,000) spread over the
 * last BENCH_DAYS days (default 1: the last 24 hours; BENCH_DAYS=30 BENCH_RUNS=10000000 is the
 * 10M-over-30-days case) — generated here, written by raw multi-row inserts, then rebuildRollups —
 * on SQLite and, when a server is given (CONSOLE_MCP_BENCH_PG_URL or BENCH_PG_URL, else
 * CONSOLE_MCP_TEST_PG_URL), on PostgreSQL in a database of its own (bench/fill.ts builds both).
 * BENCH_BACKENDS=sqlite or =pg runs one of them. Then, in the
 * same run for each backend:
 * - every call the console makes, through the real HTTP API, against the same figures computed by
 *   plain SQL over the raw rows through the bare driver (sqlite3, pg): its baseline;
 * - call time against the rows in the window (10k, 100k, 1M runs; each next to its baseline): the
 *   cost of a call must follow the number of rollup buckets, not of runs;
 * - a runs page 500,000 rows deep against page 1, batch ingestion through the API against a raw
 *   multi-row insert of the same rows, and the event-loop stall during the heaviest call.
 * BENCH_REPEAT runs per figure (default 5), median reported after a warm-up.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { loadConfig } from "../lib/config";
import { seededRandom } from "../lib/prng";
import { createBroker } from "../lib/server";
import { toStoredInstant } from "../lib/time";
import { rowFromRun, RunInput } from "../services/telemetry/store/run";
import { Backend, DAY_MS, PROVIDERS, RawConnection, benchBackends, fillStore, makeRun, openBenchStore, openRaw } from "./fill";

const TOTAL_RUNS = Number(process.env.BENCH_RUNS ?? 1_000_000);
const DAYS = Number(process.env.BENCH_DAYS ?? 1);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 5);
/** Rows in window for the call-time table. */
const WINDOW_SIZES = [10_000, 100_000, 1_000_000];

type Dialect = Backend;

// ---------------------------------------------------------------------------------------------
// Building a store

export interface BenchStore {
  dialect: Dialect;
  /** Store environment for loadConfig. */
  env: Record<string, string>;
  /** The instant the runs end at. */
  nowMs: number;
  /** Ms between consecutive runs: the newest k runs are those at or after nowMs − (k − 1) × step. */
  stepMs: number;
  /** The baselines' bare connection (bench/fill.ts), also used for the raw insert of the ingestion figure. */
  bare: RawConnection;
  drop(): Promise<void>;
}

/**
 * Builds a store of `total` runs spread evenly over the `days` days before now (bench/fill.ts: raw
 * inserts, then rebuildRollups), 24 pull requests over the period and the seed marker.
 */
export async function buildBenchStore(dialect: Dialect, total: number, days: number): Promise<BenchStore> {
  const nowMs = Date.now();
  const opened = await openBenchStore(dialect);
  const filled = await fillStore(opened.store, { runs: total, spanMs: days * DAY_MS, nowMs });
  console.log(
    `${dialect}: ${total.toLocaleString("en")} runs over ${days} day(s): raw fill ${(filled.insertMs / 1000).toFixed(1)} s, ` +
      `rebuildRollups ${(filled.rebuildMs / 1000).toFixed(1)} s`,
  );
  const bare = await openRaw(opened.store, { synchronousOff: true });
  return {
    dialect,
    env: opened.serverEnv,
    nowMs,
    stepMs: filled.stepMs,
    bare,
    async drop() {
      await bare.close();
      await opened.remove();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Baseline SQL: the same figures over the raw rows, in one statement each

const SQL = {
  sqlite: {
    metrics: `WITH w AS (SELECT provider_id, route, tokens_in, tokens_out, duration_ms, status, cost_usd, metadata, ts
                         FROM telemetry_events WHERE ts >= ? AND ts <= ?),
              prov AS (SELECT provider_id, count(*) n, sum(tokens_in) ti, sum(tokens_out) tout, sum(cost_usd) c,
                              avg(duration_ms) lat, avg(status = 'success') sr FROM w GROUP BY provider_id),
              grp AS (SELECT provider_id, route, sum(cost_usd) c, count(*) n FROM w GROUP BY provider_id, route),
              ranked AS (SELECT duration_ms, row_number() OVER (ORDER BY duration_ms) - 1 pos, count(*) OVER () cnt FROM w),
              pct AS (SELECT group_concat(duration_ms) v FROM ranked
                      WHERE pos IN (CAST((cnt - 1) * 0.95 AS INT), CAST((cnt - 1) * 0.95 AS INT) + 1,
                                    CAST((cnt - 1) * 0.99 AS INT), CAST((cnt - 1) * 0.99 AS INT) + 1)),
              errs AS (SELECT coalesce(json_extract(metadata, '$.error.category'),
                                       CASE WHEN json_type(metadata, '$.error') = 'text' THEN json_extract(metadata, '$.error') END,
                                       status) cat, count(*) n, min(ts) first_ts
                       FROM w WHERE status <> 'success' GROUP BY cat),
              cache AS (SELECT sum(json_extract(metadata, '$.cache.hit') = 1) hits, count(json_extract(metadata, '$.cache.hit')) samples,
                               sum(CASE WHEN json_extract(metadata, '$.cache.hit') = 1
                                        THEN coalesce(json_extract(metadata, '$.cache.tokens'), tokens_out) ELSE 0 END) cached FROM w)
              SELECT (SELECT json_group_array(json_array(provider_id, n, ti, tout, c, lat, sr)) FROM prov) providers,
                     (SELECT json_group_array(json_array(provider_id, route, c, n)) FROM grp) cost_groups,
                     (SELECT v FROM pct) percentiles,
                     (SELECT json_group_array(json_array(cat, n, first_ts)) FROM errs) errors,
                     (SELECT json_array(hits, samples, cached) FROM cache) cache`,
    heatmap: `SELECT substr(ts, 1, 10) d, provider_id, count(*) n FROM telemetry_events WHERE ts >= ? AND ts <= ?
              GROUP BY d, provider_id ORDER BY d, provider_id`,
    timeseries: `SELECT substr(ts, 1, 10) d, count(*) n, sum(tokens_in) ti, sum(tokens_out) tout, sum(cost_usd) c,
                 avg(duration_ms) lat, sum(status = 'success') s FROM telemetry_events
                 WHERE provider_id = ? AND ts >= ? AND ts <= ? GROUP BY d ORDER BY d`,
    pareto: `SELECT provider_id, route, count(*) n, sum(tokens_in) ti, sum(tokens_out) tout, sum(cost_usd) c,
             avg(duration_ms) lat, avg(status = 'success') sr FROM telemetry_events WHERE ts >= ? AND ts <= ?
             GROUP BY provider_id, route`,
    sprints: `SELECT substr(ts, 1, 10) d, count(*) n, sum(tokens_in) ti, sum(tokens_out) tout, sum(cost_usd) c,
              sum(status = 'success') s FROM telemetry_events GROUP BY d ORDER BY d`,
  },
  pg: {
    metrics: `WITH w AS (SELECT provider_id, route, tokens_in, tokens_out, duration_ms, status, cost_usd, metadata::jsonb m, ts
                         FROM telemetry_events WHERE ts >= ? AND ts <= ?),
              prov AS (SELECT provider_id, count(*) n, sum(tokens_in) ti, sum(tokens_out) tout, sum(cost_usd) c,
                              avg(duration_ms) lat, avg((status = 'success')::int) sr FROM w GROUP BY provider_id),
              grp AS (SELECT provider_id, route, sum(cost_usd) c, count(*) n FROM w GROUP BY provider_id, route),
              pct AS (SELECT percentile_cont(ARRAY[0.95, 0.99]) WITHIN GROUP (ORDER BY duration_ms) v FROM w),
              errs AS (SELECT coalesce(m->'error'->>'category', CASE WHEN jsonb_typeof(m->'error') = 'string' THEN m->>'error' END,
                                       status) cat, count(*) n, min(ts) first_ts
                       FROM w WHERE status <> 'success' GROUP BY cat),
              cache AS (SELECT sum(CASE WHEN m->'cache'->>'hit' = 'true' THEN 1 ELSE 0 END) hits, count(m->'cache'->'hit') samples,
                               sum(CASE WHEN m->'cache'->>'hit' = 'true'
                                        THEN coalesce((m->'cache'->>'tokens')::bigint, tokens_out) ELSE 0 END) cached FROM w)
              SELECT (SELECT json_agg(prov) FROM prov) providers, (SELECT json_agg(grp) FROM grp) cost_groups,
                     (SELECT v FROM pct) percentiles, (SELECT json_agg(errs) FROM errs) errors,
                     (SELECT row_to_json(cache) FROM cache) cache`,
    heatmap: `SELECT substr(ts, 1, 10) d, provider_id, count(*) n FROM telemetry_events WHERE ts >= ? AND ts <= ?
              GROUP BY d, provider_id ORDER BY d, provider_id`,
    timeseries: `SELECT substr(ts, 1, 10) d, count(*) n, sum(tokens_in) ti, sum(tokens_out) tout, sum(cost_usd) c,
                 avg(duration_ms) lat, sum((status = 'success')::int) s FROM telemetry_events
                 WHERE provider_id = ? AND ts >= ? AND ts <= ? GROUP BY d ORDER BY d`,
    pareto: `SELECT provider_id, route, count(*) n, sum(tokens_in) ti, sum(tokens_out) tout, sum(cost_usd) c,
             avg(duration_ms) lat, avg((status = 'success')::int) sr FROM telemetry_events WHERE ts >= ? AND ts <= ?
             GROUP BY provider_id, route`,
    sprints: `SELECT substr(ts, 1, 10) d, count(*) n, sum(tokens_in) ti, sum(tokens_out) tout, sum(cost_usd) c,
              sum((status = 'success')::int) s FROM telemetry_events GROUP BY d ORDER BY d`,
  },
} as const;

// ---------------------------------------------------------------------------------------------
// Measuring

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  await fn(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function getJson(url: string): Promise<any> {
  const res = await fetch(url);
  const body = await res.json();
  if (res.status !== 200) throw new Error(`${url} → ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
  return body;
}

interface Row {
  call: string;
  ms: number;
  baselineMs: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const stored = (ms: number) => toStoredInstant(ms);
const fmt = (ms: number) => ms.toFixed(1);

async function benchBackend(store: BenchStore): Promise<void> {
  const { bare, nowMs } = store;
  const sql = SQL[store.dialect];
  const config = loadConfig(
    { CONSOLE_MCP_SERVER_HOST: "127.0.0.1", CONSOLE_MCP_SERVER_PORT: "0", CONSOLE_MCP_SEED: "none", LOG_LEVEL: "warn", ...store.env },
    "development",
  );
  const broker = createBroker(config, { logger: false });
  await broker.start();
  try {
    const server = (broker.getLocalService("api") as unknown as { server: Server }).server;
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`;
    const day24h = nowMs - DAY_MS;
    const week = nowMs - 6 * DAY_MS;
    const month = nowMs - 29 * DAY_MS;
    const rows: Row[] = [];
    const measure = async (call: string, api: () => Promise<unknown>, baseline: () => Promise<unknown>) => {
      rows.push({ call, ms: await timeIt(api), baselineMs: await timeIt(baseline) });
    };

    await measure(
      "metrics, last 24 h",
      () => getJson(`${base}/telemetry/metrics?start=${iso(day24h)}`),
      () => bare.all(sql.metrics, [stored(day24h), stored(nowMs + DAY_MS)]),
    );
    await measure(
      "heatmap, 7 days",
      () => getJson(`${base}/telemetry/heatmap?start=${iso(week)}&end=${iso(nowMs)}`),
      () => bare.all(sql.heatmap, [stored(week), stored(nowMs)]),
    );
    await measure(
      "timeseries, 30 days, once per provider (4 calls)",
      async () => {
        for (const p of PROVIDERS) await getJson(`${base}/telemetry/timeseries?provider_id=${p}&start=${iso(month)}&end=${iso(nowMs)}`);
      },
      async () => {
        for (const p of PROVIDERS) await bare.all(sql.timeseries, [p, stored(month), stored(nowMs)]);
      },
    );
    await measure(
      "pareto, 30 days",
      () => getJson(`${base}/telemetry/pareto?start=${iso(month)}&end=${iso(nowMs)}`),
      () => bare.all(sql.pareto, [stored(month), stored(nowMs)]),
    );
    await measure(
      "sprints, window 14, limit 4",
      () => getJson(`${base}/telemetry/finops/sprints?window_days=14&limit=4`),
      () => bare.all(sql.sprints),
    );
    const prWindowMs = 14 * DAY_MS;
    const selected = await bare.all<{ id: string; merged_at: string; provider_id: string; route: string | null }>(
      "SELECT id, merged_at, provider_id, route FROM pull_requests WHERE merged_at >= ? AND merged_at <= ? ORDER BY merged_at DESC, id ASC LIMIT 4",
      [stored(nowMs - prWindowMs * 4), stored(nowMs)],
    );
    await measure(
      "pull-requests, window 14, limit 4",
      () => getJson(`${base}/telemetry/finops/pull-requests?window_days=14&limit=4`),
      () => {
        const values = selected
          .map((p) => {
            const m = Date.parse(p.merged_at);
            return `('${p.id}', '${p.provider_id}', ${p.route === null ? "NULL" : `'${p.route}'`}, '${stored(m - prWindowMs)}', '${p.merged_at}', '${stored(Math.min(m + prWindowMs - 1, nowMs))}')`;
          })
          .join(",");
        return bare.all(`WITH prs(id, provider_id, route, b0, m, a1) AS (VALUES ${values})
                 SELECT prs.id, sum(CASE WHEN e.ts < prs.m THEN e.cost_usd END) before_cost,
                        sum(CASE WHEN e.ts >= prs.m THEN e.cost_usd END) after_cost,
                        sum(CASE WHEN e.ts < prs.m THEN e.tokens_in + e.tokens_out END) before_tokens,
                        sum(CASE WHEN e.ts >= prs.m THEN e.tokens_in + e.tokens_out END) after_tokens
                 FROM prs JOIN telemetry_events e ON e.provider_id = prs.provider_id
                      AND (prs.route IS NULL OR e.route = prs.route) AND e.ts >= prs.b0 AND e.ts <= prs.a1
                 GROUP BY prs.id`);
      },
    );
    await measure(
      "runs, page 1 (limit 20)",
      () => getJson(`${base}/telemetry/runs?limit=20`),
      () => bare.all("SELECT * FROM telemetry_events ORDER BY ts DESC, id DESC LIMIT 21"),
    );
    const depth = Math.min(500_000, Math.floor(TOTAL_RUNS / 2));
    const [deep] = await bare.all<{ ts: string; id: number }>("SELECT ts, id FROM telemetry_events ORDER BY ts DESC, id DESC LIMIT 1 OFFSET ?", [
      depth - 1,
    ]);
    const cursor = Buffer.from(JSON.stringify({ ts: deep.ts, id: Number(deep.id) }), "utf8").toString("base64url");
    await measure(
      `runs, page ${depth.toLocaleString("en")} rows deep (limit 20)`,
      () => getJson(`${base}/telemetry/runs?limit=20&cursor=${cursor}`),
      () =>
        bare.all("SELECT * FROM telemetry_events WHERE ts < ? OR (ts = ? AND id < ?) ORDER BY ts DESC, id DESC LIMIT 21", [
          deep.ts,
          deep.ts,
          deep.id,
        ]),
    );

    // Call time against the rows in the window: windows ending now holding the newest k runs.
    const sizes = WINDOW_SIZES.filter((k) => k <= TOTAL_RUNS);
    const scaling: { call: string; cells: { ms: number; baselineMs: number }[] }[] = [];
    const windowStart = (k: number) => Math.ceil(nowMs - (k - 1) * store.stepMs) - 1;
    const scaled: [string, (k: number) => Promise<unknown>, (k: number) => Promise<unknown>][] = [
      [
        "metrics",
        (k) => getJson(`${base}/telemetry/metrics?start=${iso(windowStart(k))}&end=${iso(nowMs)}`),
        (k) => bare.all(sql.metrics, [stored(windowStart(k)), stored(nowMs)]),
      ],
      [
        "heatmap",
        (k) => getJson(`${base}/telemetry/heatmap?start=${iso(windowStart(k))}&end=${iso(nowMs)}`),
        (k) => bare.all(sql.heatmap, [stored(windowStart(k)), stored(nowMs)]),
      ],
      [
        "timeseries (1 provider)",
        (k) => getJson(`${base}/telemetry/timeseries?provider_id=gemini&start=${iso(windowStart(k))}&end=${iso(nowMs)}`),
        (k) => bare.all(sql.timeseries, ["gemini", stored(windowStart(k)), stored(nowMs)]),
      ],
      [
        "pareto",
        (k) => getJson(`${base}/telemetry/pareto?start=${iso(windowStart(k))}&end=${iso(nowMs)}`),
        (k) => bare.all(sql.pareto, [stored(windowStart(k)), stored(nowMs)]),
      ],
    ];
    for (const [call, api, baseline] of scaled) {
      const cells = [];
      for (const k of sizes) cells.push({ ms: await timeIt(() => api(k)), baselineMs: await timeIt(() => baseline(k)) });
      scaling.push({ call, cells });
    }
    const check = await getJson(`${base}/telemetry/metrics?start=${iso(windowStart(sizes[sizes.length - 1]))}&end=${iso(nowMs)}`);

    // Event-loop stall of the (in-process) telemetry service during the heaviest dashboard call.
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    const t0 = performance.now();
    await getJson(`${base}/telemetry/metrics?start=${iso(day24h)}`);
    const heavyMs = performance.now() - t0;
    histogram.disable();

    // Ingestion: the largest batch (≤ 5,000 runs) whose body fits the 1 MiB limit, through
    // POST /telemetry/runs, against a raw multi-row insert of the same rows.
    const rand = seededRandom(7);
    let batchRuns = Array.from({ length: 5000 }, (_, i) => makeRun(rand, nowMs - i * 1000));
    const bodyOf = (runs: RunInput[]) => JSON.stringify({ runs: runs.map(({ ts_ms, ...r }) => ({ ...r, ts: iso(ts_ms) })) });
    let body = bodyOf(batchRuns);
    while (Buffer.byteLength(body) > 1024 * 1024) {
      batchRuns = batchRuns.slice(0, Math.floor(batchRuns.length * 0.95));
      body = bodyOf(batchRuns);
    }
    const ingestApi = await timeIt(async () => {
      const res = await fetch(`${base}/telemetry/runs`, { method: "POST", headers: { "content-type": "application/json" }, body });
      if (res.status !== 201) throw new Error(`ingest → ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    });
    const ingestRaw = await timeIt(() => bare.insert(batchRuns.map((r) => rowFromRun(r, nowMs))));

    const label = store.dialect === "sqlite" ? "SQLite (sqlite3 driver)" : "PostgreSQL (pg driver)";
    console.log(
      `\n${label}: ${TOTAL_RUNS.toLocaleString("en")} runs over ${DAYS} day(s); median of ${REPEAT} after a warm-up; baseline = one plain SQL statement over the raw rows`,
    );
    console.log("| call | ms | baseline ms | ratio |");
    console.log("| --- | --- | --- | --- |");
    for (const r of rows) console.log(`| ${r.call} | ${fmt(r.ms)} | ${fmt(r.baselineMs)} | ${(r.ms / r.baselineMs).toFixed(2)}x |`);
    console.log(`\ncall time vs rows in window (${label}; window = the newest k runs, ending now): API ms / baseline ms`);
    console.log(`| call | ${sizes.map((k) => `${k.toLocaleString("en")} rows`).join(" | ")} |`);
    console.log(`| --- | ${sizes.map(() => "---").join(" | ")} |`);
    for (const s of scaling) console.log(`| ${s.call} | ${s.cells.map((c) => `${fmt(c.ms)} / ${fmt(c.baselineMs)}`).join(" | ")} |`);
    console.log(`(the ${sizes[sizes.length - 1].toLocaleString("en")}-row window answered total_runs ${check.total_runs})`);
    const page1 = rows.find((r) => r.call.startsWith("runs, page 1"))!;
    const deepRow = rows.find((r) => r.call.includes("rows deep"))!;
    const dashboard = rows.filter((r) => !r.call.includes("4 calls"));
    console.log(`\ndeep runs page / page 1: ${(deepRow.ms / page1.ms).toFixed(2)}x (goal <= 2x)`);
    console.log(
      `batch ingestion of ${batchRuns.length} runs (${(Buffer.byteLength(body) / 1024).toFixed(0)} KiB): API ${fmt(ingestApi)} ms, raw insert ${fmt(ingestRaw)} ms → API throughput ${(ingestRaw / ingestApi).toFixed(2)}x of raw`,
    );
    console.log(
      `event-loop stall during metrics, last 24 h (${fmt(heavyMs)} ms): max ${(histogram.max / 1e6).toFixed(1)} ms, p99 ${(histogram.percentile(99) / 1e6).toFixed(1)} ms`,
    );
    const slow = dashboard.filter((r) => r.ms > 50).map((r) => r.call);
    const over = rows.filter((r) => r.ms > r.baselineMs).map((r) => r.call);
    console.log(`goals: every dashboard call <= 50 ms (timeseries: per call) — ${slow.length === 0 ? "met" : `not met: ${slow.join("; ")}`}`);
    const timeseries = rows.find((r) => r.call.includes("4 calls"))!;
    if (timeseries.ms / 4 > 50) console.log(`  timeseries per call ${fmt(timeseries.ms / 4)} ms > 50 ms`);
    console.log(`       every call <= 1.0x its baseline — ${over.length === 0 ? "met" : `not met: ${over.join("; ")}`}`);
  } finally {
    await broker.stop();
  }
}

export async function benchStore(): Promise<void> {
  for (const backend of benchBackends()) {
    const store = await buildBenchStore(backend, TOTAL_RUNS, DAYS);
    try {
      await benchBackend(store);
    } finally {
      await store.drop();
    }
  }
}
