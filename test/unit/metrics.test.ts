/**
 * The metric families (runtime-contract §27) without a broker: the plain families and their JSON,
 * the gateway's request meter (route templates, bounded labels), the runtime's start and restart
 * counts from state snapshots, and the merge of several nodes into one exposition that a
 * Prometheus text parser reads.
 */
import { NodeMetrics } from "../../lib/metrics/node-metrics";
import { RequestMeter, requestAnswered, requestStarted, UNMATCHED_ROUTE, type MeteredRequest } from "../../services/api/request-metrics";
import { fullPath, ROUTES } from "../../services/api/routes";
import { mergeNodes } from "../../services/metrics/cluster-scrape";
import { MAX_TOOL_LABEL_LENGTH, MAX_TOOL_LABELS, OTHER_TOOL, RuntimeMetrics } from "../../services/runtime/metrics";
import { histogramCount, parseExposition, seriesKeys, sampleValue } from "../helpers/exposition";

const route = (method: string, path: string) => {
  const found = ROUTES.find((r) => r.method === method && fullPath(r) === path);
  if (found === undefined) throw new Error(`no route ${method} ${path}`);
  return found;
};

describe("families (prom-client metrics in the node's registry)", () => {
  it("a counter counts per label values; its series are kept by the caller", async () => {
    const metrics = new NodeMetrics();
    const c = metrics.counter("x_total", "help", ["a", "b"]);
    const s = c.child(["1", "2"]);
    expect(c.child(["1", "2"])).toBe(s);
    s.inc();
    s.inc(2);
    c.inc(["1", "3"]);
    c.inc(["1", "3"], -5); // never down
    expect(await metrics.collect()).toEqual([
      {
        name: "x_total",
        help: "help",
        type: "counter",
        aggregator: "sum",
        values: [
          { value: 3, labels: { a: "1", b: "2" } },
          { value: 1, labels: { a: "1", b: "3" } },
        ],
      },
    ]);
    expect(() => c.inc(["only one"])).toThrow(/expected 2 label values/);
    expect(() => metrics.counter("bad-name", "h")).toThrow(/Invalid metric name/);
    expect(() => metrics.counter("x", "h", ["node"])).toThrow(/reserved label/);
  });

  it("a histogram writes cumulative buckets, +Inf, sum and count", async () => {
    const metrics = new NodeMetrics();
    const h = metrics.histogram("d_seconds", "help", ["r"], [0.1, 1]);
    for (const v of [0.05, 0.1, 0.5, 3, Number.NaN]) h.observe(["a"], v);
    const [json] = await metrics.collect();
    expect(json.values).toEqual([
      { metricName: "d_seconds_bucket", value: 2, labels: { r: "a", le: 0.1 } },
      { metricName: "d_seconds_bucket", value: 3, labels: { r: "a", le: 1 } },
      { metricName: "d_seconds_bucket", value: 4, labels: { r: "a", le: "+Inf" } },
      { metricName: "d_seconds_sum", value: 3.65, labels: { r: "a" } },
      { metricName: "d_seconds_count", value: 4, labels: { r: "a" } },
    ]);
  });

  it("drop removes every series of one label value", async () => {
    const metrics = new NodeMetrics();
    const c = metrics.counter("calls_total", "help", ["server", "tool"]);
    c.inc(["a", "x"]);
    c.inc(["a", "y"]);
    c.inc(["b", "x"]);
    c.drop("server", "a");
    expect((await metrics.collect())[0].values).toEqual([{ value: 1, labels: { server: "b", tool: "x" } }]);
    c.inc(["a", "x"]); // counted again from 0 once it comes back
    expect((await metrics.collect())[0].values).toContainEqual({ value: 1, labels: { server: "a", tool: "x" } });
  });

  it("a gauge reads at collection time, one sample per series; a reader that throws leaves the others", async () => {
    let n = 1;
    const metrics = new NodeMetrics();
    metrics.gauge("g", "help", ["k"], () => [
      [["a"], n],
      [["b"], 2 * n],
    ]);
    metrics.gauge("broken", "help", [], () => {
      throw new Error("no");
    });
    n = 5;
    expect(await metrics.collect()).toEqual([
      {
        name: "g",
        help: "help",
        type: "gauge",
        aggregator: "sum",
        values: [
          { value: 5, labels: { k: "a" } },
          { value: 10, labels: { k: "b" } },
        ],
      },
    ]);
    expect(metrics.failed).toEqual(["broken"]);
    expect(() => metrics.counter("g", "help")).toThrow(/already a GaugeFamily/);
    expect(metrics.counter("c", "h")).toBe(metrics.counter("c", "h"));
  });
});

describe("the gateway's request meter", () => {
  const fakeRequest = (method: string): MeteredRequest => ({ method }) as MeteredRequest;

  it("counts by route template and status, times from arrival to answer, once per request", async () => {
    const metrics = new NodeMetrics();
    const meter = new RequestMeter(metrics);
    const servers = route("GET", "/api/v1/servers/:id");
    for (const status of [200, 200, 404]) {
      const req = fakeRequest("GET");
      requestStarted(req, meter);
      req.$routeSpec = servers;
      requestAnswered(req, status);
      requestAnswered(req, 500); // a second answer of the same request is not counted
    }
    const scrape = await metrics.collect();
    const requests = scrape.find((f) => f.name === "console_mcp_http_requests_total");
    expect(requests?.values).toEqual([
      { value: 2, labels: { method: "GET", route: "/api/v1/servers/:id", status: "200" } },
      { value: 1, labels: { method: "GET", route: "/api/v1/servers/:id", status: "404" } },
    ]);
    const latency = scrape.find((f) => f.name === "console_mcp_http_request_duration_seconds");
    expect(latency?.values.find((v) => v.metricName?.endsWith("_count"))).toEqual({
      metricName: "console_mcp_http_request_duration_seconds_count",
      value: 3,
      labels: { method: "GET", route: "/api/v1/servers/:id" },
    });
  });

  it("an unmatched request is `unmatched`, and its method one of a fixed list or `other`", async () => {
    const metrics = new NodeMetrics();
    const meter = new RequestMeter(metrics);
    for (const method of ["GET", "PROPFIND", "M-SEARCH", "GET", "DELETE"]) {
      const req = fakeRequest(method);
      requestStarted(req, meter);
      requestAnswered(req, 404);
    }
    const values = (await metrics.collect()).find((f) => f.name === "console_mcp_http_requests_total")?.values;
    expect(values).toEqual([
      { value: 2, labels: { method: "GET", route: UNMATCHED_ROUTE, status: "404" } },
      { value: 2, labels: { method: "other", route: UNMATCHED_ROUTE, status: "404" } },
      { value: 1, labels: { method: "DELETE", route: UNMATCHED_ROUTE, status: "404" } },
    ]);
  });

  it("with metrics off (no meter) nothing is timed or counted", () => {
    const req = fakeRequest("GET");
    requestStarted(req, null);
    requestAnswered(req, 200);
    expect(req.$startedAt).toBeUndefined();
  });
});

describe("the runtime's families", () => {
  it("counts starts that reached running or failed, and automatic restarts, from the supervisor's snapshots", async () => {
    const metrics = new NodeMetrics();
    const list: { status: "running" | "error" | "stopped" }[] = [];
    const runtime = new RuntimeMetrics(metrics, () => list);
    const states: [string, string, number][] = [
      ["a", "starting", 0],
      ["a", "starting", 0],
      ["a", "running", 0], // a start (and a pid update)
      ["a", "backoff", 0],
      ["a", "starting", 1],
      ["a", "error", 1], // a crash, a restart that failed
      ["a", "starting", 0],
      ["a", "running", 0], // a manual start: the count is reset, not a restart
      ["b", "starting", 0],
      ["b", "stopping", 0],
      ["b", "stopped", 0], // a start cancelled by a stop
    ];
    for (const [server_id, status, restarts] of states) runtime.observeState({ server_id, status: status as never, restarts });
    runtime.toolCall("a", "echo", "success", 12);
    list.push({ status: "running" }, { status: "error" });
    const exposition = await metrics.collect();
    const values = (name: string) => exposition.find((f) => f.name === name)?.values;
    expect(values("console_mcp_process_starts_total")).toEqual([
      { value: 2, labels: { server: "a", result: "running" } },
      { value: 1, labels: { server: "a", result: "failed" } },
    ]);
    expect(values("console_mcp_process_restarts_total")).toEqual([{ value: 1, labels: { server: "a" } }]);
    expect(values("console_mcp_processes")).toEqual(
      ["stopped", "starting", "running", "stopping", "backoff", "error"].map((status) => ({
        value: status === "running" || status === "error" ? 1 : 0,
        labels: { status },
      })),
    );
    expect(values("console_mcp_tool_calls_total")).toEqual([{ value: 1, labels: { server: "a", tool: "echo", status: "success" } }]);
    runtime.forgetServer("a");
    expect((await metrics.collect()).find((f) => f.name === "console_mcp_tool_calls_total")?.values).toEqual([]);
    expect((await metrics.collect()).find((f) => f.name === "console_mcp_process_starts_total")?.values).toEqual([]);
  });
});

describe("the tool label's bounds", () => {
  it("a server's calls get at most MAX_TOOL_LABELS tool labels, none longer than MAX_TOOL_LABEL_LENGTH; the rest are `other`", async () => {
    const metrics = new NodeMetrics();
    const runtime = new RuntimeMetrics(metrics, () => []);
    for (let i = 0; i < MAX_TOOL_LABELS + 50; i++) runtime.toolCall("grow", `tool_${i}`, "success", 1);
    runtime.toolCall("grow", "tool_0", "success", 1); // a tool that has a label keeps it
    runtime.toolCall("long", "L".repeat(MAX_TOOL_LABEL_LENGTH + 1), "success", 1);
    runtime.toolCall("long", "L".repeat(MAX_TOOL_LABEL_LENGTH), "success", 1);
    const calls = (await metrics.collect()).find((f) => f.name === "console_mcp_tool_calls_total")?.values ?? [];
    const grow = calls.filter((v) => v.labels.server === "grow");
    expect(grow).toHaveLength(MAX_TOOL_LABELS + 1);
    expect(grow).toContainEqual({ value: 50, labels: { server: "grow", tool: OTHER_TOOL, status: "success" } });
    expect(grow).toContainEqual({ value: 2, labels: { server: "grow", tool: "tool_0", status: "success" } });
    expect(
      calls
        .filter((v) => v.labels.server === "long")
        .map((v) => v.labels.tool)
        .sort(),
    ).toEqual(["L".repeat(MAX_TOOL_LABEL_LENGTH), OTHER_TOOL]);
    runtime.forgetServer("grow");
    runtime.toolCall("grow", "fresh", "success", 1); // a server created again starts with no labels
    const again = (await metrics.collect()).find((f) => f.name === "console_mcp_tool_calls_total")?.values ?? [];
    expect(again.filter((v) => v.labels.server === "grow")).toEqual([{ value: 1, labels: { server: "grow", tool: "fresh", status: "success" } }]);
  });
});

describe("merging nodes into one exposition", () => {
  it("labels every sample with its node; a Prometheus text parser reads the result", async () => {
    const a = new NodeMetrics();
    const b = new NodeMetrics();
    for (const [m, n] of [
      [a, 1],
      [b, 2],
    ] as const) {
      m.counter("console_mcp_runs_ingested_total", "runs").inc([], n);
      m.histogram("console_mcp_tool_call_duration_seconds", "calls", ["server", "tool"], [0.1, 1]).observe(["s", 't "quoted"\nline'], 0.5 * n);
    }
    a.gauge("console_mcp_sse_clients", "clients", [], () => [[[], 7]]);
    const text = await mergeNodes([
      { node: "node-a", families: await a.collect() },
      { node: "node-b", families: await b.collect() },
    ]);
    const exposition = parseExposition(text);
    expect(exposition.families.get("console_mcp_runs_ingested_total")).toEqual({ type: "counter", help: "runs" });
    expect(sampleValue(exposition, "console_mcp_runs_ingested_total", { node: "node-a" })).toBe(1);
    expect(sampleValue(exposition, "console_mcp_runs_ingested_total", { node: "node-b" })).toBe(2);
    expect(sampleValue(exposition, "console_mcp_sse_clients")).toBe(7);
    expect(histogramCount(exposition, "console_mcp_tool_call_duration_seconds", { node: "node-b", tool: 't "quoted"\nline' })).toBe(1);
    expect(exposition.histograms.get("console_mcp_tool_call_duration_seconds")?.find((s) => s.labels.node === "node-b")?.buckets).toEqual({
      "0.1": 0,
      "1": 1,
      "+Inf": 1,
    });
    expect([...seriesKeys(exposition)].sort()).toEqual([
      'console_mcp_runs_ingested_total{node="node-a"}',
      'console_mcp_runs_ingested_total{node="node-b"}',
      'console_mcp_sse_clients{node="node-a"}',
      'console_mcp_tool_call_duration_seconds{node="node-a",server="s",tool="t "quoted"\nline"}',
      'console_mcp_tool_call_duration_seconds{node="node-b",server="s",tool="t "quoted"\nline"}',
    ]);
  });

  it("drops what a node of another version sends in another shape, keeps the rest", async () => {
    const good = new NodeMetrics();
    good.counter("console_mcp_runs_ingested_total", "runs").inc([], 3);
    const odd = [{ name: "bad name", help: "x", type: "counter", values: [] }, { name: "ok_total", help: "x", type: "summary", values: [] }, null];
    const text = await mergeNodes([{ node: "n", families: [...(await good.collect()), ...(odd as never[])] }]);
    const exposition = parseExposition(text);
    expect([...exposition.families.keys()]).toEqual(["console_mcp_runs_ingested_total"]);
  });
});
