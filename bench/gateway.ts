/**
 * Gateway overhead: requests/s, latency and server CPU time per request of GET /api/v1/providers
 * (a) embedded — gateway and providers in one process — and (b) gateway and providers in two
 * processes over NATS, next to a bare node:http server returning the same bytes and a node:http
 * handler making the same single broker.call (bench/plain-http-gateway.ts), all in this one run.
 * (a) runs twice: as configured (GET /metrics on: every request timed and counted, every broker call
 * counted, runtime-contract §27) and with CONSOLE_MCP_METRICS=off, so the cost of the metrics is
 * the ratio of the two in the same rounds.
 *
 * The machine is shared and has 2 cores (autocannon runs on them too), so the four servers are
 * loaded in turn, in a rotating order, for BENCH_ROUNDS rounds; ratios are taken within each round
 * and reported as the median with the spread (min–max) over the rounds. CPU ms per request is the
 * servers' own user + system time (/proc) divided by the requests answered: less sensitive to the
 * other load than requests/s.
 *
 * BENCH_CPU_PROF=<dir> starts the gateway processes with `node --cpu-prof` and prints a summary of
 * each profile (figures taken under the profiler are slower; do not compare them with a plain run).
 * BENCH_COMPARE_WITH=<checkout> adds that checkout's embedded server and its gateway and providers
 * over a NATS server of their own (e.g. the previous commit, from `git archive`, with node_modules
 * linked) to the same rounds, so a change is measured before and after in one run.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
// autocannon ships no type declarations.
const autocannon = require("autocannon") as (opts: Record<string, unknown>) => Promise<AutocannonResult>;
import { printProfiles, profileNodeArgs } from "./cpu-profile";
import { Child, cpuTimeMs, freePort, SERVER_ENTRY, SERVER_ENV, spawnBareServer, spawnChild, spawnServer, waitForHttp } from "./processes";

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  non2xx: number;
}

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PROFILE_DIR = process.env.BENCH_CPU_PROF;
const COMPARE_WITH = process.env.BENCH_COMPARE_WITH;
/**
 * The services of the embedded servers ((a), (a) without metrics, and the compared checkout's):
 * `api,providers` by default; BENCH_EMBEDDED_SERVICES=all runs every service, as `npm start` does
 * (its timers, key polls and health checks are then part of what each request shares the process with).
 */
const EMBEDDED_SERVICES = process.env.BENCH_EMBEDDED_SERVICES === "all" ? "" : (process.env.BENCH_EMBEDDED_SERVICES ?? "api,providers");
/** The name of the embedded server with metrics off. */
const METRICS_OFF = "(a) embedded, CONSOLE_MCP_METRICS=off";

interface Server {
  name: string;
  url: string;
  /** The processes whose CPU time a request costs. */
  processes: Child[];
}

interface Figure {
  rps: number;
  p50: number;
  p99: number;
  /** Server CPU ms per answered request, NaN where /proc is not available. */
  cpuMsPerRequest: number;
}

function cpuOf(server: Server): number | undefined {
  let sum = 0;
  for (const c of server.processes) {
    const ms = cpuTimeMs(c.pid);
    if (ms === undefined) return undefined;
    sum += ms;
  }
  return sum;
}

async function load(server: Server): Promise<Figure> {
  await autocannon({ url: server.url, connections: CONNECTIONS, duration: 2 }); // warm-up
  const cpuBefore = cpuOf(server);
  const r = await autocannon({ url: server.url, connections: CONNECTIONS, duration: DURATION_S });
  const cpuAfter = cpuOf(server);
  if (r.errors > 0 || r.non2xx > 0) throw new Error(`${server.name}: ${r.errors} errors, ${r.non2xx} non-2xx answers`);
  const cpu = cpuBefore === undefined || cpuAfter === undefined ? Number.NaN : (cpuAfter - cpuBefore) / r.requests.total;
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, cpuMsPerRequest: cpu };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** `median (min–max)` of a list of ratios. */
function spread(xs: number[], digits = 2): string {
  if (xs.length === 1) return `${xs[0].toFixed(digits)}x`;
  return `${median(xs).toFixed(digits)}x (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
}

/**
 * A private nats-server and, over it, a providers process and a gateway process started from `entry`
 * (this checkout's server entrypoint or another's); resolves once the gateway answers
 * GET /api/v1/providers. The processes are pushed onto `children` (stopped by the caller).
 */
async function startNatsPair(
  entry: string,
  tag: string,
  providersNodeArgs: string[],
  gatewayNodeArgs: string[],
  dir: string,
  children: Child[],
): Promise<Omit<Server, "name">> {
  const natsPort = await freePort();
  const nats = spawnChild("nats-server", ["-a", "127.0.0.1", "-p", String(natsPort)]);
  children.push(nats);
  const transporter = `nats://127.0.0.1:${natsPort}`;
  const dbPath = path.join(dir, `${tag}.db`);
  const providers = spawnChild(process.execPath, [...providersNodeArgs, entry], {
    ...SERVER_ENV,
    SERVICES: "providers",
    TRANSPORTER: transporter,
    NODE_ID: `bench-${tag}-providers`,
    CONSOLE_MCP_DB_PATH: dbPath,
  });
  children.push(providers);
  const gatewayPort = await freePort();
  const gateway = spawnChild(process.execPath, [...gatewayNodeArgs, entry], {
    ...SERVER_ENV,
    SERVICES: "api",
    TRANSPORTER: transporter,
    NODE_ID: `bench-${tag}-gateway`,
    CONSOLE_MCP_SERVER_PORT: String(gatewayPort),
    CONSOLE_MCP_DB_PATH: dbPath,
  });
  children.push(gateway);
  const url = `http://127.0.0.1:${gatewayPort}/api/v1/providers`;
  await waitForHttp(url, 30000);
  return { url, processes: [gateway, providers, nats] };
}

function profileArgs(name: string): string[] {
  return profileNodeArgs(PROFILE_DIR, name);
}

export async function benchGateway(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-gateway-"));
  const children: Child[] = [];
  try {
    // (a) embedded
    const embeddedPort = await freePort();
    const embedded = spawnServer(
      { SERVICES: EMBEDDED_SERVICES, CONSOLE_MCP_SERVER_PORT: String(embeddedPort), CONSOLE_MCP_DB_PATH: path.join(dir, "embedded.db") },
      profileArgs("embedded"),
    );
    children.push(embedded);
    const embeddedUrl = `http://127.0.0.1:${embeddedPort}/api/v1/providers`;
    await waitForHttp(embeddedUrl);
    const bytes = await (await fetch(embeddedUrl)).text();

    // (a) without metrics (CONSOLE_MCP_METRICS=off): no request timed, no broker call counted
    const offPort = await freePort();
    const off = spawnServer(
      {
        SERVICES: EMBEDDED_SERVICES,
        CONSOLE_MCP_SERVER_PORT: String(offPort),
        CONSOLE_MCP_DB_PATH: path.join(dir, "metrics-off.db"),
        CONSOLE_MCP_METRICS: "off",
      },
      profileArgs("embedded-metrics-off"),
    );
    children.push(off);
    const offUrl = `http://127.0.0.1:${offPort}/api/v1/providers`;
    await waitForHttp(offUrl);
    if ((await (await fetch(offUrl)).text()) !== bytes) throw new Error("metrics-off bytes differ");
    if ((await fetch(`http://127.0.0.1:${offPort}/metrics`)).status !== 404) throw new Error("metrics are not off");

    // baseline: bare node:http with the same bytes
    const barePort = await freePort();
    const bare = spawnBareServer(barePort, bytes);
    children.push(bare);
    const bareUrl = `http://127.0.0.1:${barePort}/api/v1/providers`;
    await waitForHttp(bareUrl);
    if ((await (await fetch(bareUrl)).text()) !== bytes) throw new Error("baseline bytes differ");

    // what moleculer-web costs: the same action behind a hand-written node:http handler
    const plainPort = await freePort();
    const plain = spawnChild(process.execPath, [
      ...profileArgs("reference"),
      "--import",
      "tsx",
      path.join(__dirname, "plain-http-gateway.ts"),
      String(plainPort),
      path.join(dir, "plain.db"),
    ]);
    children.push(plain);
    const plainUrl = `http://127.0.0.1:${plainPort}/api/v1/providers`;
    await waitForHttp(plainUrl);
    if ((await (await fetch(plainUrl)).text()) !== bytes) throw new Error("plain gateway bytes differ");

    // (b) gateway and providers over NATS
    const nats = await startNatsPair(SERVER_ENTRY, "nats", profileArgs("nats-providers"), profileArgs("nats-gateway"), dir, children);
    if ((await (await fetch(nats.url)).text()) !== bytes) throw new Error("NATS gateway bytes differ");

    const servers: Server[] = [
      { name: "bare node:http", url: bareUrl, processes: [bare] },
      { name: "(a) embedded", url: embeddedUrl, processes: [embedded] },
      { name: "node:http + broker.call (reference)", url: plainUrl, processes: [plain] },
      { ...nats, name: "(b) over NATS (gateway + providers + nats-server)" },
      { name: METRICS_OFF, url: offUrl, processes: [off] },
    ];

    // The same embedded server from another checkout, for a before/after comparison in this run.
    if (COMPARE_WITH !== undefined) {
      const otherPort = await freePort();
      const other = spawnChild(process.execPath, [path.resolve(COMPARE_WITH, "bin/console-mcp-server.js")], {
        ...SERVER_ENV,
        SERVICES: EMBEDDED_SERVICES,
        CONSOLE_MCP_SERVER_PORT: String(otherPort),
        CONSOLE_MCP_DB_PATH: path.join(dir, "other.db"),
      });
      children.push(other);
      const otherUrl = `http://127.0.0.1:${otherPort}/api/v1/providers`;
      await waitForHttp(otherUrl);
      if ((await (await fetch(otherUrl)).text()) !== bytes) throw new Error(`${COMPARE_WITH}: bytes differ`);
      servers.push({ name: `(a) embedded, ${COMPARE_WITH}`, url: otherUrl, processes: [other] });
      // and its pair over NATS, on a NATS server of its own (one namespace: the two clusters must not meet)
      const otherEntry = path.resolve(COMPARE_WITH, "bin/console-mcp-server.js");
      const otherNats = await startNatsPair(otherEntry, "other-nats", [], [], dir, children);
      if ((await (await fetch(otherNats.url)).text()) !== bytes) throw new Error(`${COMPARE_WITH} over NATS: bytes differ`);
      servers.push({ ...otherNats, name: `(b) over NATS, ${COMPARE_WITH}` });
    }
    const figures = new Map<string, Figure[]>(servers.map((s) => [s.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      // A rotating order, so no server is always the one loaded first or last.
      for (let i = 0; i < servers.length; i++) {
        const server = servers[(i + round) % servers.length];
        (figures.get(server.name) as Figure[]).push(await load(server));
      }
    }

    const [bareF, embeddedF, plainF, natsF] = servers.map((s) => figures.get(s.name) as Figure[]);
    const perRound = (a: Figure[], b: Figure[]) => a.map((f, i) => f.rps / b[i].rps);
    console.log(
      `GET /api/v1/providers, ${CONNECTIONS} connections, ${ROUNDS} round(s) of ${DURATION_S} s per server, ` +
        `${bytes.length} bytes per answer; medians over the rounds, spread (min–max) of the per-round ratios`,
    );
    console.log("| server | req/s | p50 ms | p99 ms | server CPU µs/request | req/s ratio to bare |");
    console.log("| --- | --- | --- | --- | --- | --- |");
    for (const server of servers) {
      const fs_ = figures.get(server.name) as Figure[];
      const cpu = median(fs_.map((f) => f.cpuMsPerRequest));
      console.log(
        `| ${server.name} | ${median(fs_.map((f) => f.rps)).toFixed(0)} | ${median(fs_.map((f) => f.p50))} | ` +
          `${median(fs_.map((f) => f.p99))} | ${Number.isNaN(cpu) ? "n/a" : (cpu * 1000).toFixed(0)} | ` +
          `${spread(perRound(fs_, bareF))} |`,
      );
    }
    // Inverted, so both columns read the same way (higher is better): b's CPU per request over a's.
    const cpuRatio = (a: Figure[], b: Figure[]) => median(b.map((f) => f.cpuMsPerRequest)) / median(a.map((f) => f.cpuMsPerRequest));
    console.log("\n| ratio | req/s, per round | inverse of CPU per request |");
    console.log("| --- | --- | --- |");
    console.log(`| (a) embedded / reference (goal >= 0.85x) | ${spread(perRound(embeddedF, plainF))} | ${cpuRatio(embeddedF, plainF).toFixed(2)}x |`);
    console.log(
      `| (b) over NATS / (a) embedded (goal >= 0.5x) | ${spread(perRound(natsF, embeddedF))} | ${cpuRatio(natsF, embeddedF).toFixed(2)}x |`,
    );
    console.log(`| (a) embedded / bare | ${spread(perRound(embeddedF, bareF))} | ${cpuRatio(embeddedF, bareF).toFixed(2)}x |`);
    const offF = figures.get(METRICS_OFF) as Figure[];
    console.log(
      `| (a) embedded / (a) with CONSOLE_MCP_METRICS=off (the cost of the metrics) | ${spread(perRound(embeddedF, offF))} | ${cpuRatio(embeddedF, offF).toFixed(2)}x |`,
    );
    if (COMPARE_WITH !== undefined) {
      const otherF = figures.get(servers[5].name) as Figure[];
      const otherNatsF = figures.get(servers[6].name) as Figure[];
      console.log(
        `| (a) embedded / (a) embedded of ${COMPARE_WITH} | ${spread(perRound(embeddedF, otherF))} | ${cpuRatio(embeddedF, otherF).toFixed(2)}x |`,
      );
      console.log(`| (a) embedded of ${COMPARE_WITH} / reference | ${spread(perRound(otherF, plainF))} | ${cpuRatio(otherF, plainF).toFixed(2)}x |`);
      console.log(
        `| (b) over NATS / (b) over NATS of ${COMPARE_WITH} | ${spread(perRound(natsF, otherNatsF))} | ${cpuRatio(natsF, otherNatsF).toFixed(2)}x |`,
      );
      console.log(
        `| (b) over NATS of ${COMPARE_WITH} / (a) embedded of ${COMPARE_WITH} | ${spread(perRound(otherNatsF, otherF))} | ${cpuRatio(otherNatsF, otherF).toFixed(2)}x |`,
      );
    }
  } finally {
    // SIGTERM: the servers stop cleanly, so `--cpu-prof` writes its profiles.
    await Promise.all(children.map((c) => c.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (PROFILE_DIR !== undefined) printProfiles(PROFILE_DIR, ["embedded", "embedded-metrics-off", "reference", "nats-gateway", "nats-providers"]);
}
