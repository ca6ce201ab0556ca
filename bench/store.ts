/**
 * The store at a million runs: builds a 1,000,000-run SQLite store over 30 days (generated here,
 * never committed), then times every call the console makes through the real HTTP API against the
 * same figure computed by one plain SQL statement over the raw rows through the sqlite3 driver, in
 * the same run. Also: a runs page 500,000 rows deep against page 1, batch ingestion through the API
 * against a raw multi-row insert of the same rows, and the event-loop stall during the heaviest call.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import sqlite3 from "sqlite3";
import { loadConfig } from "../lib/config";
import { createBroker } from "../lib/server";
import { rowFromRun, RunInput } from "../lib/telemetry-run";
import { toStoredInstant } from "../lib/time";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { seededRandom } from "../lib/prng";
import { DAY_MS, PROVIDERS, fillStore, makeRun, rawInsertSqlite as rawInsert, sqliteAll as all, sqliteRun as run } from "./fill";

const TOTAL_RUNS = Number(process.env.BENCH_RUNS ?? 1_000_000);
const DAYS = 30;
const REPEAT = Number(process.env.BENCH_REPEAT ?? 5);

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
  note?: string;
}

export async function benchStore(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-store-"));
  const file = path.join(dir, "console.db");
  const nowMs = Date.now();
  try {
    let t0 = performance.now();
    await fillStore({ dbUrl: null, dbPath: file }, { runs: TOTAL_RUNS, spanMs: DAYS * DAY_MS, nowMs });
    console.log(`built ${TOTAL_RUNS} runs over ${DAYS} days in ${((performance.now() - t0) / 1000).toFixed(1)} s (${file})`);

    const config = loadConfig(
      { CONSOLE_MCP_SERVER_HOST: "127.0.0.1", CONSOLE_MCP_SERVER_PORT: "0", CONSOLE_MCP_DB_PATH: file, CONSOLE_MCP_SEED: "none", LOG_LEVEL: "warn" },
      "development",
    );
    const broker = createBroker(config, { logger: false });
    await broker.start();
    const server = (broker.getLocalService("api") as unknown as { server: Server }).server;
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`;
    const db = new sqlite3.Database(file, sqlite3.OPEN_READWRITE);
    await run(db, "PRAGMA busy_timeout = 15000");

    const iso = (ms: number) => new Date(ms).toISOString();
    const stored = (ms: number) => toStoredInstant(ms);
    const day24h = nowMs - DAY_MS;
    const week = nowMs - 6 * DAY_MS;
    const month = nowMs - 29 * DAY_MS;
    const rows: Row[] = [];

    const measure = async (call: string, api: () => Promise<unknown>, baseline: () => Promise<unknown>, note?: string) => {
      const ms = await timeIt(api);
      const baselineMs = await timeIt(baseline);
      rows.push({ call, ms, baselineMs, note });
    };

    await measure(
      "metrics, last 24 h",
      () => getJson(`${base}/telemetry/metrics?start=${iso(day24h)}`),
      // The same figures over the raw rows in one statement: provider totals, cost groups, the
      // p95/p99 neighbours, error counts by category (from status and metadata) and cache figures.
      () =>
        all(db, `WITH w AS (SELECT provider_id, route, tokens_in, tokens_out, duration_ms, status, cost_usd, metadata, ts
                            FROM telemetry_events WHERE ts >= ?),
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
                        (SELECT json_array(hits, samples, cached) FROM cache) cache`, [stored(day24h)]),
    );
    await measure(
      "heatmap, 7 days",
      () => getJson(`${base}/telemetry/heatmap?start=${iso(week)}&end=${iso(nowMs)}`),
      () =>
        all(db, `SELECT substr(ts, 1, 10) d, provider_id, count(*) n FROM telemetry_events WHERE ts >= ? AND ts <= ?
                 GROUP BY d, provider_id ORDER BY d, provider_id`, [stored(week), stored(nowMs)]),
    );
    await measure(
      "timeseries, 30 days, once per provider (4 calls)",
      async () => {
        for (const p of PROVIDERS) await getJson(`${base}/telemetry/timeseries?provider_id=${p}&start=${iso(month)}&end=${iso(nowMs)}`);
      },
      async () => {
        for (const p of PROVIDERS) {
          await all(db, `SELECT substr(ts, 1, 10) d, count(*) n, sum(tokens_in) ti, sum(tokens_out) tout, sum(cost_usd) c,
                         avg(duration_ms) lat, sum(status = 'success') s FROM telemetry_events
                         WHERE provider_id = ? AND ts >= ? AND ts <= ? GROUP BY d ORDER BY d`, [p, stored(month), stored(nowMs)]);
        }
      },
    );
    await measure(
      "pareto, 30 days",
      () => getJson(`${base}/telemetry/pareto?start=${iso(month)}&end=${iso(nowMs)}`),
      () =>
        all(db, `SELECT provider_id, route, count(*) n, sum(tokens_in) ti, sum(tokens_out) tout, sum(cost_usd) c,
                 avg(duration_ms) lat, avg(status = 'success') sr FROM telemetry_events WHERE ts >= ? AND ts <= ?
                 GROUP BY provider_id, route`, [stored(month), stored(nowMs)]),
    );
    await measure(
      "sprints, window 14, limit 4",
      () => getJson(`${base}/telemetry/finops/sprints?window_days=14&limit=4`),
      () =>
        all(db, `SELECT substr(ts, 1, 10) d, count(*) n, sum(tokens_in) ti, sum(tokens_out) tout, sum(cost_usd) c,
                 sum(status = 'success') s FROM telemetry_events GROUP BY d ORDER BY d`),
    );
    const prWindowMs = 14 * DAY_MS;
    const selected = await all<{ id: string; merged_at: string; provider_id: string; route: string | null }>(
      db,
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
        return all(db, `WITH prs(id, provider_id, route, b0, m, a1) AS (VALUES ${values})
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
      () => all(db, "SELECT * FROM telemetry_events ORDER BY ts DESC, id DESC LIMIT 21"),
    );
    const depth = Math.min(500_000, Math.floor(TOTAL_RUNS / 2));
    const [deep] = await all<{ ts: string; id: number }>(db, "SELECT ts, id FROM telemetry_events ORDER BY ts DESC, id DESC LIMIT 1 OFFSET ?", [depth - 1]);
    const cursor = Buffer.from(JSON.stringify({ ts: deep.ts, id: deep.id }), "utf8").toString("base64url");
    await measure(
      `runs, page ${depth.toLocaleString("en")} rows deep (limit 20)`,
      () => getJson(`${base}/telemetry/runs?limit=20&cursor=${cursor}`),
      () =>
        all(db, "SELECT * FROM telemetry_events WHERE ts < ? OR (ts = ? AND id < ?) ORDER BY ts DESC, id DESC LIMIT 21", [
          deep.ts, deep.ts, deep.id,
        ]),
    );

    // Event-loop stall of the (in-process) telemetry service during the heaviest call.
    const heaviest = rows.filter((r) => !r.call.startsWith("runs")).reduce((a, b) => (b.ms > a.ms ? b : a));
    const heaviestUrl: Record<string, string> = {
      "metrics, last 24 h": `${base}/telemetry/metrics?start=${iso(day24h)}`,
      "heatmap, 7 days": `${base}/telemetry/heatmap?start=${iso(week)}&end=${iso(nowMs)}`,
      "timeseries, 30 days, once per provider (4 calls)": `${base}/telemetry/timeseries?provider_id=gemini&start=${iso(month)}&end=${iso(nowMs)}`,
      "pareto, 30 days": `${base}/telemetry/pareto?start=${iso(month)}&end=${iso(nowMs)}`,
      "sprints, window 14, limit 4": `${base}/telemetry/finops/sprints?window_days=14&limit=4`,
      "pull-requests, window 14, limit 4": `${base}/telemetry/finops/pull-requests?window_days=14&limit=4`,
    };
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    t0 = performance.now();
    await getJson(heaviestUrl[heaviest.call]);
    const heavyMs = performance.now() - t0;
    histogram.disable();

    // Ingestion: the largest batch (≤ 5,000 runs) whose body fits the 1 MiB limit, through
    // POST /telemetry/runs, against a raw multi-row insert of the same rows.
    const rand = seededRandom(7);
    let batchRuns = Array.from({ length: 5000 }, (_, i) => makeRun(rand, nowMs - i * 1000));
    const bodyOf = (runs: RunInput[]) =>
      JSON.stringify({ runs: runs.map(({ ts_ms, ...r }) => ({ ...r, ts: iso(ts_ms) })) });
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
    const ingestRaw = await timeIt(() => rawInsert(db, batchRuns.map((r) => rowFromRun(r, nowMs))));

    console.log(`\n${TOTAL_RUNS} runs, median of ${REPEAT} after a warm-up; baseline = one plain SQL statement through the sqlite3 driver`);
    console.log("| call | ms | baseline ms | ratio |");
    console.log("| --- | --- | --- | --- |");
    for (const r of rows) console.log(`| ${r.call} | ${r.ms.toFixed(1)} | ${r.baselineMs.toFixed(1)} | ${(r.ms / r.baselineMs).toFixed(2)}x |`);
    const page1 = rows.find((r) => r.call.startsWith("runs, page 1"))!;
    const deepRow = rows.find((r) => r.call.includes("rows deep"))!;
    console.log(`\ndeep runs page / page 1: ${(deepRow.ms / page1.ms).toFixed(2)}x (goal <= 2x)`);
    console.log(
      `batch ingestion of ${batchRuns.length} runs (${(Buffer.byteLength(body) / 1024).toFixed(0)} KiB): API ${ingestApi.toFixed(1)} ms, raw insert ${ingestRaw.toFixed(1)} ms → API throughput ${(ingestRaw / ingestApi).toFixed(2)}x of raw (goal >= 0.5x)`,
    );
    console.log(
      `event-loop stall during the heaviest call (${heaviest.call}, ${heavyMs.toFixed(1)} ms): max ${(histogram.max / 1e6).toFixed(1)} ms, p99 ${(histogram.percentile(99) / 1e6).toFixed(1)} ms`,
    );
    console.log("goal: every dashboard call <= 1.0x its baseline");

    await new Promise<void>((resolve) => db.close(() => resolve()));
    await broker.stop();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
