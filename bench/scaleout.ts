/**
 * Scale-out (issue 8, goal 5): the mixed load of bench/mixed-load.ts over NATS (a private
 * nats-server) on PostgreSQL, with the gateway in one process, providers, sessions, finops and
 * routing in another, and 1, 2 and 4 telemetry replicas, each a process of its own. Requests/s per
 * replica count on the same store (BENCH_RUNS runs in the last 24 h, default 1,000,000), and the
 * totals check after each step. Needs `nats-server` on PATH and a PostgreSQL server (BENCH_PG_URL
 * or CONSOLE_MCP_TEST_PG_URL).
 */
import { DAY_MS, benchPgUrl, fillStore, openBenchStore, storeBackendCpuSeconds } from "./fill";
import { aloneTimings, checkTotals, mixedTable, runMixedLoad, MixedResult } from "./mixed-load";
import { Child, freePort, spawnChild, spawnServer, waitForHttp } from "./processes";

const TOTAL_RUNS = Number(process.env.BENCH_RUNS ?? 1_000_000);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 50);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 30);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 5);
const REPLICA_COUNTS = (process.env.BENCH_REPLICAS ?? "1,2,4").split(",").map(Number);

/** Waits until a server process has logged that its broker started (it runs at LOG_LEVEL info). */
async function waitForStart(child: Child, timeoutMs = 60000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!/started successfully/.test(child.output())) {
    if (Date.now() > deadline) throw new Error(`a server did not start:\n${child.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function benchScaleout(): Promise<void> {
  if (benchPgUrl() === null) throw new Error("scaleout needs BENCH_PG_URL or CONSOLE_MCP_TEST_PG_URL");
  const opened = await openBenchStore("pg");
  const children: Child[] = [];
  try {
    const nowMs = Date.now();
    const t0 = performance.now();
    await fillStore(opened.store, { runs: TOTAL_RUNS, spanMs: DAY_MS, nowMs });
    console.log(`PostgreSQL: filled ${TOTAL_RUNS} runs over the last 24 h in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const natsPort = await freePort();
    const nats = spawnChild("nats-server", ["-a", "127.0.0.1", "-p", String(natsPort)]);
    children.push(nats);
    const transporter = `nats://127.0.0.1:${natsPort}`;
    const env = { ...opened.serverEnv, TRANSPORTER: transporter };
    const port = await freePort();
    const gateway = spawnServer({ ...env, SERVICES: "api", NODE_ID: "bench-gateway", CONSOLE_MCP_SERVER_PORT: String(port) });
    const others = spawnServer({ ...env, SERVICES: "providers,sessions,finops,routing", NODE_ID: "bench-others" });
    children.push(gateway, others);
    const replicas: Child[] = [];
    const base = `http://127.0.0.1:${port}/api/v1`;
    const results: { replicas: number; result: MixedResult; totalsOk: boolean }[] = [];
    let ingested = 0;
    for (const count of REPLICA_COUNTS) {
      while (replicas.length < count) {
        const replica = spawnServer({ ...env, SERVICES: "telemetry", NODE_ID: `bench-telemetry-${replicas.length + 1}`, LOG_LEVEL: "info" });
        replicas.push(replica);
        children.push(replica);
        await waitForStart(replica);
      }
      // Every node announces itself on connect; give the gateway a moment to list the new replicas.
      await new Promise((r) => setTimeout(r, 2000));
      await waitForHttp(`${base}/readyz`, 120000);
      const alone = results.length === 0 ? await aloneTimings(base) : undefined;
      const processes = [gateway, others, ...replicas];
      const result = await runMixedLoad(base, {
        clients: CLIENTS,
        durationMs: DURATION_S * 1000,
        warmupMs: WARMUP_S * 1000,
        serverCpuSeconds: async () => processes.reduce((sum, p) => sum + p.cpuSeconds(), 0) + (await storeBackendCpuSeconds(opened.store)),
        // Where the cores go: if one part sits at one core while the machine has room, it serialises.
        serverCpuParts: async () => ({
          gateway: gateway.cpuSeconds(),
          "providers+sessions+finops+routing": others.cpuSeconds(),
          ...Object.fromEntries(replicas.map((p, i) => [`telemetry ${i + 1}`, p.cpuSeconds()])),
          "PostgreSQL backends": await storeBackendCpuSeconds(opened.store),
          "nats-server": nats.cpuSeconds(),
        }),
      });
      ingested += result.ingestedRuns;
      console.log(`\n${count} telemetry replica(s), over NATS, PostgreSQL, ${CLIENTS} clients, ${DURATION_S} s after a ${WARMUP_S} s warm-up:`);
      console.log(mixedTable(result, alone));
      if (Object.keys(result.failures).length > 0) console.log(`failed requests (whole load): ${JSON.stringify(result.failures)}`);
      const totals = await checkTotals(base, nowMs - DAY_MS - 60_000, TOTAL_RUNS + ingested);
      console.log(totals.line);
      results.push({ replicas: count, result, totalsOk: totals.ok });
    }
    const first = results[0].result.okRps;
    console.log(`\nscale-out over NATS on PostgreSQL, ${TOTAL_RUNS} runs in the last 24 h, ${CLIENTS} clients`);
    console.log("| telemetry replicas | ok req/s | answers/s | p50 ms | p99 ms | ok req/s vs 1 replica | totals |");
    console.log("| --- | --- | --- | --- | --- | --- | --- |");
    for (const { replicas: n, result, totalsOk } of results) {
      console.log(
        `| ${n} | ${result.okRps.toFixed(0)} | ${result.rps.toFixed(0)} | ${result.p50.toFixed(1)} | ${result.p99.toFixed(1)} | ${(result.okRps / first).toFixed(2)}x | ${totalsOk ? "match" : "NO"} |`,
      );
    }
    console.log("goal: >= 1.6x from 1 to 2 replicas");
  } catch (err) {
    for (const c of children) console.log(`--- process output:\n${c.output().slice(-2000)}`);
    throw err;
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    await opened.remove();
  }
}
