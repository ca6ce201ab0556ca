/**
 * Ingestion (issue 8, goal 3): runs/s through `POST /telemetry/runs` of the embedded server with 10
 * concurrent writers (keep-alive), against a raw multi-row insert of the same rows through the bare
 * driver (sqlite3 or pg: one transaction per batch, one connection), measured in alternating rounds
 * in the same run on a store already holding BENCH_RUNS runs (default 100,000). Batches of
 * BENCH_INGEST_BATCH runs (default 1,000) over the last BENCH_INGEST_SPREAD_S seconds (default 60),
 * BENCH_INGEST_RUNS runs per round (default 100,000).
 */
import http from "node:http";
import { seededRandom } from "../lib/prng";
import { rowFromRun, RunInput } from "../services/telemetry/store/run";
import { send } from "../test/helpers/load";
import { DAY_MS, benchBackends, fillStore, makeRun, openBenchStore, openRaw, runBody } from "./fill";
import { freePort, spawnServer, waitForHttp } from "./processes";

const FILL_RUNS = Number(process.env.BENCH_RUNS ?? 100_000);
const WRITERS = Number(process.env.BENCH_WRITERS ?? 10);
const BATCH = Number(process.env.BENCH_INGEST_BATCH ?? 1000);
const ROUND_RUNS = Number(process.env.BENCH_INGEST_RUNS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_REPEAT ?? 3);
/** The runs of a round are spread over the last BENCH_INGEST_SPREAD_S seconds (default 60). */
const SPREAD_MS = Number(process.env.BENCH_INGEST_SPREAD_S ?? 60) * 1000;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * The round's batches: generated runs with instants spread over the last SPREAD_MS (a client sends
 * the runs it saw since its last batch). The spread sets how many minute and hour rollup rows a
 * batch touches: a minute holds 20 (provider, route) rows here, so a 1,000-run batch over an hour
 * updates ~1,000 minute rows, over a minute ~20.
 */
function batchesOf(round: number): RunInput[][] {
  const rand = seededRandom(500 + round);
  const now = Date.now();
  const batches: RunInput[][] = [];
  for (let done = 0; done < ROUND_RUNS; done += BATCH) {
    const size = Math.min(BATCH, ROUND_RUNS - done);
    batches.push(Array.from({ length: size }, () => makeRun(rand, now - SPREAD_MS + Math.floor(rand() * SPREAD_MS))));
  }
  return batches;
}

/** Runs/s of the API: WRITERS clients, each posting its next batch when the previous one is answered. */
async function throughApi(base: string, batches: RunInput[][]): Promise<number> {
  const bodies = batches.map((runs) => ({ runs: runs.map(runBody) }));
  let next = 0;
  const origin = performance.now();
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        while (next < bodies.length) {
          const body = bodies[next++];
          const o = await send(agent, { method: "POST", url: `${base}/telemetry/runs`, json: body }, origin, 120_000);
          if (o.status !== 201) throw new Error(`ingest → ${o.status} ${o.error ?? ""}`);
        }
      } finally {
        agent.destroy();
      }
    }),
  );
  return ROUND_RUNS / ((performance.now() - origin) / 1000);
}

export async function benchIngest(): Promise<void> {
  const summary: string[] = [];
  for (const backend of benchBackends()) {
    const opened = await openBenchStore(backend);
    try {
      const nowMs = Date.now();
      await fillStore(opened.store, { runs: FILL_RUNS, spanMs: DAY_MS, nowMs });
      const port = await freePort();
      const server = spawnServer({ ...opened.serverEnv, CONSOLE_MCP_SERVER_PORT: String(port) });
      const raw = await openRaw(opened.store);
      try {
        const base = `http://127.0.0.1:${port}/api/v1`;
        await waitForHttp(`${base}/readyz`, 120000);
        // Warm-up: a few batches through each path.
        const warm = batchesOf(-1).slice(0, WRITERS);
        await throughApi(base, warm);
        for (const b of warm) await raw.insert(b.map((r) => rowFromRun(r, Date.now())));
        const api: number[] = [];
        const direct: number[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          const batches = batchesOf(round);
          api.push(await throughApi(base, batches));
          const rows = batches.map((b) => b.map((r) => rowFromRun(r, Date.now())));
          const t0 = performance.now();
          for (const b of rows) await raw.insert(b);
          direct.push(ROUND_RUNS / ((performance.now() - t0) / 1000));
          console.log(`${opened.label} round ${round + 1}: API ${api[round].toFixed(0)} runs/s, raw ${direct[round].toFixed(0)} runs/s`);
        }
        const a = median(api);
        const r = median(direct);
        summary.push(`| ${opened.label} | ${a.toFixed(0)} | ${r.toFixed(0)} | ${(a / r).toFixed(2)}x |`);
      } catch (err) {
        console.log(`server output:\n${server.output().slice(-4000)}`);
        throw err;
      } finally {
        await raw.close();
        await server.stop();
      }
    } finally {
      await opened.remove();
    }
  }
  console.log(
    `\ningestion: ${WRITERS} concurrent writers, batches of ${BATCH} runs over the last ${SPREAD_MS / 1000} s, ${ROUND_RUNS} runs per round, median of ${ROUNDS} rounds; raw = the same batches, one multi-row insert transaction each through the bare driver (no rollups)`,
  );
  console.log("| store | API runs/s | raw insert runs/s | ratio |");
  console.log("| --- | --- | --- | --- |");
  for (const line of summary) console.log(line);
  console.log("goal: >= 0.7x");
}
