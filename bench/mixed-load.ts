/**
 * The mixed load of issue 8 (goals 2 and 5), shared by the `mixed` and `scaleout` benchmarks: closed-loop
 * keep-alive clients (test/helpers/load.ts), each request 35% `POST /telemetry/runs` of a 20-run batch
 * and 65% one of the console's page-load reads, chosen at random with equal weights; figures per kind
 * after a warm-up, and the check that the store's totals equal what was filled plus what was ingested.
 */
import { Call, Outcome, closedLoop, quantile, summarize } from "../test/helpers/load";
import { seededRandom } from "../lib/prng";
import { DAY_MS, PROVIDERS, makeRun, runBody } from "./fill";

/** Runs per ingestion batch. */
export const BATCH_RUNS = 20;
/** Share of ingestion requests. */
export const INGEST_SHARE = 0.35;

const iso = (ms: number) => new Date(ms).toISOString();

/** The console's page-load reads, each a URL built at send time (windows end now). */
const READS: Record<string, (base: string, i: number) => string> = {
  "metrics 24 h": (base) => `${base}/telemetry/metrics?start=${iso(Date.now() - DAY_MS)}`,
  "heatmap 7 d": (base) => `${base}/telemetry/heatmap?start=${iso(Date.now() - 7 * DAY_MS)}&end=${iso(Date.now())}`,
  "timeseries 30 d": (base, i) =>
    `${base}/telemetry/timeseries?provider_id=${PROVIDERS[i % PROVIDERS.length]}&start=${iso(Date.now() - 30 * DAY_MS)}&end=${iso(Date.now())}`,
  "pareto 30 d": (base) => `${base}/telemetry/pareto?start=${iso(Date.now() - 30 * DAY_MS)}&end=${iso(Date.now())}`,
  "runs page 1": (base) => `${base}/telemetry/runs?limit=20`,
  sprints: (base) => `${base}/telemetry/finops/sprints?window_days=14&limit=4`,
  "pull requests": (base) => `${base}/telemetry/finops/pull-requests?window_days=14&limit=4`,
  sessions: (base) => `${base}/sessions`,
  providers: (base) => `${base}/providers`,
};
/** BENCH_READS (comma-separated kinds, for diagnosis) narrows the reads; every kind by default. */
const READ_KINDS = process.env.BENCH_READS ? process.env.BENCH_READS.split(",").filter((k) => k in READS) : Object.keys(READS);
export const INGEST_KIND = "ingest (20 runs)";

/**
 * The next call of client `client`: seeded per client, so a run of the benchmark repeats its mix.
 * With `only`, every call is of that one kind (the per-kind cost of `kindCosts`).
 */
function mixedCaller(base: string, only?: string): (client: number, i: number) => Call {
  const rands = new Map<number, () => number>();
  return (client, i) => {
    let rand = rands.get(client);
    if (rand === undefined) {
      rand = seededRandom(1000 + client);
      rands.set(client, rand);
    }
    if (only === INGEST_KIND || (only === undefined && rand() < INGEST_SHARE)) {
      const now = Date.now();
      const runs = Array.from({ length: BATCH_RUNS }, (_, k) => runBody(makeRun(rand, now - k * 7)));
      return { method: "POST", url: `${base}/telemetry/runs`, json: { runs }, tag: INGEST_KIND };
    }
    const kind = only ?? READ_KINDS[Math.floor(rand() * READ_KINDS.length)];
    return { method: "GET", url: READS[kind](base, client + i), tag: kind };
  };
}

export interface KindFigure {
  kind: string;
  requests: number;
  /** Answers per second, whatever the answer. */
  rps: number;
  /** Expected answers (201 for ingestion, 200 for reads) per second. */
  okRps: number;
  p50: number;
  p99: number;
  /** Answers other than the expected 2xx, by status or error. */
  failures: Record<string, number>;
}

export interface MixedResult {
  clients: number;
  measuredS: number;
  requests: number;
  /** Answers per second, whatever the answer (failures included). */
  rps: number;
  /** Expected answers per second: the throughput the goals count. */
  okRps: number;
  p50: number;
  p99: number;
  kinds: KindFigure[];
  /** Runs stored by 201 answers during the whole load (warm-up included). */
  ingestedRuns: number;
  /** Requests that failed or answered an unexpected status (warm-up included). */
  failures: Record<string, number>;
  /**
   * CPU the server processes (and the PostgreSQL backends serving them) used during the measured
   * time, in cores (NaN when not measured).
   */
  serverCores: number;
  /** Of the server process (when one): its main thread's and its other threads' CPU, in cores. */
  mainThreadCores: number;
  otherThreadCores: number;
  /** CPU this (load) process used during the measured time, in cores. */
  clientCores: number;
  /** The server side's CPU split by part (process group, database backends), in cores, when measured. */
  serverParts?: Record<string, number>;
}

function expectedStatus(o: Outcome): boolean {
  return o.tag === INGEST_KIND ? o.status === 201 : o.status === 200;
}

/**
 * `clients` closed-loop keep-alive clients against `base` (…/api/v1) for warmupMs + durationMs; the
 * figures cover the requests sent after the warm-up.
 */
export async function runMixedLoad(
  base: string,
  options: {
    clients: number;
    durationMs: number;
    warmupMs: number;
    /** CPU seconds used so far by the server side (processes and database backends). */
    serverCpuSeconds?: () => Promise<number>;
    /** The main-thread / other-threads split of one server process, when there is one. */
    serverThreadSeconds?: () => { main: number; others: number };
    /** CPU seconds used so far by each named part of the server side (reported per part, in cores). */
    serverCpuParts?: () => Promise<Record<string, number>>;
  },
): Promise<MixedResult> {
  const load = closedLoop(options.clients, mixedCaller(base));
  await new Promise((r) => setTimeout(r, options.warmupMs));
  const serverCpu0 = (await options.serverCpuSeconds?.()) ?? Number.NaN;
  const threads0 = options.serverThreadSeconds?.();
  const parts0 = await options.serverCpuParts?.();
  const clientCpu0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, options.durationMs));
  const serverCpu = ((await options.serverCpuSeconds?.()) ?? Number.NaN) - serverCpu0;
  const threads1 = options.serverThreadSeconds?.();
  const parts1 = await options.serverCpuParts?.();
  const clientUsage = process.cpuUsage(clientCpu0);
  const all = await load.stop();
  const endAt = options.warmupMs + options.durationMs;
  const measured = all.filter((o) => o.at >= options.warmupMs && o.at < endAt);
  const seconds = options.durationMs / 1000;
  const kinds: KindFigure[] = [INGEST_KIND, ...READ_KINDS].map((kind) => {
    const mine = measured.filter((o) => o.tag === kind);
    const ms = mine.map((o) => o.ms);
    return {
      kind,
      requests: mine.length,
      rps: mine.length / seconds,
      okRps: mine.filter(expectedStatus).length / seconds,
      p50: quantile(ms, 0.5),
      p99: quantile(ms, 0.99),
      failures: summarize(mine.filter((o) => !expectedStatus(o))),
    };
  });
  const ms = measured.map((o) => o.ms);
  return {
    clients: options.clients,
    measuredS: seconds,
    requests: measured.length,
    rps: measured.length / seconds,
    okRps: measured.filter(expectedStatus).length / seconds,
    p50: quantile(ms, 0.5),
    p99: quantile(ms, 0.99),
    kinds,
    ingestedRuns: all.filter((o) => o.tag === INGEST_KIND && o.status === 201).length * BATCH_RUNS,
    serverCores: serverCpu / seconds,
    mainThreadCores: threads0 && threads1 ? (threads1.main - threads0.main) / seconds : Number.NaN,
    otherThreadCores: threads0 && threads1 ? (threads1.others - threads0.others) / seconds : Number.NaN,
    clientCores: (clientUsage.user + clientUsage.system) / 1e6 / seconds,
    failures: summarize(all.filter((o) => !expectedStatus(o))),
    serverParts:
      parts0 && parts1 ? Object.fromEntries(Object.keys(parts1).map((name) => [name, (parts1[name] - (parts0[name] ?? 0)) / seconds])) : undefined,
  };
}

/**
 * Each read kind alone: one client, `repeat` calls after a warm-up, the median in ms — what a call
 * costs at this store size without the load.
 */
export async function aloneTimings(base: string, repeat = 3): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const kind of READ_KINDS) {
    const times: number[] = [];
    for (let i = 0; i <= repeat; i++) {
      const t0 = performance.now();
      const res = await fetch(READS[kind](base, i));
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${kind} → ${res.status}`);
      if (i > 0) times.push(performance.now() - t0);
    }
    out.set(kind, quantile(times, 0.5));
  }
  return out;
}

/** Markdown table of a mixed-load result. */
export function mixedTable(r: MixedResult, alone?: Map<string, number>): string {
  const lines = [
    "| kind | requests | answers/s | ok/s | p50 ms | p99 ms | failures | alone ms |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  const fmt = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? "-" : n.toFixed(1));
  for (const k of r.kinds) {
    const failures =
      Object.entries(k.failures)
        .map(([s, n]) => `${n}× ${s}`)
        .join(", ") || "0";
    lines.push(
      `| ${k.kind} | ${k.requests} | ${k.rps.toFixed(0)} | ${k.okRps.toFixed(0)} | ${fmt(k.p50)} | ${fmt(k.p99)} | ${failures} | ${fmt(alone?.get(k.kind))} |`,
    );
  }
  lines.push(`| **all** | ${r.requests} | ${r.rps.toFixed(0)} | **${r.okRps.toFixed(0)}** | ${fmt(r.p50)} | **${fmt(r.p99)}** | | |`);
  lines.push("ok/s: answers with the expected status (201, 200); p50/p99 over every answer, failures included");
  if (alone !== undefined) lines.push("alone ms: the read alone, one client, before the load (median of 3)");
  const split = Number.isNaN(r.mainThreadCores)
    ? ""
    : `; of the server process: main thread ${r.mainThreadCores.toFixed(2)}, other threads (sqlite3 on libuv's pool, V8) ${r.otherThreadCores.toFixed(2)}`;
  lines.push(
    `CPU during the measured time: server processes (with their PostgreSQL backends) ${r.serverCores.toFixed(2)} cores (${((r.serverCores * 1000) / r.rps).toFixed(2)} ms per answer)${split}; load clients ${r.clientCores.toFixed(2)} cores`,
  );
  if (r.serverParts !== undefined) {
    const parts = Object.entries(r.serverParts).map(([name, cores]) => `${name} ${cores.toFixed(2)}`);
    lines.push(`server CPU by part, in cores: ${parts.join(", ")}`);
  }
  return lines.join("\n");
}

/**
 * The totals check: `GET /telemetry/metrics` over a window holding every run answers filled +
 * ingested runs. An overloaded server may still be working off the load's backlog (its calls time
 * out): the check is asked again, for at most `patienceMs`. Returns a line for the report and whether
 * the totals matched.
 */
export async function checkTotals(base: string, sinceMs: number, expected: number, patienceMs = 180_000): Promise<{ ok: boolean; line: string }> {
  const deadline = Date.now() + patienceMs;
  for (;;) {
    const res = await fetch(`${base}/telemetry/metrics?start=${iso(sinceMs)}`);
    const body = (await res.json()) as { total_runs?: number };
    if (res.status === 200) {
      return body.total_runs === expected
        ? { ok: true, line: `totals match: metrics total_runs ${body.total_runs} = filled + ingested` }
        : { ok: false, line: `TOTALS DIFFER: metrics total_runs ${String(body.total_runs)}, filled + ingested ${expected}` };
    }
    if (Date.now() > deadline) return { ok: false, line: `totals not checked: metrics answered ${res.status} until the deadline` };
    await new Promise((r) => setTimeout(r, 5000));
  }
}

export interface KindCost {
  kind: string;
  /** Share of the mixed load's requests that are of this kind. */
  share: number;
  /** Expected answers per second with every client sending this kind only. */
  okRps: number;
  /** Server CPU (processes and database backends) per answer, in ms. */
  cpuMsPerAnswer: number;
}

/**
 * What each kind of the mixed load costs the server: `clients` closed-loop clients sending only that
 * kind for `durationMs` (after a 1 s warm-up), the server's CPU per answer; also the runs its
 * ingestion calls stored (for the totals check). Weighted by the kinds'
 * shares in the mix, it gives the CPU of a mixed answer, and the ceiling of any mixed throughput on
 * `cores` cores (cores ÷ weighted CPU per answer).
 */
export async function kindCosts(
  base: string,
  options: { clients: number; durationMs: number; serverCpuSeconds: () => Promise<number> },
): Promise<{ kinds: KindCost[]; ingestedRuns: number }> {
  const out: KindCost[] = [];
  let ingestedRuns = 0;
  for (const kind of [INGEST_KIND, ...READ_KINDS]) {
    const load = closedLoop(options.clients, mixedCaller(base, kind));
    await new Promise((r) => setTimeout(r, 1000));
    const cpu0 = await options.serverCpuSeconds();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, options.durationMs));
    const cpu = (await options.serverCpuSeconds()) - cpu0;
    const seconds = (performance.now() - t0) / 1000;
    const all = await load.stop();
    const measured = all.filter((o) => o.at >= 1000 && o.at < 1000 + options.durationMs);
    const ok = measured.filter(expectedStatus).length;
    ingestedRuns += all.filter((o) => o.tag === INGEST_KIND && o.status === 201).length * BATCH_RUNS;
    out.push({
      kind,
      share: kind === INGEST_KIND ? INGEST_SHARE : (1 - INGEST_SHARE) / READ_KINDS.length,
      okRps: ok / seconds,
      cpuMsPerAnswer: measured.length > 0 ? (cpu * 1000) / measured.length : Number.NaN,
    });
  }
  return { kinds: out, ingestedRuns };
}

/** Markdown table of `kindCosts`, with the weighted CPU of a mixed answer and the ceiling it sets. */
export function kindCostTable(costs: KindCost[], cores: number): string {
  const lines = ["| kind | share of the mix | alone ok/s | server CPU ms per answer | weighted ms |", "| --- | --- | --- | --- | --- |"];
  let weighted = 0;
  for (const c of costs) {
    weighted += c.share * c.cpuMsPerAnswer;
    lines.push(
      `| ${c.kind} | ${(c.share * 100).toFixed(1)}% | ${c.okRps.toFixed(0)} | ${c.cpuMsPerAnswer.toFixed(2)} | ${(c.share * c.cpuMsPerAnswer).toFixed(2)} |`,
    );
  }
  lines.push(`| **mixed answer** | 100% | | **${weighted.toFixed(2)}** | |`);
  lines.push(
    `ceiling on ${cores} cores, whatever the concurrency: ${((cores * 1000) / weighted).toFixed(0)} mixed answers/s (the load clients share these cores too)`,
  );
  return lines.join("\n");
}
