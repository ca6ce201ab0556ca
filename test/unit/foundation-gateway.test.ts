/**
 * Pure parts of the gateway: the CORS allow-list defaults (§14), the route table's allowed methods
 * (for 405 answers), and the error mapping (§6.4).
 */
import { Errors } from "moleculer";
import { allowedOrigins, corsPolicy } from "../../services/api/cors";
import { allowedMethods, fullPath, ROUTES } from "../../services/api/routes";
import { httpErrorAnswer } from "../../services/api/http-errors";
import { notFound, validationFailed } from "../../lib/errors";
import { loadConfig } from "../../lib/config";

const defaults = { corsOrigins: null, frontendHost: "127.0.0.1", frontendPort: 5173 };

describe("allowedOrigins", () => {
  it("defaults to 127.0.0.1 and localhost on 5173", () => {
    expect(allowedOrigins(defaults)).toEqual(["http://127.0.0.1:5173", "http://localhost:5173"]);
    expect(allowedOrigins(loadConfig({}))).toEqual(["http://127.0.0.1:5173", "http://localhost:5173"]);
  });

  it("maps 0.0.0.0 and :: to 127.0.0.1", () => {
    expect(allowedOrigins({ ...defaults, frontendHost: "0.0.0.0", frontendPort: 3000 })).toEqual(["http://127.0.0.1:3000", "http://localhost:3000"]);
    expect(allowedOrigins({ ...defaults, frontendHost: "::" })).toEqual(["http://127.0.0.1:5173", "http://localhost:5173"]);
  });

  it("adds 127.0.0.1 for localhost", () => {
    expect(allowedOrigins({ ...defaults, frontendHost: "localhost", frontendPort: 8080 })).toEqual([
      "http://localhost:8080",
      "http://127.0.0.1:8080",
    ]);
  });

  it("uses another host alone", () => {
    expect(allowedOrigins({ ...defaults, frontendHost: "console.example" })).toEqual(["http://console.example:5173"]);
  });

  it("uses the fallback port when the frontend port is invalid", () => {
    expect(allowedOrigins(loadConfig({ CONSOLE_MCP_FRONTEND_PORT: "99999" }))).toEqual(["http://127.0.0.1:5173", "http://localhost:5173"]);
  });

  it("an explicit list replaces the defaults", () => {
    expect(allowedOrigins({ ...defaults, corsOrigins: ["https://a.example"] })).toEqual(["https://a.example"]);
    expect(allowedOrigins({ ...defaults, corsOrigins: [] })).toEqual([]);
  });
});

describe("corsPolicy", () => {
  it("matches origins verbatim", () => {
    const policy = corsPolicy(["http://127.0.0.1:5173", "https://a.example"]);
    expect(policy.isAllowed("http://127.0.0.1:5173")).toBe(true);
    expect(policy.isAllowed("https://a.example")).toBe(true);
    expect(policy.isAllowed("https://a.example/")).toBe(false);
    expect(policy.isAllowed("HTTPS://A.EXAMPLE")).toBe(false);
    expect(policy.isAllowed("http://127.0.0.1:5174")).toBe(false);
  });

  it("* allows every origin; an empty list none", () => {
    expect(corsPolicy(["*"]).isAllowed("https://anything.example")).toBe(true);
    expect(corsPolicy([]).isAllowed("http://127.0.0.1:5173")).toBe(false);
  });
});

describe("allowedMethods", () => {
  it.each([
    ["/api/v1/healthz", ["GET"]],
    ["/api/v1/sessions", ["GET"]],
    ["/api/v1/sessions/abc", ["DELETE", "GET"]],
    ["/api/v1/providers/gemini/sessions", ["POST"]],
    ["/api/v1/routing/simulate", ["POST"]],
    ["/api/v1/telemetry/runs", ["GET", "POST"]],
    ["/api/v1/telemetry/finops/pull-requests", ["GET", "POST"]],
    ["/api/v1/sessions/", ["GET"]],
    ["/api/v1/servers", ["GET", "POST"]],
    ["/api/v1/servers/gemini", ["DELETE", "GET", "PUT"]],
    ["/metrics", ["GET"]],
    ["/metrics/", ["GET"]],
  ])("%s → %j", (pathname, methods) => {
    expect([...allowedMethods(pathname)].sort()).toEqual(methods);
  });

  it.each([
    "/api/v1/nope",
    "/api/v1/metrics",
    "/metrics/x",
    "/",
    "/api/v1",
    "/api/v1/",
    "/healthz",
    "/api/v2/healthz",
    "/api/v1/providers//sessions",
    "/api/v1/sessions/a/b",
    "/api/v1/providers/gemini",
  ])("%s → no methods", (pathname) => {
    expect(allowedMethods(pathname)).toEqual([]);
  });

  it("every contract path of §7 is in the route table", () => {
    const table = ROUTES.map((r) => `${r.method} ${fullPath(r)}`.replace(" /api/v1/", " /"));
    expect(table).toEqual(
      expect.arrayContaining([
        "GET /healthz",
        "GET /readyz",
        "GET /providers",
        "GET /servers",
        "GET /secrets",
        "POST /providers/:provider_id/sessions",
        "GET /sessions",
        "GET /sessions/:session_id",
        "GET /telemetry/metrics",
        "GET /telemetry/heatmap",
        "GET /telemetry/timeseries",
        "GET /telemetry/pareto",
        "GET /telemetry/runs",
        "POST /telemetry/runs",
        "GET /telemetry/finops/sprints",
        "GET /telemetry/finops/pull-requests",
        "POST /telemetry/finops/pull-requests",
        "POST /routing/simulate",
        // runtime-contract §17.4
        "POST /servers",
        "GET /servers/:id",
        "PUT /servers/:id",
        "DELETE /servers/:id",
        // runtime-contract §18.5, §19, §20, §21
        "GET /servers/processes",
        "GET /servers/:id/process",
        "POST /servers/:id/process/start",
        "POST /servers/:id/process/stop",
        "POST /servers/:id/process/restart",
        "GET /servers/:id/process/logs",
        "GET /servers/:id/health",
        "POST /servers/:id/health/ping",
        "GET /servers/:id/tools",
        "POST /servers/:id/tools/:tool/call",
        // runtime-contract §22
        "DELETE /sessions/:session_id",
        // runtime-contract §23
        "GET /events",
        "GET /notifications",
        // runtime-contract §24
        "GET /secrets/:id",
        "PUT /secrets/:id",
        "DELETE /secrets/:id",
        "POST /secrets/:id/test",
        // runtime-contract §25
        "GET /security/api-keys",
        "POST /security/api-keys",
        "POST /security/api-keys/:id/rotate",
        "DELETE /security/api-keys/:id",
        "GET /security/roles",
        "GET /audit/logs",
        // runtime-contract §27, outside /api/v1 (its /api/v1 twin would read "GET /metrics" too)
        "GET /metrics",
        "GET /openapi.json",
      ]),
    );
    expect(ROUTES.filter((r) => fullPath(r) === "/metrics").map((r) => r.method)).toEqual(["GET"]);
    expect(table).toHaveLength(47);
  });
});

describe("httpErrorAnswer", () => {
  it("keeps contract errors", () => {
    expect(httpErrorAnswer(notFound("Session 'x' not found"), "GET", "/api/v1/sessions/x")).toEqual({
      status: 404,
      body: { detail: "Session 'x' not found" },
      headers: {},
    });
    const items = [{ type: "missing", loc: ["body"], msg: "Field required" }];
    expect(httpErrorAnswer(validationFailed(items), "POST", "/x")).toEqual({ status: 422, body: { detail: items }, headers: {} });
  });

  it("turns a routing miss into 405 with Allow on a known path, else 404", () => {
    const miss = new Errors.MoleculerClientError("Not found", 404, "NOT_FOUND");
    expect(httpErrorAnswer(miss, "DELETE", "/api/v1/sessions")).toEqual({
      status: 405,
      body: { detail: "Method Not Allowed" },
      headers: { Allow: "GET" },
    });
    expect(httpErrorAnswer(miss, "GET", "/api/v1/nothing")).toEqual({ status: 404, body: { detail: "Not Found" }, headers: {} });
  });

  it("a missing service is 503, not a client 404", () => {
    const err = new Errors.ServiceNotFoundError({ action: "routing.simulate" });
    expect(httpErrorAnswer(err, "POST", "/api/v1/routing/simulate").status).toBe(503);
    expect(httpErrorAnswer(new Errors.RequestTimeoutError({ action: "x", nodeID: "n" }), "GET", "/x").status).toBe(503);
  });

  it("anything else is an opaque 500", () => {
    expect(httpErrorAnswer(new Error("secret detail"), "GET", "/x")).toEqual({
      status: 500,
      body: { detail: "Internal Server Error" },
      headers: {},
    });
  });
});
