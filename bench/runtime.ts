/**
 * `npm run bench -- runtime` (issue 9): the MCP runtime (runtime-contract §18, §21) side by side in
 * one run with a direct MCP SDK client and with mcp-hub 4.2.1 (the closest peer; a devDependency for
 * this benchmark only), all on `@modelcontextprotocol/server-everything`'s `echo` tool:
 *
 * - direct: an SDK `Client` over `StdioClientTransport` in this process (the baseline);
 * - (a) embedded: the real server entrypoint, every service in one process, `POST
 *   /api/v1/servers/{id}/tools/echo/call` over keep-alive HTTP;
 * - (b) over NATS: a gateway process (SERVICES=api) and one with every other service (the runtime
 *   among them) over a private nats-server, the same call;
 * - mcp-hub: `POST /api/servers/tools` of its REST API. Its boot fetches a marketplace list from the
 *   network unless its cache (`$XDG_DATA_HOME/mcp-hub/cache/registry.json`) is fresh and non-empty:
 *   the benchmark writes one, so it runs offline, with HOME and the XDG directories in a temp dir.
 *
 * 1. Tool calls: p50/p99 of BENCH_RUNTIME_CALLS sequential calls (default 2,000, after 200 warm-up
 *    calls) with one caller, then calls/s with 16 concurrent callers (BENCH_RUNTIME_CALLERS) for
 *    BENCH_DURATION_S seconds (default 5, after a 1 s warm-up); direct's 16 callers are 16
 *    outstanding requests on its one client. The manager's CPU per call (our processes, mcp-hub;
 *    for direct, this process) and the MCP server's own. BENCH_ROUNDS rounds (default 1) in a rotating
 *    order; medians over the rounds, ratios taken within a round.
 * 2. Start → running: median of BENCH_RUNTIME_STARTS (default 5) starts of each (direct: spawn +
 *    `initialize` of a new client; ours: `POST …/process/start` answered `running`; mcp-hub: `POST
 *    /api/servers/start` after a stop, answered `connected`), then BENCH_RUNTIME_SERVERS (default 20)
 *    catalog entries of server-everything started at once (concurrent starts) until all run.
 * 3. Memory: the embedded backend's RSS (its own process, not its children) idle after boot, with one
 *    server and with all of them running (delta per server); mcp-hub's RSS booted with one and with
 *    all of them in its config.
 * 4. Where (a)'s time goes: the same sequential calls of cheaper requests of the same gateway (the
 *    HTTP floor, a catalog read, a state read, the ingestion of the telemetry run every tool call
 *    writes before it answers) with the server's main-thread and other-thread CPU per request; and
 *    that store work alone in this process (RunIngestion of the call's run, the lease read, an empty
 *    transaction) with its SQL statement count. BENCH_CPU_PROF=<dir> profiles (a) and (b)'s
 *    processes and prints a summary of each profile (figures under the profiler are slower).
 *
 * Every process is stopped at the end; the server-everything processes of the run (identified by
 * their working directory, the run's temp dir) are counted before and after. Needs `nats-server`.
 */
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { createKnex } from "../lib/store/knex";
import { migrateToLatest } from "../lib/store/migrate";
import { toolRun } from "../services/runtime/views";
import { RunIngestion } from "../services/telemetry/ingest";
import { quantile, send } from "../test/helpers/load";
import { printProfiles, profileNodeArgs } from "./cpu-profile";
import { Child, freePort, processCpuSeconds, spawnChild, spawnServer, threadCpuSeconds, waitForHttp } from "./processes";

const CALLS = Number(process.env.BENCH_RUNTIME_CALLS ?? 2000);
const WARMUP_CALLS = Math.max(1, Math.round(CALLS / 10));
const CALLERS = Number(process.env.BENCH_RUNTIME_CALLERS ?? 16);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const STARTS = Number(process.env.BENCH_RUNTIME_STARTS ?? 5);
const SERVERS = Math.max(2, Number(process.env.BENCH_RUNTIME_SERVERS ?? 20));
const PROFILE_DIR = process.env.BENCH_CPU_PROF;
/** Another checkout of this project: the in-process store figures are measured with its modules too, side by side. */
const COMPARE_WITH = process.env.BENCH_COMPARE_WITH;
/** `store`: only the in-process store figures (no servers, no mcp-hub). */
const ONLY = process.env.BENCH_RUNTIME_ONLY;

const PROJECT_ROOT = path.resolve(__dirname, "..");
const EVERYTHING = path.join(PROJECT_ROOT, "node_modules/@modelcontextprotocol/server-everything/dist/index.js");
const MCP_HUB = path.join(PROJECT_ROOT, "node_modules/mcp-hub/dist/cli.js");
const ECHO_ARGS = { message: "hi" };
const ECHO_TEXT = "Echo: hi";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => quantile(xs, 0.5);

// -------------------------------------------------------------------------------------------------
// /proc

/** Resident set size of a process in MiB (VmRSS of /proc/<pid>/status); NaN when unreadable. */
function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m === null ? Number.NaN : Number(m[1]) / 1024;
  } catch {
    return Number.NaN;
  }
}

/** Live processes whose command line mentions server-everything: all of them, and those whose working directory is under `dir`. */
function everythingProcesses(dir: string): { all: number; ours: number[] } {
  let all = 0;
  const ours: number[] = [];
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (!fs.readFileSync(`/proc/${name}/cmdline`, "utf8").includes("server-everything")) continue;
      if (/\) Z /.test(fs.readFileSync(`/proc/${name}/stat`, "utf8"))) continue;
      all++;
      if (fs.readlinkSync(`/proc/${name}/cwd`).startsWith(dir)) ours.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return { all, ours };
}

/** Pids of the live children of `ppid` whose command line mentions server-everything. */
function everythingChildren(ppid: number | undefined): number[] {
  const pids: number[] = [];
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) !== ppid || fields[0] === "Z") continue;
      if (fs.readFileSync(`/proc/${name}/cmdline`, "utf8").includes("server-everything")) pids.push(Number(name));
    } catch {
      // gone
    }
  }
  return pids;
}

// -------------------------------------------------------------------------------------------------
// Targets

/** One caller's way to make the echo call; rejects on anything but a successful echo answer. */
type Call = () => Promise<void>;

interface Target {
  name: string;
  /** A new caller (a keep-alive connection of its own for HTTP; the one shared client for direct). */
  caller(): Call;
  /** CPU seconds the manager has used so far (our processes, mcp-hub; for direct, this process: the SDK client). */
  managerCpu(): number;
  /** Pid of the server-everything process the calls reach. */
  mcpPid(): number | undefined;
}

/** A caller posting `body` to `url` on a keep-alive connection of its own. */
function httpCaller(url: string, body: unknown): Call {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return async () => {
    const o = await send(agent, { method: "POST", url, json: body }, 0);
    if (o.status !== 200) throw new Error(`POST ${url}: ${o.status === 0 ? o.error : o.status}`);
  };
}

/** POST with a JSON body (or none); the status and the parsed answer. */
async function post(url: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: "POST",
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { text };
  }
  return { status: res.status, json };
}

/** Checks that an echo answer (a CallToolResult) says what the server everything's echo says. */
function checkEcho(result: unknown, who: string): void {
  const content = (result as { content?: { text?: string }[] } | undefined)?.content;
  if (content?.[0]?.text !== ECHO_TEXT) throw new Error(`${who}: unexpected echo answer ${JSON.stringify(result)}`);
}

/** A direct SDK client of server-everything, spawned with its working directory in `dir`. */
async function connectDirect(dir: string): Promise<{ client: Client; transport: StdioClientTransport }> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [EVERYTHING, "stdio"], cwd: dir, stderr: "ignore" });
  const client = new Client({ name: "bench-runtime", version: "1.0.0" });
  await client.connect(transport);
  return { client, transport };
}

function directTarget(client: Client, transport: StdioClientTransport): Target {
  const call: Call = async () => {
    const r = await client.callTool({ name: "echo", arguments: ECHO_ARGS });
    if (r.isError === true) throw new Error("direct: echo failed");
  };
  return {
    name: "direct SDK client",
    caller: () => call,
    managerCpu: () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    },
    mcpPid: () => transport.pid ?? undefined,
  };
}

/** Our backend: base = …/api/v1; the echo call of server `id`. */
function ourTarget(name: string, base: string, id: string, processes: Child[], mcpPid: number): Target {
  return {
    name,
    caller: () => httpCaller(`${base}/servers/${id}/tools/echo/call`, { arguments: ECHO_ARGS }),
    managerCpu: () => processes.reduce((sum, p) => sum + p.cpuSeconds(), 0),
    mcpPid: () => mcpPid,
  };
}

function hubTarget(hub: Child, url: string, serverName: string): Target {
  return {
    name: "mcp-hub 4.2.1",
    caller: () => httpCaller(`${url}/api/servers/tools`, { server_name: serverName, tool: "echo", arguments: ECHO_ARGS }),
    managerCpu: () => hub.cpuSeconds(),
    mcpPid: () => everythingChildren(hub.pid)[0],
  };
}

// -------------------------------------------------------------------------------------------------
// Measurements

interface CallFigure {
  p50: number;
  p99: number;
  /** Manager / MCP server CPU µs per call, one caller. */
  managerUs: number;
  mcpUs: number;
  /** Calls/s with CALLERS concurrent callers, and the CPU µs per call then. */
  rps: number;
  managerUsLoaded: number;
  mcpUsLoaded: number;
}

/** p50/p99 (ms) and CPU per call of CALLS sequential calls, after WARMUP_CALLS. */
async function sequential(
  call: Call,
  managerCpu: () => number,
  mcpPid: number | undefined,
): Promise<{ p50: number; p99: number; managerUs: number; mcpUs: number }> {
  for (let i = 0; i < WARMUP_CALLS; i++) await call();
  const manager0 = managerCpu();
  const mcp0 = processCpuSeconds(mcpPid);
  const ms: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    await call();
    ms.push(performance.now() - t0);
  }
  return {
    p50: quantile(ms, 0.5),
    p99: quantile(ms, 0.99),
    managerUs: ((managerCpu() - manager0) / CALLS) * 1e6,
    mcpUs: ((processCpuSeconds(mcpPid) - mcp0) / CALLS) * 1e6,
  };
}

/** Calls/s of CALLERS closed-loop callers over DURATION_S after a 1 s warm-up, and the CPU per call. */
async function concurrent(target: Target): Promise<{ rps: number; managerUs: number; mcpUs: number }> {
  const callers = Array.from({ length: CALLERS }, () => target.caller());
  let done = 0;
  let stop = false;
  let failure: unknown = null;
  const loops = callers.map(async (call) => {
    while (!stop) {
      try {
        await call();
      } catch (err) {
        failure ??= err;
        stop = true;
      }
      done++;
    }
  });
  await sleep(1000);
  const n0 = done;
  const manager0 = target.managerCpu();
  const mcp0 = processCpuSeconds(target.mcpPid());
  const t0 = performance.now();
  await sleep(DURATION_S * 1000);
  const n = done - n0;
  const seconds = (performance.now() - t0) / 1000;
  const managerUs = ((target.managerCpu() - manager0) / n) * 1e6;
  const mcpUs = ((processCpuSeconds(target.mcpPid()) - mcp0) / n) * 1e6;
  stop = true;
  await Promise.all(loops);
  if (failure !== null) throw failure;
  return { rps: n / seconds, managerUs, mcpUs };
}

async function measureCalls(target: Target): Promise<CallFigure> {
  const seq = await sequential(target.caller(), () => target.managerCpu(), target.mcpPid());
  const conc = await concurrent(target);
  return { ...seq, rps: conc.rps, managerUsLoaded: conc.managerUs, mcpUsLoaded: conc.mcpUs };
}

/**
 * p50 (ms) of `n` sequential requests made by `call` after a warm-up of n/10, and the CPU µs per
 * request of `server`'s main (event-loop) thread and of its other threads (libuv's pool: sqlite3; V8).
 */
async function stageOf(n: number, call: Call, server: Child): Promise<{ p50: number; mainUs: number; otherUs: number }> {
  for (let i = 0; i < Math.max(1, n / 10); i++) await call();
  const cpu0 = server.threadCpuSeconds();
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call();
    ms.push(performance.now() - t0);
  }
  const cpu1 = server.threadCpuSeconds();
  return { p50: quantile(ms, 0.5), mainUs: ((cpu1.main - cpu0.main) / n) * 1e6, otherUs: ((cpu1.others - cpu0.others) / n) * 1e6 };
}

/** A keep-alive caller of any request, failing on a status other than `expect`. */
function requestCaller(method: "GET" | "POST", url: string, json: unknown, expect: number): Call {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return async () => {
    const o = await send(agent, { method, url, json }, 0);
    if (o.status !== expect) throw new Error(`${method} ${url}: ${o.status === 0 ? o.error : o.status}`);
  };
}

/** The telemetry run the runtime writes for one successful echo call (§21), as telemetry.ingest receives it. */
function echoRun(): Record<string, unknown> {
  return toolRun({
    serverId: "everything",
    tool: "echo",
    startedAtMs: Date.now(),
    durationMs: 1,
    status: "success",
    usage: { input_tokens: 0, output_tokens: 0, cost_usd: null },
    sessionId: null,
    client: null,
    argumentsBytes: JSON.stringify(ECHO_ARGS).length,
    resultBytes: 50,
    error: null,
  });
}

interface InProcessFigure {
  label: string;
  /** The build it was measured with: "this build" or BENCH_COMPARE_WITH's directory. */
  build: string;
  p50: number;
  mainUs: number;
  otherUs: number;
  /** SQL statements per operation. */
  statements: number;
}

/** The store modules the in-process figures use, of this checkout or of BENCH_COMPARE_WITH's. */
interface StoreBuild {
  name: string;
  createKnex: typeof createKnex;
  migrateToLatest: typeof migrateToLatest;
  RunIngestion: typeof RunIngestion;
}

const THIS_BUILD: StoreBuild = { name: "this build", createKnex, migrateToLatest, RunIngestion };

/** The same modules loaded from another checkout of this project (its own sources, this run's node_modules). */
async function buildAt(dir: string): Promise<StoreBuild> {
  const root = path.resolve(dir);
  const load = async <T>(file: string): Promise<T> => (await import(path.join(root, file))) as T;
  const knexModule = await load<{ createKnex: typeof createKnex }>("lib/store/knex.ts");
  const migrate = await load<{ migrateToLatest: typeof migrateToLatest }>("lib/store/migrate.ts");
  const ingest = await load<{ RunIngestion: typeof RunIngestion }>("services/telemetry/ingest.ts");
  return { name: root, createKnex: knexModule.createKnex, migrateToLatest: migrate.migrateToLatest, RunIngestion: ingest.RunIngestion };
}

/** Rounds of the in-process figures: each build measures each operation once per round, the order of the builds alternating. */
const IN_PROCESS_ROUNDS = 4;

/**
 * The store work of one tool call without HTTP or broker, in this process on a SQLite file of its
 * own under `dir` per build (the server's settings: WAL, one writer): the ingestion of the call's
 * telemetry run (RunIngestion, as telemetry.ingest does it), a one-row read on the writer (the lease
 * read that finds the owner before each call) and an empty transaction; p50, this process's CPU per
 * operation and the SQL statements each sends. With several builds, each operation is measured in
 * IN_PROCESS_ROUNDS rounds of n / rounds operations per build, alternating which build goes first,
 * so both see the same load of a shared machine.
 */
async function storeWorkInProcess(dir: string, n: number, builds: readonly StoreBuild[]): Promise<InProcessFigure[]> {
  const opened = builds.map((build, b) => ({ build, knex: build.createKnex({ dbUrl: null, dbPath: path.join(dir, `in-process-${b}.db`) }) }));
  try {
    const stores = [];
    for (const { build, knex } of opened) {
      await build.migrateToLatest(knex);
      const counter = { statements: 0 };
      knex.on("query", () => counter.statements++);
      const ingestion = new build.RunIngestion(knex, 1);
      const ops: [string, () => Promise<unknown>][] = [
        ["RunIngestion.ingest of the call's run", () => ingestion.ingest({ runs: [echoRun()] })],
        ["one-row read on the writer (the lease read)", () => knex("runtime_leases").where({ server_id: "everything" }).first()],
        ["empty transaction", () => knex.transaction(async () => undefined)],
      ];
      stores.push({ build, counter, ops });
    }
    const rounds = builds.length > 1 ? IN_PROCESS_ROUNDS : 1;
    const perRound = Math.max(1, Math.round(n / rounds));
    const figures: InProcessFigure[] = [];
    for (let o = 0; o < stores[0].ops.length; o++) {
      const acc = stores.map(() => ({ ms: [] as number[], main: 0, others: 0, statements: 0 }));
      for (const store of stores) for (let i = 0; i < Math.max(1, n / 10); i++) await store.ops[o][1]();
      for (let r = 0; r < rounds; r++) {
        const order = stores.map((_, k) => (r % 2 === 0 ? k : stores.length - 1 - k));
        for (const k of order) {
          const { counter, ops } = stores[k];
          const op = ops[o][1];
          counter.statements = 0;
          const cpu0 = threadCpuSeconds(process.pid);
          for (let i = 0; i < perRound; i++) {
            const t0 = performance.now();
            await op();
            acc[k].ms.push(performance.now() - t0);
          }
          const cpu1 = threadCpuSeconds(process.pid);
          acc[k].main += cpu1.main - cpu0.main;
          acc[k].others += cpu1.others - cpu0.others;
          acc[k].statements += counter.statements;
        }
      }
      stores.forEach((store, k) => {
        const done = acc[k].ms.length;
        figures.push({
          label: store.ops[o][0],
          build: store.build.name,
          p50: quantile(acc[k].ms, 0.5),
          mainUs: (acc[k].main / done) * 1e6,
          otherUs: (acc[k].others / done) * 1e6,
          statements: acc[k].statements / done,
        });
      });
    }
    return figures;
  } finally {
    await Promise.all(opened.map(({ knex }) => knex.destroy()));
  }
}

/** The builds of the in-process figures: this one, and BENCH_COMPARE_WITH's when set. */
async function inProcessBuilds(): Promise<StoreBuild[]> {
  return COMPARE_WITH === undefined ? [THIS_BUILD] : [THIS_BUILD, await buildAt(COMPARE_WITH)];
}

/** Prints the in-process figures; with a second build, each row of it follows this build's, with the ratios this / it. */
function printInProcess(figures: readonly InProcessFigure[], n: number, builds: number): void {
  const compared = builds > 1;
  console.log(
    `\nthe same store work in this process (no HTTP, no broker), SQLite file of its own, ${n} sequential operations` +
      (compared ? ` per build, in ${IN_PROCESS_ROUNDS} alternating rounds; ratios = this build / ${COMPARE_WITH}` : ""),
  );
  const head = ["operation", ...(compared ? ["build"] : []), "p50 ms", "CPU µs/op: main thread", "other threads", "SQL statements"];
  if (compared) head.push("p50 ratio", "main-thread CPU ratio");
  const row = (cells: string[]) => console.log(`| ${cells.join(" | ")} |`);
  row(head);
  row(head.map(() => "---"));
  for (let i = 0; i < figures.length; i += builds) {
    for (let k = 0; k < builds; k++) {
      const f = figures[i + k];
      const cells = [f.label, ...(compared ? [f.build] : []), f2(f.p50), f0(f.mainUs), f0(f.otherUs), f1(f.statements)];
      if (compared) cells.push(k === 0 ? "" : `${f2(figures[i].p50 / f.p50)}x`, k === 0 ? "" : `${f2(figures[i].mainUs / f.mainUs)}x`);
      row(cells);
    }
  }
}

/** BENCH_RUNTIME_ONLY=store: the in-process store figures alone, BENCH_RUNTIME_CALLS / 4 operations (at least 100). */
async function benchStoreWorkOnly(): Promise<void> {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "bench-runtime-store-")));
  try {
    const n = Math.max(100, Math.round(CALLS / 4));
    const builds = await inProcessBuilds();
    printInProcess(await storeWorkInProcess(dir, n, builds), n, builds.length);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// -------------------------------------------------------------------------------------------------
// Our backend: start and stop

async function startOurs(base: string, id: string): Promise<{ ms: number; pid: number }> {
  const t0 = performance.now();
  const r = await post(`${base}/servers/${id}/process/start?wait=true`);
  const ms = performance.now() - t0;
  const p = r.json.process as { status?: string; pid?: number; last_error?: string } | undefined;
  if (r.status !== 200 || p?.status !== "running") throw new Error(`start ${id}: ${r.status} ${JSON.stringify(r.json).slice(0, 500)}`);
  return { ms, pid: p.pid as number };
}

async function stopOurs(base: string, id: string): Promise<void> {
  const r = await post(`${base}/servers/${id}/process/stop`);
  const p = r.json.process as { status?: string } | undefined;
  if (r.status !== 200 || p?.status !== "stopped") throw new Error(`stop ${id}: ${r.status} ${JSON.stringify(r.json).slice(0, 500)}`);
}

/** Median answer time (ms) of STARTS start→running of `id` (stopped between); leaves it running. */
async function ourStartTimes(base: string, id: string): Promise<{ median: number; pid: number }> {
  const times: number[] = [];
  let pid = 0;
  for (let i = 0; i < STARTS; i++) {
    await stopOurs(base, id);
    const s = await startOurs(base, id);
    times.push(s.ms);
    pid = s.pid;
  }
  return { median: median(times), pid };
}

// -------------------------------------------------------------------------------------------------
// mcp-hub

interface Hub {
  child: Child;
  url: string;
  /** ms from spawn until its health answers `ready` with every configured server `connected`. */
  bootMs: number;
}

/**
 * mcp-hub with `count` server-everything entries (`everything`, `everything-2`, …) in its config,
 * its HOME and XDG directories under `dir`, and a fresh marketplace cache so it never fetches one.
 */
async function startHub(dir: string, tag: string, count: number, children: Child[]): Promise<Hub> {
  const home = path.join(dir, tag);
  const data = path.join(home, ".local/share");
  fs.mkdirSync(path.join(data, "mcp-hub/cache"), { recursive: true });
  fs.writeFileSync(
    path.join(data, "mcp-hub/cache/registry.json"),
    JSON.stringify({
      registry: {
        version: "offline",
        generatedAt: Date.now(),
        totalServers: 1,
        servers: [{ id: "offline", name: "offline", description: "", tags: [] }],
      },
      lastFetchedAt: Date.now(),
      serverDocumentation: {},
    }),
  );
  const config = path.join(home, "mcp-servers.json");
  const servers: Record<string, unknown> = {};
  for (let i = 1; i <= count; i++) servers[serverId(i)] = { command: process.execPath, args: [EVERYTHING, "stdio"] };
  fs.writeFileSync(config, JSON.stringify({ mcpServers: servers }));
  const port = await freePort();
  const t0 = performance.now();
  const child = spawnChild(
    process.execPath,
    [MCP_HUB, "--port", String(port), "--config", config],
    { HOME: home, XDG_DATA_HOME: data, XDG_STATE_HOME: path.join(home, ".local/state"), XDG_CONFIG_HOME: path.join(home, ".config") },
    { group: true, cwd: dir },
  );
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/api/health`);
      const h = (await res.json()) as { state?: string; servers?: { status?: string }[] };
      if (h.state === "ready" && h.servers?.length === count && h.servers.every((s) => s.status === "connected")) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`mcp-hub did not get ready:\n${child.output().slice(-2000)}`);
    await sleep(20);
  }
  return { child, url, bootMs: performance.now() - t0 };
}

/** Median answer time (ms) of STARTS `POST /api/servers/start` of `name`, each after a stop; leaves it running. */
async function hubStartTimes(url: string, name: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    const stopped = await post(`${url}/api/servers/stop`, { server_name: name });
    if (stopped.status !== 200) throw new Error(`mcp-hub stop: ${stopped.status} ${JSON.stringify(stopped.json)}`);
    const t0 = performance.now();
    const r = await post(`${url}/api/servers/start`, { server_name: name });
    times.push(performance.now() - t0);
    const status = (r.json.server as { status?: string } | undefined)?.status;
    if (r.status !== 200 || status !== "connected") throw new Error(`mcp-hub start: ${r.status} ${JSON.stringify(r.json).slice(0, 500)}`);
  }
  return median(times);
}

// -------------------------------------------------------------------------------------------------

/** Catalog id of the i-th (1-based) server-everything entry. */
function serverId(i: number): string {
  return i === 1 ? "everything" : `everything-${i}`;
}

function writeManifest(file: string, dir: string): void {
  const providers = Array.from({ length: SERVERS }, (_, k) => ({
    id: serverId(k + 1),
    name: `Everything ${k + 1}`,
    command: process.execPath,
    args: [EVERYTHING, "stdio"],
    cwd: dir,
    transport: "stdio",
  }));
  fs.writeFileSync(file, JSON.stringify({ providers }));
}

const f1 = (x: number) => (Number.isNaN(x) ? "n/a" : x.toFixed(1));
const f2 = (x: number) => (Number.isNaN(x) ? "n/a" : x.toFixed(2));
const f0 = (x: number) => (Number.isNaN(x) ? "n/a" : x.toFixed(0));
/** A difference with its sign: +12, −7. */
const signed = (x: number, digits = 0) => (Number.isNaN(x) ? "n/a" : `${x < 0 ? "−" : "+"}${Math.abs(x).toFixed(digits)}`);
const ok = (pass: boolean) => (pass ? "met" : "**missed**");

export async function benchRuntime(): Promise<void> {
  if (ONLY === "store") return benchStoreWorkOnly();
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "bench-runtime-")));
  const before = everythingProcesses(dir);
  console.log(`server-everything processes on this machine before: ${before.all}`);
  const children: Child[] = [];
  let direct: { client: Client; transport: StdioClientTransport } | null = null;
  try {
    const manifest = path.join(dir, "servers.json");
    writeManifest(manifest, dir);
    const common = {
      CONSOLE_MCP_SERVERS_PATH: manifest,
      CONSOLE_MCP_SEED: "none",
      CONSOLE_MCP_MAX_PROCESSES: String(Math.max(32, SERVERS)),
    };

    // (a) embedded
    const embeddedPort = await freePort();
    const embedded = spawnServer(
      { ...common, CONSOLE_MCP_SERVER_PORT: String(embeddedPort), CONSOLE_MCP_DB_PATH: path.join(dir, "embedded.db") },
      profileNodeArgs(PROFILE_DIR, "embedded"),
    );
    children.push(embedded);
    const embeddedBase = `http://127.0.0.1:${embeddedPort}/api/v1`;
    await waitForHttp(`${embeddedBase}/readyz`, 60_000);
    await waitForHttp(`${embeddedBase}/servers/processes`, 60_000);
    await sleep(1000);
    const idleRss = rssMiB(embedded.pid);

    // (b) gateway and the other services over a private NATS server
    const natsPort = await freePort();
    const nats = spawnChild("nats-server", ["-a", "127.0.0.1", "-p", String(natsPort)]);
    children.push(nats);
    const natsEnv = { ...common, TRANSPORTER: `nats://127.0.0.1:${natsPort}`, CONSOLE_MCP_DB_PATH: path.join(dir, "nats.db") };
    const others = spawnServer(
      { ...natsEnv, SERVICES: "providers,sessions,telemetry,finops,routing,runtime", NODE_ID: "bench-runtime-others" },
      profileNodeArgs(PROFILE_DIR, "nats-others"),
    );
    const gatewayPort = await freePort();
    const gateway = spawnServer(
      { ...natsEnv, SERVICES: "api", NODE_ID: "bench-runtime-gateway", CONSOLE_MCP_SERVER_PORT: String(gatewayPort) },
      profileNodeArgs(PROFILE_DIR, "nats-gateway"),
    );
    children.push(others, gateway);
    const natsBase = `http://127.0.0.1:${gatewayPort}/api/v1`;
    await waitForHttp(`${natsBase}/readyz`, 60_000);
    await waitForHttp(`${natsBase}/servers/processes`, 60_000);

    // direct
    const t0 = performance.now();
    direct = await connectDirect(dir);
    const firstDirectConnectMs = performance.now() - t0;

    // mcp-hub with one server
    const hub = await startHub(dir, "hub-1", 1, children);
    await sleep(1000);
    const hubRss1 = rssMiB(hub.child.pid);

    // ---- 2. start times (also leaves `everything` running on (a), (b) and mcp-hub)
    const directStarts: number[] = [];
    for (let i = 0; i < STARTS; i++) {
      const s0 = performance.now();
      const c = await connectDirect(dir);
      directStarts.push(performance.now() - s0);
      await c.client.close();
    }
    await startOurs(embeddedBase, "everything");
    await startOurs(natsBase, "everything");
    const embeddedStart = await ourStartTimes(embeddedBase, "everything");
    const natsStart = await ourStartTimes(natsBase, "everything");
    const hubStart = await hubStartTimes(hub.url, "everything");
    await sleep(1000);
    const rss1 = rssMiB(embedded.pid);

    // ---- 1. tool calls
    for (const [who, base] of [
      ["(a)", embeddedBase],
      ["(b)", natsBase],
    ]) {
      const r = await post(`${base}/servers/everything/tools/echo/call`, { arguments: ECHO_ARGS });
      if (r.status !== 200) throw new Error(`${who} echo: ${r.status} ${JSON.stringify(r.json)}`);
      checkEcho(r.json.result, who);
    }
    const hubCheck = await post(`${hub.url}/api/servers/tools`, { server_name: "everything", tool: "echo", arguments: ECHO_ARGS });
    checkEcho(hubCheck.json.result, "mcp-hub");
    checkEcho(await direct.client.callTool({ name: "echo", arguments: ECHO_ARGS }), "direct");
    const natsProcess = (await (await fetch(`${natsBase}/servers/everything/process`)).json()) as { process: { pid: number } };

    const targets: Target[] = [
      directTarget(direct.client, direct.transport),
      ourTarget("(a) embedded", embeddedBase, "everything", [embedded], embeddedStart.pid),
      ourTarget("(b) over NATS", natsBase, "everything", [gateway, others, nats], natsProcess.process.pid),
      hubTarget(hub.child, hub.url, "everything"),
    ];
    const figures = new Map<string, CallFigure[]>(targets.map((t) => [t.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < targets.length; i++) {
        const t = targets[(i + round) % targets.length];
        const f = await measureCalls(t);
        (figures.get(t.name) as CallFigure[]).push(f);
        console.log(`round ${round + 1}, ${t.name}: p50 ${f2(f.p50)} ms, p99 ${f2(f.p99)} ms, ${f0(f.rps)} calls/s with ${CALLERS} callers`);
      }
    }

    // ---- 4. where (a)'s time goes: cheaper requests through the same gateway
    const stageCalls = Math.max(100, Math.round(CALLS / 4));
    const stages: [string, Call][] = [
      ["GET /healthz (gateway and one action)", requestCaller("GET", `${embeddedBase}/healthz`, undefined, 200)],
      ["GET /servers/everything (catalog, in memory)", requestCaller("GET", `${embeddedBase}/servers/everything`, undefined, 200)],
      [
        "GET /servers/everything/process (state and the newest 20 log lines from the store)",
        requestCaller("GET", `${embeddedBase}/servers/everything/process`, undefined, 200),
      ],
      [
        "POST /telemetry/runs, the run an echo call writes (the ingestion every call does)",
        requestCaller("POST", `${embeddedBase}/telemetry/runs`, { runs: [echoRun()] }, 201),
      ],
      [
        "POST /servers/everything/tools/echo/call",
        requestCaller("POST", `${embeddedBase}/servers/everything/tools/echo/call`, { arguments: ECHO_ARGS }, 200),
      ],
    ];
    const stageFigures: [string, { p50: number; mainUs: number; otherUs: number }][] = [];
    for (const [label, call] of stages) stageFigures.push([label, await stageOf(stageCalls, call, embedded)]);
    const natsStages: [string, Call][] = [
      ["GET /healthz (answered by the gateway itself)", requestCaller("GET", `${natsBase}/healthz`, undefined, 200)],
      ["GET /servers/everything (one NATS round trip to providers)", requestCaller("GET", `${natsBase}/servers/everything`, undefined, 200)],
      ["POST /telemetry/runs, the run an echo call writes", requestCaller("POST", `${natsBase}/telemetry/runs`, { runs: [echoRun()] }, 201)],
      [
        "POST /servers/everything/tools/echo/call",
        requestCaller("POST", `${natsBase}/servers/everything/tools/echo/call`, { arguments: ECHO_ARGS }, 200),
      ],
    ];
    const natsStageFigures: [string, number][] = [];
    for (const [label, call] of natsStages) natsStageFigures.push([label, (await stageOf(stageCalls, call, others)).p50]);
    const builds = await inProcessBuilds();
    const inProcess = await storeWorkInProcess(dir, stageCalls, builds);

    // ---- 2b. SERVERS at once; 3. memory per server
    await stopOurs(embeddedBase, "everything");
    await sleep(1000);
    const rssAllStopped = rssMiB(embedded.pid);
    const ids = Array.from({ length: SERVERS }, (_, k) => serverId(k + 1));
    const a0 = performance.now();
    const each = await Promise.all(ids.map((id) => startOurs(embeddedBase, id).then((s) => s.ms)));
    const allOursMs = performance.now() - a0;
    await sleep(1000);
    const rssAll = rssMiB(embedded.pid);
    const s0 = performance.now();
    await Promise.all(ids.map((id) => stopOurs(embeddedBase, id)));
    const stopAllMs = performance.now() - s0;

    const d0 = performance.now();
    const many = await Promise.all(ids.map(() => connectDirect(dir)));
    const allDirectMs = performance.now() - d0;
    await Promise.all(many.map((c) => c.client.close()));

    const hubN = await startHub(dir, `hub-${SERVERS}`, SERVERS, children);
    await sleep(1000);
    const hubRssN = rssMiB(hubN.child.pid);
    await hubN.child.stop();

    // ---- report
    const figs = targets.map((t) => figures.get(t.name) as CallFigure[]);
    const directF = figs[0];
    const med = (fs_: CallFigure[], k: keyof CallFigure) => median(fs_.map((f) => f[k]));
    const perRound = (fs_: CallFigure[], g: (f: CallFigure, d: CallFigure) => number) => median(fs_.map((f, i) => g(f, directF[i])));
    console.log(
      `\necho of server-everything, ${CALLS} sequential calls (after ${WARMUP_CALLS}) with 1 caller; ${CALLERS} concurrent callers for ${DURATION_S} s; ` +
        `${ROUNDS} round(s), medians; CPU = user + system of the manager's processes (direct: this process, the SDK client) and of the MCP server, per call`,
    );
    console.log(
      "| path | p50 ms | p99 ms | added p50 ms | p99 / direct | calls/s, 16 callers | / direct | manager CPU µs/call (1 / 16 callers) | MCP server CPU µs/call (1 / 16) |",
    );
    console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    targets.forEach((t, i) => {
      const f = figs[i];
      const isDirect = i === 0;
      console.log(
        `| ${t.name} | ${f2(med(f, "p50"))} | ${f2(med(f, "p99"))} | ${
          isDirect
            ? "—"
            : signed(
                perRound(f, (x, d) => x.p50 - d.p50),
                2,
              )
        } | ` +
          `${isDirect ? "1x" : `${f1(perRound(f, (x, d) => x.p99 / d.p99))}x`} | ${f0(med(f, "rps"))} | ` +
          `${isDirect ? "1x" : `${f2(perRound(f, (x, d) => x.rps / d.rps))}x`} | ${f0(med(f, "managerUs"))} / ${f0(med(f, "managerUsLoaded"))} | ` +
          `${f0(med(f, "mcpUs"))} / ${f0(med(f, "mcpUsLoaded"))} |`,
      );
    });
    const [, aF, bF, hubF] = figs;
    const addedA = perRound(aF, (x, d) => x.p50 - d.p50);
    const p99A = perRound(aF, (x, d) => x.p99 / d.p99);
    const rpsA = perRound(aF, (x, d) => x.rps / d.rps);
    const addedB = perRound(bF, (x, d) => x.p50 - d.p50);
    console.log("\n| goal | figure | |");
    console.log("| --- | --- | --- |");
    console.log(`| (a) embedded: added p50 ≤ 0.3 ms | ${signed(addedA, 2)} ms | ${ok(addedA <= 0.3)} |`);
    console.log(`| (a) embedded: p99 ≤ 3× direct | ${f1(p99A)}x | ${ok(p99A <= 3)} |`);
    console.log(`| (a) embedded: ${CALLERS} callers ≥ 0.25× direct | ${f2(rpsA)}x | ${ok(rpsA >= 0.25)} |`);
    console.log(`| (b) over NATS: added p50 ≤ 1 ms | ${signed(addedB, 2)} ms | ${ok(addedB <= 1)} |`);
    console.log(
      `| ahead of mcp-hub (issue's figures: +0.47 ms p50, 0.13× throughput) | this run: (a) ${signed(addedA, 2)} ms, ${f2(rpsA)}x; mcp-hub ${signed(
        perRound(hubF, (x, d) => x.p50 - d.p50),
        2,
      )} ms, ` +
        `${f2(perRound(hubF, (x, d) => x.rps / d.rps))}x | ${ok(addedA < perRound(hubF, (x, d) => x.p50 - d.p50) && rpsA > perRound(hubF, (x, d) => x.rps / d.rps))} |`,
    );

    const directStart = median(directStarts);
    console.log(`\nstart → running, median of ${STARTS} (stopped between); first direct connect of the run: ${f0(firstDirectConnectMs)} ms`);
    console.log("| path | what is timed | ms | over direct connect |");
    console.log("| --- | --- | --- | --- |");
    console.log(`| direct SDK client | new StdioClientTransport + Client.connect (spawn + initialize) | ${f0(directStart)} | — |`);
    console.log(
      `| (a) embedded | POST …/process/start?wait=true answered running | ${f0(embeddedStart.median)} | ${signed(embeddedStart.median - directStart)} |`,
    );
    console.log(`| (b) over NATS | the same through the gateway | ${f0(natsStart.median)} | ${signed(natsStart.median - directStart)} |`);
    console.log(
      `| mcp-hub 4.2.1 | POST /api/servers/start (after /api/servers/stop) answered connected | ${f0(hubStart)} | ${signed(hubStart - directStart)} |`,
    );
    console.log(`| mcp-hub 4.2.1 | boot with 1 server until /api/health says ready and connected | ${f0(hub.bootMs)} | |`);
    console.log(`goal: (a) ≤ direct connect + 30 ms: ${ok(embeddedStart.median <= directStart + 30)}`);
    console.log(`\n${SERVERS} servers at once`);
    console.log("| path | what is timed | total ms |");
    console.log("| --- | --- | --- |");
    console.log(`| direct SDK clients | ${SERVERS} concurrent connects | ${f0(allDirectMs)} |`);
    console.log(
      `| (a) embedded | ${SERVERS} concurrent POST …/process/start until all answered running (each: median ${f0(median(each))} ms, max ${f0(Math.max(...each))} ms) | ${f0(allOursMs)} |`,
    );
    console.log(`| (a) embedded | ${SERVERS} concurrent POST …/process/stop until all answered stopped | ${f0(stopAllMs)} |`);
    console.log(`| mcp-hub 4.2.1 | boot with ${SERVERS} servers in its config until all connected | ${f0(hubN.bootMs)} |`);

    console.log("\nmemory: RSS of the manager's own process (not its MCP children), MiB");
    console.log(`| process | idle after boot | idle after the calls | 1 server running | ${SERVERS} running | per running server |`);
    console.log("| --- | --- | --- | --- | --- | --- |");
    console.log(
      `| (a) embedded backend | ${f1(idleRss)} | ${f1(rssAllStopped)} | ${f1(rss1)} | ${f1(rssAll)} | ${f2((rssAll - rssAllStopped) / SERVERS)} (${SERVERS} running − idle after the calls) |`,
    );
    console.log(
      `| mcp-hub 4.2.1 | — | — | ${f1(hubRss1)} (after boot) | ${f1(hubRssN)} (after boot) | ${f2((hubRssN - hubRss1) / (SERVERS - 1))} (booted with ${SERVERS} − booted with 1) |`,
    );

    console.log(`\nwhere (a)'s time goes: p50 of ${stageCalls} sequential requests of the same embedded server, 1 caller`);
    console.log("| request | p50 ms | server CPU µs/request: main thread | other threads |");
    console.log("| --- | --- | --- | --- |");
    for (const [label, st] of stageFigures) console.log(`| ${label} | ${f2(st.p50)} | ${f0(st.mainUs)} | ${f0(st.otherUs)} |`);
    console.log(`| direct SDK echo call (p50 above) | ${f2(med(directF, "p50"))} | | |`);
    console.log(`\nthe same over NATS, (b): p50 of ${stageCalls} sequential requests through its gateway, 1 caller`);
    console.log("| request | p50 ms |");
    console.log("| --- | --- |");
    for (const [label, p50] of natsStageFigures) console.log(`| ${label} | ${f2(p50)} |`);
    printInProcess(inProcess, stageCalls, builds.length);
  } catch (err) {
    for (const c of children) console.log(`--- process output:\n${c.output().slice(-2000)}`);
    throw err;
  } finally {
    await direct?.client.close().catch(() => undefined);
    // SIGTERM: our servers stop their MCP servers; mcp-hub's whole process group is ended.
    await Promise.all(children.map((c) => c.stop()));
    await sleep(500);
    const after = everythingProcesses(dir);
    console.log(
      `\nserver-everything processes: before ${before.all} on this machine; after ${after.all}, of which ${after.ours.length} of this run` +
        (after.ours.length > 0 ? ` (left: ${after.ours.join(", ")})` : ""),
    );
    for (const pid of after.ours) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (PROFILE_DIR !== undefined) printProfiles(PROFILE_DIR, ["embedded", "nats-gateway", "nats-others"]);
}
