/**
 * GET /metrics over real HTTP (runtime-contract §27), with a real MCP server process:
 * - the answer is a Prometheus text exposition (read by a text-format parser) with every family §27
 *   lists, each sample labelled with its node;
 * - a request is counted under its route template and status, a process start under its server, a
 *   tool call under its server, tool and run status (with its duration), a stored run, a broker
 *   call, an open event stream;
 * - label values stay bounded: unknown paths, ids, tools and methods add no series;
 * - keyed mode: 401 without a key, a viewer key reads it (X-API-Key or Bearer); CONSOLE_MCP_METRICS=off: 404;
 * - a real Prometheus server (Debian's `prometheus`; required under CI) scrapes it with a viewer key.
 * Every process group it causes is gone at the end.
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { freePort } from "../helpers/nats";
import { CONFIGURABLE_SERVER, eventually, GroupWatch } from "../helpers/process-groups";
import { histogramCount, parseExposition, seriesKeys, sampleValue, type Exposition } from "../helpers/exposition";
import { request, startTestServer, tempDir, TestServer } from "../helpers/server";
import { openSse } from "../helpers/sse";

const ADMIN = "admin-key-for-metrics-tests-0123";
const TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

function manifest(dir: string): string {
  const file = path.join(dir, "servers.json");
  const providers = [
    {
      id: "echo",
      name: "Echo",
      command: process.execPath,
      args: [CONFIGURABLE_SERVER, "--name", "metrics-echo"],
      transport: "stdio",
      tool_timeout_s: 20,
    },
  ];
  fs.writeFileSync(file, JSON.stringify({ providers }));
  return file;
}

/** The server's origin (GET /metrics is outside /api/v1). */
const originOf = (server: TestServer) => new URL(server.baseUrl).origin;

async function scrape(server: TestServer, headers: Record<string, string> = {}): Promise<Exposition> {
  const res = await fetch(`${originOf(server)}/metrics`, { headers });
  const text = await res.text();
  expect({ status: res.status, type: res.headers.get("content-type") }).toEqual({ status: 200, type: TEXT_TYPE });
  return parseExposition(text);
}

describe("GET /metrics, open mode, with an MCP server process", () => {
  let server: TestServer;
  let dir: string;
  const groups = new GroupWatch();
  const api = (p: string) => `${server.baseUrl}${p}`;
  const post = (p: string, json?: unknown) => request(api(p), { method: "POST", ...(json === undefined ? {} : { json }) });

  beforeAll(async () => {
    dir = tempDir("console-mcp-metrics-");
    server = await startTestServer({ CONSOLE_MCP_SERVERS_PATH: manifest(dir), CONSOLE_MCP_HEALTH_INTERVAL_S: "0" });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await groups.expectAllGone();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("is a text exposition of every family §27 lists, each sample labelled with this node", async () => {
    await request(api("/providers"));
    const exposition = await scrape(server);
    const types = Object.fromEntries([...exposition.families].map(([name, f]) => [name, f.type]));
    expect(types).toMatchObject({
      console_mcp_http_requests_total: "counter",
      console_mcp_http_request_duration_seconds: "histogram",
      console_mcp_broker_calls_total: "counter",
      console_mcp_processes: "gauge",
      console_mcp_process_starts_total: "counter",
      console_mcp_process_restarts_total: "counter",
      console_mcp_tool_calls_total: "counter",
      console_mcp_tool_call_duration_seconds: "histogram",
      console_mcp_runs_ingested_total: "counter",
      console_mcp_sse_clients: "gauge",
      console_mcp_store_pool_connections: "gauge",
      console_mcp_store_pool_pending_acquires: "gauge",
      console_mcp_store_pool_max: "gauge",
      console_mcp_scrape_nodes: "gauge",
    });
    for (const [name, f] of exposition.families) expect({ name, help: f.help.length > 0 }).toEqual({ name, help: true });
    const nodes = new Set([...exposition.samples.values(), ...exposition.histograms.values()].flat().map((s) => s.labels.node));
    expect([...nodes]).toEqual([server.broker.nodeID]);
    expect(sampleValue(exposition, "console_mcp_scrape_nodes", { result: "answered" })).toBe(1);
    expect(sampleValue(exposition, "console_mcp_scrape_nodes", { result: "skipped" })).toBe(0);
    expect(sampleValue(exposition, "console_mcp_store_pool_max", { pool: "write" })).toBe(1);
    expect(sampleValue(exposition, "console_mcp_store_pool_max", { pool: "read" })).toBe(server.config.store.readPoolSize);
    expect(sampleValue(exposition, "console_mcp_processes", { status: "running" })).toBe(0);
  });

  it("counts a request under its route template and status, with its latency and its broker call", async () => {
    const before = await scrape(server);
    expect((await request(api("/servers/echo"))).status).toBe(200);
    expect((await request(api("/servers/nope"))).status).toBe(404);
    const after = await scrape(server);
    const route = { route: "/api/v1/servers/:id", method: "GET" };
    const delta = (name: string, labels: Record<string, string>) => sampleValue(after, name, labels) - sampleValue(before, name, labels);
    expect(delta("console_mcp_http_requests_total", { ...route, status: "200" })).toBe(1);
    expect(delta("console_mcp_http_requests_total", { ...route, status: "404" })).toBe(1);
    expect(
      histogramCount(after, "console_mcp_http_request_duration_seconds", route) -
        histogramCount(before, "console_mcp_http_request_duration_seconds", route),
    ).toBe(2);
    expect(delta("console_mcp_broker_calls_total", { action: "providers.server", outcome: "ok" })).toBe(1);
    expect(delta("console_mcp_broker_calls_total", { action: "providers.server", outcome: "error" })).toBe(1);
    // The scrape itself is a request of its own route.
    expect(sampleValue(after, "console_mcp_http_requests_total", { route: "/metrics", status: "200" })).toBeGreaterThanOrEqual(1);
  });

  it("counts a process start, the process by state, a tool call with its duration, and the runs stored", async () => {
    const before = await scrape(server);
    const started = await post("/servers/echo/process/start");
    expect(started.status).toBe(200);
    groups.add(started.body.process.pid);
    expect((await post("/servers/echo/tools/echo/call", { arguments: { text: "counted" } })).status).toBe(200);
    const failed = await post("/servers/echo/tools/fail/call");
    expect(failed.body.result.isError).toBe(true);
    const after = await scrape(server);
    const delta = (name: string, labels: Record<string, string> = {}) => sampleValue(after, name, labels) - sampleValue(before, name, labels);
    expect(delta("console_mcp_process_starts_total", { server: "echo", result: "running" })).toBe(1);
    expect(sampleValue(after, "console_mcp_processes", { status: "running" })).toBe(1);
    expect(delta("console_mcp_tool_calls_total", { server: "echo", tool: "echo", status: "success" })).toBe(1);
    expect(delta("console_mcp_tool_calls_total", { server: "echo", tool: "fail", status: "tool_error" })).toBe(1);
    expect(histogramCount(after, "console_mcp_tool_call_duration_seconds", { server: "echo", tool: "echo" })).toBe(1);
    expect(delta("console_mcp_runs_ingested_total")).toBe(2);
    expect(delta("console_mcp_broker_calls_total", { action: "runtime.localCallTool", outcome: "ok" })).toBe(2);
    expect(delta("console_mcp_http_requests_total", { route: "/api/v1/servers/:id/tools/:tool/call", method: "POST", status: "200" })).toBe(2);
    expect(delta("console_mcp_process_restarts_total")).toBe(0);
  }, 60_000);

  it("keeps label values bounded: unknown paths, ids, tools and methods add no series", async () => {
    const token = () => `x${randomBytes(6).toString("hex")}`;
    const odd = async (t: string) => {
      await request(`${originOf(server)}/${t}/${t}?q=${t}`);
      await request(api(`/servers/${t}`));
      await request(api(`/servers/${t}/process`));
      await post(`/servers/echo/tools/${t}/call`);
      await post(`/servers/${t}/tools/${t}/call`);
      await request(api(`/servers/echo/tools/${t}/call`), { method: "PROPFIND" });
      await request(api(`/telemetry/runs?provider_id=${t}`));
      await request(`${originOf(server)}/metrics?${t}=${t}`);
    };
    await odd(token()); // every kind once: its series exist from now on
    await scrape(server);
    const baseline = seriesKeys(await scrape(server));
    const tokens = Array.from({ length: 5 }, token);
    for (const t of tokens) await odd(t);
    const res = await fetch(`${originOf(server)}/metrics`);
    const text = await res.text();
    for (const t of tokens) expect(text).not.toContain(t);
    expect([...seriesKeys(parseExposition(text))].filter((k) => !baseline.has(k))).toEqual([]);
    const unmatched = parseExposition(text)
      .samples.get("console_mcp_http_requests_total")
      ?.filter((s) => s.labels.route === "unmatched");
    expect(new Set(unmatched?.map((s) => s.labels.method))).toEqual(new Set(["GET", "other"]));
  }, 60_000);

  it("counts the open event streams", async () => {
    const stream = await openSse(`${server.baseUrl}/events`);
    expect(stream.status).toBe(200);
    expect(sampleValue(await scrape(server), "console_mcp_sse_clients")).toBe(1);
    stream.close();
    await eventually(async () => sampleValue(await scrape(server), "console_mcp_sse_clients") === 0, 10_000, "the stream to be gone from the gauge");
  });

  it("stopping the process moves it to stopped in the gauge", async () => {
    expect((await post("/servers/echo/process/stop")).status).toBe(200);
    const after = await scrape(server);
    expect(sampleValue(after, "console_mcp_processes", { status: "running" })).toBe(0);
    expect(sampleValue(after, "console_mcp_processes", { status: "stopped" })).toBe(1);
    await groups.expectAllGone();
  }, 60_000);
});

describe("GET /metrics in keyed mode, and switched off", () => {
  let keyed: TestServer;
  let off: TestServer;
  let viewer: string;

  beforeAll(async () => {
    keyed = await startTestServer({ CONSOLE_MCP_ADMIN_KEY: ADMIN });
    const created = await request(`${keyed.baseUrl}/security/api-keys`, {
      method: "POST",
      headers: { "x-api-key": ADMIN },
      json: { name: "prometheus", role: "viewer" },
    });
    expect(created.status).toBe(201);
    viewer = created.body.secret;
    off = await startTestServer({ CONSOLE_MCP_METRICS: "off" });
  }, 60_000);

  afterAll(async () => {
    await keyed?.stop();
    await off?.stop();
  });

  it("needs a key (401 without one), and a viewer key reads it, as X-API-Key or Bearer", async () => {
    const none = await request(`${originOf(keyed)}/metrics`);
    expect({ status: none.status, body: none.body }).toEqual({ status: 401, body: { detail: "Missing or invalid API key" } });
    expect((await request(`${originOf(keyed)}/metrics`, { headers: { "x-api-key": "cmk_wrong" } })).status).toBe(401);
    const exposition = await scrape(keyed, { "x-api-key": viewer });
    expect(sampleValue(exposition, "console_mcp_http_requests_total", { route: "/metrics", status: "401" })).toBe(2);
    await scrape(keyed, { authorization: `Bearer ${viewer}` });
  });

  it("CONSOLE_MCP_METRICS=off: 404, and requests are not timed", async () => {
    expect((await request(`${off.baseUrl}/providers`)).status).toBe(200);
    const res = await request(`${originOf(off)}/metrics`);
    expect({ status: res.status, body: res.body }).toEqual({
      status: 404,
      body: { detail: "Metrics are off on this node (CONSOLE_MCP_METRICS=off)" },
    });
    const local = (await off.broker.call("metrics.local")) as { families: { name: string }[] };
    const names = local.families.map((f) => f.name);
    expect(names).not.toContain("console_mcp_http_requests_total");
    expect(names).not.toContain("console_mcp_broker_calls_total");
    expect(names).toContain("console_mcp_runs_ingested_total");
  });
});

const UNDER_CI = process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "false";
const HAS_PROMETHEUS = spawnSync("prometheus", ["--version"]).status === 0;
if (!HAS_PROMETHEUS && !UNDER_CI) console.warn("SKIPPED: a real Prometheus server scraping GET /metrics (install Debian's `prometheus`)");
const describePrometheus = HAS_PROMETHEUS || UNDER_CI ? describe : describe.skip;

describePrometheus("a real Prometheus server scrapes GET /metrics (keyed mode, a viewer key)", () => {
  let server: TestServer;
  let prometheus: ChildProcess | null = null;
  let dir: string;
  let web = "";
  let output = "";

  beforeAll(async () => {
    if (!HAS_PROMETHEUS) throw new Error("`prometheus` is not on PATH: required under CI (.ci/run installs Debian's)");
    dir = tempDir("console-mcp-prometheus-");
    server = await startTestServer({ CONSOLE_MCP_ADMIN_KEY: ADMIN });
    const created = await request(`${server.baseUrl}/security/api-keys`, {
      method: "POST",
      headers: { "x-api-key": ADMIN },
      json: { name: "prometheus", role: "viewer" },
    });
    const target = new URL(server.baseUrl).host;
    fs.writeFileSync(
      path.join(dir, "prometheus.yml"),
      [
        "global:",
        "  scrape_interval: 1s",
        "  scrape_timeout: 900ms",
        "scrape_configs:",
        "  - job_name: console",
        "    authorization:",
        `      credentials: ${created.body.secret}`,
        "    static_configs:",
        `      - targets: ["${target}"]`,
      ].join("\n"),
    );
    const port = await freePort();
    web = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      "prometheus",
      [
        `--config.file=${path.join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${path.join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    prometheus.stdout?.on("data", (b: Buffer) => (output += b.toString()));
    prometheus.stderr?.on("data", (b: Buffer) => (output += b.toString()));
  }, 60_000);

  afterAll(async () => {
    if (prometheus !== null && prometheus.exitCode === null) {
      const exited = new Promise((r) => prometheus?.once("exit", r));
      prometheus.kill("SIGTERM");
      await exited;
    }
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  /** An instant query's result vector (empty while Prometheus is starting). */
  const query = async (promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
    try {
      const res = await fetch(`${web}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await res.json()) as { data?: { result?: { metric: Record<string, string>; value: [number, string] }[] } };
      return body.data?.result ?? [];
    } catch {
      return [];
    }
  };

  it("takes the exposition: the target is up and the families are stored with their labels", async () => {
    try {
      await eventually(async () => (await query('up{job="console"} == 1')).length === 1, 30_000, "Prometheus to scrape the target successfully");
      await eventually(
        async () => (await query('console_mcp_http_requests_total{route="/metrics",status="200"}')).length === 1,
        15_000,
        "the request counter in Prometheus",
      );
    } catch (err) {
      const targets = await fetch(`${web}/api/v1/targets`).then(
        (r) => r.text(),
        () => "",
      );
      throw new Error(`${(err as Error).message}\ntargets: ${targets.slice(0, 2000)}\n${output.slice(-3000)}`);
    }
    const [sample] = await query('console_mcp_http_requests_total{route="/metrics",status="200"}');
    expect(sample.metric).toMatchObject({ job: "console", method: "GET", node: server.broker.nodeID });
    expect(await query('console_mcp_http_request_duration_seconds_bucket{route="/metrics",le="+Inf"}')).toHaveLength(1);
    expect(await query("console_mcp_processes")).toHaveLength(6);
    // Prometheus warns in its log about samples it could not take (duplicates, out of order).
    expect(output).not.toMatch(/Error on ingesting|duplicate sample/i);
  }, 60_000);
});
