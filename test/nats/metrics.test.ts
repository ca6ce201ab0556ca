/**
 * GET /metrics of a gateway over a real NATS server (runtime-contract §27): three processes — a
 * gateway (api), a runtime replica, and the catalog, sessions and telemetry — and the gateway's
 * /metrics shows the families of all three, each sample labelled with its node: the tool call and
 * the process start of the runtime node, the run stored by the telemetry node, the request the
 * gateway answered. A node that stalls (SIGSTOP) is left out of the scrape and counted, and the
 * scrape still answers 200 within about the per-node timeout; once it resumes it is back.
 * No process is left when the test ends.
 */
import fs from "node:fs";
import path from "node:path";
import { NODE_ANSWER_TIMEOUT_MS } from "../../services/metrics/cluster-scrape";
import { histogramCount, parseExposition, sampleValue, type Exposition } from "../helpers/exposition";
import { describeNats, freePort, NatsServer, startNats } from "../helpers/nats";
import { ServerProcess, startServerProcess, stillAlive, waitUntil, clusterNodeEnv } from "../helpers/process";
import { CONFIGURABLE_SERVER, GroupWatch } from "../helpers/process-groups";
import { request, tempDir } from "../helpers/server";

describeNats("GET /metrics of a gateway shows every node of the cluster (separate processes over NATS)", () => {
  let nats: NatsServer;
  let dir: string;
  const procs: ServerProcess[] = [];
  const groups = new GroupWatch();
  let origin: string;
  const ids = { base: `mx-base-${process.pid}`, runtime: `mx-rt-${process.pid}`, gateway: `mx-gw-${process.pid}` };

  function start(name: string, nodeId: string, env: Record<string, string>): ServerProcess {
    // A stalled node stays in the registry for the whole test: the scrape must wait for it and give up.
    const p = startServerProcess(name, clusterNodeEnv(nats.url, dir, nodeId, { HEARTBEAT_TIMEOUT: "60", ...env }));
    procs.push(p);
    return p;
  }

  async function scrape(): Promise<{ exposition: Exposition; ms: number }> {
    const t0 = performance.now();
    const res = await fetch(`${origin}/metrics`);
    const text = await res.text();
    const ms = performance.now() - t0;
    expect({ status: res.status, type: res.headers.get("content-type") }).toEqual({ status: 200, type: "text/plain; version=0.0.4; charset=utf-8" });
    return { exposition: parseExposition(text), ms };
  }

  beforeAll(async () => {
    nats = await startNats();
    dir = tempDir();
    fs.writeFileSync(
      path.join(dir, "servers.json"),
      JSON.stringify({ providers: [{ id: "echo", name: "Echo", command: process.execPath, args: [CONFIGURABLE_SERVER], transport: "stdio" }] }),
    );
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    start("base", ids.base, { SERVICES: "providers,sessions,telemetry" });
    start("runtime", ids.runtime, { SERVICES: "runtime" });
    start("gateway", ids.gateway, { SERVICES: "api", CONSOLE_MCP_SERVER_PORT: String(port) });
    try {
      await waitUntil(async () => (await request(`${origin}/api/v1/servers/processes`)).status === 200, 60_000, "the gateway to reach the runtime");
      await waitUntil(
        async () => sampleValue((await scrape()).exposition, "console_mcp_scrape_nodes", { result: "answered" }) === 3,
        30_000,
        "three metrics nodes",
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${procs.map((p) => `--- ${p.name}\n${p.output()}`).join("\n")}`);
    }
  }, 90_000);

  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGCONT");
    await Promise.all(procs.map((p) => p.stop()));
    expect(stillAlive(procs)).toEqual([]);
    await groups.expectAllGone();
    await nats?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("counts the runtime node's process start and tool call, the telemetry node's run and the gateway's requests", async () => {
    const started = await request(`${origin}/api/v1/servers/echo/process/start`, { method: "POST" });
    expect(started.status).toBe(200);
    expect(started.body.process).toMatchObject({ status: "running", node_id: ids.runtime });
    groups.add(started.body.process.pid);
    const call = await request(`${origin}/api/v1/servers/echo/tools/echo/call`, { method: "POST", json: { arguments: { text: "across nodes" } } });
    expect(call.status).toBe(200);

    const { exposition } = await scrape();
    const on = (node: keyof typeof ids, labels: Record<string, string> = {}) => ({ ...labels, node: ids[node] });
    expect(sampleValue(exposition, "console_mcp_tool_calls_total", on("runtime", { server: "echo", tool: "echo", status: "success" }))).toBe(1);
    expect(histogramCount(exposition, "console_mcp_tool_call_duration_seconds", on("runtime", { server: "echo", tool: "echo" }))).toBe(1);
    expect(sampleValue(exposition, "console_mcp_process_starts_total", on("runtime", { server: "echo", result: "running" }))).toBe(1);
    expect(sampleValue(exposition, "console_mcp_processes", on("runtime", { status: "running" }))).toBe(1);
    expect(sampleValue(exposition, "console_mcp_runs_ingested_total", on("base"))).toBe(1);
    expect(sampleValue(exposition, "console_mcp_broker_calls_total", on("base", { action: "telemetry.ingest", outcome: "ok" }))).toBe(1);
    expect(sampleValue(exposition, "console_mcp_broker_calls_total", on("runtime", { action: "runtime.localCallTool", outcome: "ok" }))).toBe(1);
    expect(
      sampleValue(exposition, "console_mcp_http_requests_total", on("gateway", { route: "/api/v1/servers/:id/tools/:tool/call", status: "200" })),
    ).toBe(1);
    // Per-node families stay apart: only the nodes with a store have pools, only the gateway has requests.
    expect(new Set(exposition.samples.get("console_mcp_store_pool_max")?.map((s) => s.labels.node))).toEqual(new Set([ids.base, ids.runtime]));
    expect(new Set(exposition.samples.get("console_mcp_http_requests_total")?.map((s) => s.labels.node))).toEqual(new Set([ids.gateway]));
    expect(sampleValue(exposition, "console_mcp_scrape_nodes", { result: "skipped" })).toBe(0);
  }, 60_000);

  it("leaves out a stalled node within the timeout (200, counted), and takes it back once it resumes", async () => {
    const base = procs.find((p) => p.name === "base") as ServerProcess;
    base.child.kill("SIGSTOP");
    let stalled: { exposition: Exposition; ms: number };
    try {
      stalled = await scrape();
    } finally {
      base.child.kill("SIGCONT");
    }
    expect(stalled.ms).toBeLessThan(NODE_ANSWER_TIMEOUT_MS + 2000);
    expect(sampleValue(stalled.exposition, "console_mcp_scrape_nodes", { result: "skipped" })).toBe(1);
    expect(sampleValue(stalled.exposition, "console_mcp_scrape_nodes", { result: "answered" })).toBe(2);
    const nodes = new Set([...stalled.exposition.samples.values()].flat().map((s) => s.labels.node));
    expect(nodes.has(ids.base)).toBe(false);
    expect(nodes.has(ids.runtime)).toBe(true);

    await waitUntil(
      async () => sampleValue((await scrape()).exposition, "console_mcp_scrape_nodes", { result: "answered" }) === 3,
      15_000,
      "the resumed node back in the scrape",
    );
    const { exposition } = await scrape();
    expect(sampleValue(exposition, "console_mcp_runs_ingested_total", { node: ids.base })).toBe(1);
    expect(sampleValue(exposition, "console_mcp_scrape_skipped_nodes_total", { node: ids.gateway })).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
