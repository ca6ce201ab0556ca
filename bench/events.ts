/**
 * `npm run bench -- events`: the live event stream (runtime-contract §23.1) with BENCH_EVENTS_CLIENTS
 * (default 1,000) clients on one gateway, embedded and over NATS (the gateway alone in its process,
 * providers + sessions + telemetry in another, so every event is published on another node):
 * - memory per idle client: the gateway process's RSS with the clients connected minus without
 *   them (after a warm-up round of 50), divided by the number of clients;
 * - event latency while BENCH_EVENTS_RUNS_PER_S (default 200) runs per second are ingested (as
 *   POST /telemetry/runs of 5 runs each, every run a `run` event to every client), over every
 *   (marker, client) pair, p50/p99/max:
 *   - "ingest → client": five times a second a marker run is posted; its latency for one client is
 *     the time from the start of that POST to the arrival of the marker's bytes at that client (the
 *     HTTP request, the store's transaction, the broker event and the fan-out);
 *   - "publish → client" (over NATS): five times a second a broker node of this process (another
 *     node of the cluster) broadcasts a `sessions.changed` event with a marker; its latency is the
 *     time from the broadcast to the arrival at each client (the broker hop and the fan-out);
 * - clients disconnected for reading too slowly (should be none), and the CPU the gateway used.
 * Goals (issue 10): ≤ 50 KB per idle client; p99 ≤ 100 ms embedded, ≤ 250 ms over NATS.
 *
 * The clients are raw TCP connections in this process that look for the markers in the bytes they
 * receive (no parsing of every event), so the benchmark's own cost stays small next to the server's.
 */
import http from "node:http";
import net from "node:net";
import path from "node:path";
import fs from "node:fs";
import os from "node:os";
import { ServiceBroker } from "moleculer";
import { loadConfig } from "../lib/config";
import { brokerOptions } from "../moleculer.config";
import { quantile } from "../test/helpers/load";
import { startNats } from "../test/helpers/nats";
import { tempDir } from "../test/helpers/server";
import { Child, freePort, processCpuSeconds, spawnServer, waitForHttp } from "./processes";

const CLIENTS = Number(process.env.BENCH_EVENTS_CLIENTS ?? 1000);
const RUNS_PER_S = Number(process.env.BENCH_EVENTS_RUNS_PER_S ?? 200);
const SECONDS = Number(process.env.BENCH_EVENTS_SECONDS ?? 20);
const RUNS_PER_POST = 5;
const MARKERS_PER_S = 5;

interface Row {
  mode: string;
  clients: number;
  kbPerClient: number;
  runsPerS: number;
  bytesPerClientPerS: number;
  markers: number;
  samples: number;
  p50: number;
  p99: number;
  max: number;
  /** Broker-published markers (NATS only): p50/p99/max, or NaN. */
  pubP50: number;
  pubP99: number;
  pubMax: number;
  missing: number;
  dropped: number;
  gatewayCpu: number;
  /** This process's CPU (the clients and the load), for judging the figures on a shared machine. */
  benchCpu: number;
  /** POST /telemetry/runs: p99 ms, and how many failed. */
  postP99: number;
  postFailed: number;
}

/** RSS of a process in bytes (from /proc), NaN when unreadable. */
function rssBytes(pid: number | undefined): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m === null ? Number.NaN : Number(m[1]) * 1024;
  } catch {
    return Number.NaN;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The median of a few RSS readings a little apart (RSS moves with the collector). */
async function settledRss(pid: number | undefined): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < 5; i++) {
    await sleep(300);
    readings.push(rssBytes(pid));
  }
  return quantile(readings, 0.5);
}

const MARK = Buffer.from('"bench_mark":"m');

/** Raw SSE clients that record when each marker's bytes arrive. */
class Fleet {
  readonly sockets: net.Socket[] = [];
  /** marker → arrival times (ms, performance.now) per client index. */
  readonly arrivals = new Map<number, number[]>();
  bytes = 0;
  dropped = 0;
  private closing = false;

  constructor(private readonly port: number) {}

  async connect(n: number): Promise<void> {
    const opened: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      opened.push(this.open());
      if (i % 100 === 99) await Promise.all(opened.splice(0));
    }
    await Promise.all(opened);
  }

  private open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.port, "127.0.0.1");
      let headers = false;
      let carry = Buffer.alloc(0);
      socket.on("data", (chunk: Buffer) => {
        const now = performance.now();
        this.bytes += chunk.length;
        if (!headers) {
          headers = true;
          if (!chunk.subarray(0, 12).toString("latin1").startsWith("HTTP/1.1 200")) {
            reject(new Error(`stream refused: ${chunk.subarray(0, 200).toString("latin1")}`));
            socket.destroy();
            return;
          }
          resolve();
        }
        const text = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
        // Bytes after the last marker counted: a marker cut at the chunk's end is found with the next one.
        let counted = 0;
        let at = text.indexOf(MARK);
        while (at !== -1) {
          const start = at + MARK.length;
          const end = text.indexOf(0x22, start);
          if (end === -1) break;
          const marker = Number(text.subarray(start, end).toString("latin1"));
          let list = this.arrivals.get(marker);
          if (list === undefined) {
            list = [];
            this.arrivals.set(marker, list);
          }
          list.push(now);
          counted = end + 1;
          at = text.indexOf(MARK, counted);
        }
        carry = Buffer.from(text.subarray(Math.max(counted, text.length - (MARK.length + 24))));
      });
      socket.on("error", (err) => {
        if (!headers) reject(err);
      });
      socket.on("close", () => {
        if (!this.closing) this.dropped += 1;
      });
      socket.write(`GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\nAccept: text/event-stream\r\n\r\n`);
      this.sockets.push(socket);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    const closed = this.sockets.map((s) => new Promise<void>((r) => (s.destroyed ? r() : s.once("close", () => r()))));
    for (const s of this.sockets) s.destroy();
    await Promise.all(closed);
    this.sockets.length = 0;
  }
}

/** Why the failed POSTs failed (printed under the table). */
const postFailures: string[] = [];

/** POST /telemetry/runs; resolves with its duration in ms (NaN when it failed, with the reason in postFailures). */
async function post(agent: http.Agent, port: number, body: unknown): Promise<number> {
  const data = Buffer.from(JSON.stringify(body));
  const started = performance.now();
  return new Promise<number>((resolve) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/api/v1/telemetry/runs",
        agent,
        headers: { "content-type": "application/json", "content-length": data.length },
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          if (res.statusCode !== 201) postFailures.push(`status ${res.statusCode}`);
          resolve(res.statusCode === 201 ? performance.now() - started : Number.NaN);
        });
        res.on("error", (err) => {
          postFailures.push(`${(err as NodeJS.ErrnoException).code ?? err.message} (answer)`);
          resolve(Number.NaN);
        });
      },
    );
    req.on("error", (err) => {
      postFailures.push(`${(err as NodeJS.ErrnoException).code ?? err.message}${req.reusedSocket ? " (reused keep-alive socket)" : ""}`);
      resolve(Number.NaN);
    });
    req.end(data);
  });
}

async function measure(mode: string, port: number, gateway: Child, publisher: ServiceBroker | null = null): Promise<Row> {
  // A small warm-up round (the code paths compiled once); a full one would leave memory behind for
  // the next round to reuse, and the measure would miss it.
  const warm = new Fleet(port);
  await warm.connect(Math.min(50, CLIENTS));
  await warm.close();
  const idleBefore = await settledRss(gateway.pid);
  const fleet = new Fleet(port);
  await fleet.connect(CLIENTS);
  const idleAfter = await settledRss(gateway.pid);
  const kbPerClient = (idleAfter - idleBefore) / CLIENTS / 1024;

  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const sent = new Map<number, number>();
  const cpuBefore = processCpuSeconds(gateway.pid);
  const ownCpuBefore = process.cpuUsage();
  const bytesBefore = fleet.bytes;
  const origin = performance.now();
  const durationMs = SECONDS * 1000;
  const inFlight: Promise<number>[] = [];
  const postMs: number[] = [];
  const postsPerS = RUNS_PER_S / RUNS_PER_POST;
  let nextPost = 0;
  let nextMarker = 0;
  let marker = 0;
  /** Broker markers are numbered from 1,000,000 so the two kinds never meet. */
  const published = new Map<number, number>();
  let pubMarker = 1_000_000;
  while (performance.now() - origin < durationMs) {
    const elapsed = performance.now() - origin;
    while (nextPost * (1000 / postsPerS) <= elapsed) {
      nextPost += 1;
      const runs = Array.from({ length: RUNS_PER_POST }, (_, i) => ({ provider_id: `bench-${i % 4}`, tokens_in: 10, status: "ok" }));
      inFlight.push(post(agent, port, { runs }));
    }
    while (nextMarker * (1000 / MARKERS_PER_S) <= elapsed) {
      nextMarker += 1;
      marker += 1;
      sent.set(marker, performance.now());
      inFlight.push(post(agent, port, { provider_id: "bench-marker", metadata: { bench_mark: `m${marker}` } }));
      if (publisher !== null) {
        pubMarker += 1;
        published.set(pubMarker, performance.now());
        void publisher.broadcast("sessions.changed", {
          id: `bench-${pubMarker}`,
          provider_id: "bench-marker",
          status: "pending",
          bench_mark: `m${pubMarker}`,
        });
      }
    }
    if (inFlight.length > 1000) postMs.push(...(await Promise.all(inFlight.splice(0))));
    await sleep(Math.max(1, Math.min(nextPost * (1000 / postsPerS), nextMarker * (1000 / MARKERS_PER_S)) - (performance.now() - origin)));
  }
  postMs.push(...(await Promise.all(inFlight)));
  // Give the last markers time to arrive everywhere.
  const deadline = performance.now() + 10_000;
  const allMarkers = [...sent.keys(), ...published.keys()];
  while (performance.now() < deadline && allMarkers.some((m) => (fleet.arrivals.get(m)?.length ?? 0) < fleet.sockets.length - fleet.dropped))
    await sleep(50);
  const elapsedS = (performance.now() - origin) / 1000;
  const cpu = processCpuSeconds(gateway.pid) - cpuBefore;
  const own = process.cpuUsage(ownCpuBefore);
  let missing = 0;
  const latenciesOf = (markers: Map<number, number>): number[] => {
    const out: number[] = [];
    for (const [m, at] of markers) {
      const arrivals = fleet.arrivals.get(m) ?? [];
      missing += Math.max(0, CLIENTS - arrivals.length);
      for (const t of arrivals) out.push(t - at);
    }
    return out;
  };
  const latencies = latenciesOf(sent);
  const pubLatencies = latenciesOf(published);
  const row: Row = {
    mode,
    clients: CLIENTS,
    kbPerClient,
    runsPerS: RUNS_PER_S,
    bytesPerClientPerS: (fleet.bytes - bytesBefore) / CLIENTS / elapsedS,
    markers: sent.size,
    samples: latencies.length,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    max: latencies.reduce((a, b) => Math.max(a, b), 0),
    pubP50: quantile(pubLatencies, 0.5),
    pubP99: quantile(pubLatencies, 0.99),
    pubMax: pubLatencies.length === 0 ? Number.NaN : pubLatencies.reduce((a, b) => Math.max(a, b), 0),
    missing,
    dropped: fleet.dropped,
    gatewayCpu: cpu / elapsedS,
    benchCpu: (own.user + own.system) / 1e6 / elapsedS,
    postP99: quantile(
      postMs.filter((ms) => !Number.isNaN(ms)),
      0.99,
    ),
    postFailed: postMs.filter((ms) => Number.isNaN(ms)).length,
  };
  agent.destroy();
  await fleet.close();
  return row;
}

async function embedded(): Promise<Row> {
  const dir = tempDir("console-mcp-bench-events-");
  const port = await freePort();
  const server = spawnServer({
    CONSOLE_MCP_SERVER_PORT: String(port),
    CONSOLE_MCP_DB_PATH: path.join(dir, "console.db"),
    CONSOLE_MCP_SEED: "none",
    CONSOLE_MCP_SSE_MAX_CLIENTS: String(CLIENTS + 10),
  });
  try {
    await waitForHttp(`http://127.0.0.1:${port}/api/v1/readyz`, 60_000);
    return await measure("embedded", port, server);
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function overNats(): Promise<Row> {
  const nats = await startNats();
  const dir = tempDir("console-mcp-bench-events-");
  const port = await freePort();
  const common = {
    TRANSPORTER: nats.url,
    CONSOLE_MCP_DB_PATH: path.join(dir, "console.db"),
    CONSOLE_MCP_SEED: "none",
  };
  const backend = spawnServer({ ...common, SERVICES: "providers,sessions,telemetry", NODE_ID: `bench-ev-backend-${process.pid}` });
  const gateway = spawnServer({
    ...common,
    SERVICES: "api",
    NODE_ID: `bench-ev-gw-${process.pid}`,
    CONSOLE_MCP_SERVER_PORT: String(port),
    CONSOLE_MCP_SSE_MAX_CLIENTS: String(CLIENTS + 10),
  });
  // Another node of the cluster, in this process: it publishes the broker markers.
  const publisher = new ServiceBroker({
    ...brokerOptions(loadConfig({ TRANSPORTER: nats.url, NODE_ID: `bench-ev-publisher-${process.pid}`, LOG_LEVEL: "warn" })),
    logger: false,
  });
  try {
    await publisher.start();
    await waitForHttp(`http://127.0.0.1:${port}/api/v1/servers`, 60_000);
    // The publisher sends events only to nodes it knows listen: wait until it has seen the gateway.
    const deadline = Date.now() + 30_000;
    while (!publisher.hasEventListener("sessions.changed") && Date.now() < deadline) await sleep(100);
    return await measure("NATS (gateway alone)", port, gateway, publisher);
  } finally {
    await publisher.stop();
    await gateway.stop();
    await backend.stop();
    await nats.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "-");

export async function benchEvents(): Promise<void> {
  console.log(
    `${CLIENTS} SSE clients on one gateway; ${RUNS_PER_S} runs/s ingested (${RUNS_PER_POST} per POST) for ${SECONDS} s, ${MARKERS_PER_S} marker runs/s`,
  );
  const modes = (process.env.BENCH_EVENTS_MODES ?? "embedded,nats").split(",");
  const rows: Row[] = [];
  if (modes.includes("embedded")) rows.push(await embedded());
  if (modes.includes("nats")) rows.push(await overNats());
  console.log(`load average at the end: ${fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")} (${os.cpus().length} CPUs)`);
  console.log(
    "| mode | clients | KB per idle client | bytes/s per client | markers × clients | ingest → client p50 / p99 / max ms | publish → client p50 / p99 / max ms | missing | dropped | gateway CPU | bench CPU | POST p99 ms (failed) |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) {
    console.log(
      `| ${r.mode} | ${r.clients} | ${fmt(r.kbPerClient)} | ${fmt(r.bytesPerClientPerS, 0)} | ${r.markers} × ${r.clients} | ` +
        `${fmt(r.p50)} / ${fmt(r.p99)} / ${fmt(r.max)} | ${fmt(r.pubP50)} / ${fmt(r.pubP99)} / ${fmt(r.pubMax)} | ${r.missing} | ${r.dropped} | ` +
        `${fmt(r.gatewayCpu * 100, 0)} % | ${fmt(r.benchCpu * 100, 0)} % | ${fmt(r.postP99)} (${r.postFailed}) |`,
    );
  }
  if (postFailures.length > 0) console.log(`failed POSTs: ${[...new Set(postFailures)].join("; ")}`);
  console.log("goals: ≤ 50 KB per idle client; p99 ≤ 100 ms embedded, ≤ 250 ms over NATS");
}
