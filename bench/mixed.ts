/**
 * Mixed load (issue 8, goal 2): a store with BENCH_RUNS runs (default 1,000,000) in the last 24 h,
 * the embedded server (every service in one process, a child of this one), 50 keep-alive clients
 * for BENCH_DURATION_S seconds after a warm-up: 35% POST /telemetry/runs of 20-run batches, 65% the
 * console's page-load reads. Requests/s and p50/p99 per kind, then the check that metrics' total_runs
 * equals the filled runs plus the ingested ones. On SQLite and, when a server is configured
 * (BENCH_PG_URL or CONSOLE_MCP_TEST_PG_URL), on PostgreSQL.
 */
import fs from "node:fs";
import { DAY_MS, benchBackends, fillStore, openBenchStore, storeBackendCpuSeconds } from "./fill";
import os from "node:os";
import { aloneTimings, checkTotals, kindCostTable, kindCosts, mixedTable, runMixedLoad } from "./mixed-load";
import { freePort, spawnServer, waitForHttp } from "./processes";

const TOTAL_RUNS = Number(process.env.BENCH_RUNS ?? 1_000_000);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 50);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 30);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 5);
/** Seconds per kind of the per-kind cost table (0 skips it). */
const KIND_COST_S = Number(process.env.BENCH_KIND_COST_S ?? 5);

export async function benchMixed(): Promise<void> {
  const summary: string[] = [];
  for (const backend of benchBackends()) {
    const opened = await openBenchStore(backend);
    try {
      const nowMs = Date.now();
      const t0 = performance.now();
      await fillStore(opened.store, { runs: TOTAL_RUNS, spanMs: DAY_MS, nowMs });
      console.log(`\n${opened.label}: filled ${TOTAL_RUNS} runs over the last 24 h in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

      const port = await freePort();
      const server = spawnServer({ ...opened.serverEnv, CONSOLE_MCP_SERVER_PORT: String(port) });
      try {
        const base = `http://127.0.0.1:${port}/api/v1`;
        await waitForHttp(`${base}/readyz`, 120000);
        const alone = await aloneTimings(base);
        const result = await runMixedLoad(base, {
          clients: CLIENTS,
          durationMs: DURATION_S * 1000,
          warmupMs: WARMUP_S * 1000,
          serverCpuSeconds: async () => server.cpuSeconds() + (await storeBackendCpuSeconds(opened.store)),
          serverThreadSeconds: () => server.threadCpuSeconds(),
        });
        console.log(`${opened.label}, embedded server, ${CLIENTS} clients, ${DURATION_S} s after a ${WARMUP_S} s warm-up:`);
        console.log(mixedTable(result, alone));
        if (Object.keys(result.failures).length > 0) console.log(`failed requests (whole load): ${JSON.stringify(result.failures)}`);
        let ingested = result.ingestedRuns;
        if (KIND_COST_S > 0) {
          const costs = await kindCosts(base, {
            clients: CLIENTS,
            durationMs: KIND_COST_S * 1000,
            serverCpuSeconds: async () => server.cpuSeconds() + (await storeBackendCpuSeconds(opened.store)),
          });
          ingested += costs.ingestedRuns;
          console.log(`${opened.label}: what each kind costs the server, ${CLIENTS} clients sending only that kind for ${KIND_COST_S} s:`);
          console.log(kindCostTable(costs.kinds, os.availableParallelism()));
        }
        const totals = await checkTotals(base, nowMs - DAY_MS - 60_000, TOTAL_RUNS + ingested);
        console.log(totals.line);
        if (opened.store.dbUrl === null && fs.existsSync(`${opened.store.dbPath}-wal`)) {
          console.log(`SQLite WAL after the load: ${(fs.statSync(`${opened.store.dbPath}-wal`).size / 2 ** 20).toFixed(1)} MiB`);
        }
        summary.push(
          `| ${opened.label} | ${result.okRps.toFixed(0)} | ${result.rps.toFixed(0)} | ${result.p50.toFixed(1)} | ${result.p99.toFixed(1)} | ${totals.ok ? "match" : "NO"} |`,
        );
      } catch (err) {
        console.log(`server output:\n${server.output().slice(-4000)}`);
        throw err;
      } finally {
        await server.stop();
      }
    } finally {
      await opened.remove();
    }
  }
  console.log(`\nmixed load, ${TOTAL_RUNS} runs in the last 24 h, ${CLIENTS} clients`);
  console.log("| store | ok req/s | answers/s | p50 ms | p99 ms | totals |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const line of summary) console.log(line);
  console.log("goal: >= 1,000 req/s with p99 <= 100 ms on each store");
}
