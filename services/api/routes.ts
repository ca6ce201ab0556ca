/**
 * The REST surface of /api/v1: every path of the contract, the action behind it, and how the
 * request becomes the action's params. The gateway builds its aliases and its 405 answers from
 * this one table.
 */

export type HttpMethod = "GET" | "POST" | "PUT" | "DELETE";

/**
 * How a request becomes action params:
 * - query: the query parameters (one string per key, the last occurrence winning: ./query.ts);
 * - path: the path parameters;
 * - path-and-query: the path parameters over the query parameters (the process actions take no
 *   body, runtime-contract §18.5);
 * - object-body: the JSON body, which must be an object;
 * - path-and-optional-body: path parameters merged over an optional JSON object body;
 * - path-and-object-body: path parameters merged over a JSON body, which must be an object;
 * - event-stream: no action is called: the gateway answers with its Server-Sent Events stream
 *   (./events/), from the query parameters and the Last-Event-ID header (runtime-contract §23.1).
 *
 * A route whose kind reads no body but whose method carries one (POST, PUT, DELETE: see
 * checksIgnoredBody) still has any body it is sent checked by the body rules, then ignored.
 */
export type InputKind =
  | "query" | "path" | "path-and-query" | "object-body" | "path-and-optional-body" | "path-and-object-body" | "event-stream";

export interface RouteSpec {
  method: HttpMethod;
  /** Path under /api/v1, in path-to-regexp 8 syntax. */
  path: string;
  action: string;
  input: InputKind;
  /** Success status when not 200. */
  status?: number;
  /**
   * The route honours an `Idempotency-Key` header (api-contract §11.1): the gateway passes the
   * header's value, unchecked, to the action as `ctx.meta.idempotencyKey`; the action validates it
   * and applies it (lib/store/idempotency.ts).
   */
  idempotencyKey?: true;
  /**
   * Open mode (runtime-contract §25.1: no API key exists, as in this version): the route answers
   * only clients on a loopback address; any other client gets 403 from the gateway's access step
   * (services/api/access.ts) before its body is read. For the writes that can run commands (catalog
   * writes) or reveal credentials.
   */
  loopbackOnlyInOpenMode?: true;
}

export const API_PREFIX = "/api/v1";

export const ROUTES: readonly RouteSpec[] = [
  { method: "GET", path: "/healthz", action: "api.healthz", input: "query" },
  { method: "GET", path: "/readyz", action: "api.readyz", input: "query" },
  { method: "GET", path: "/providers", action: "providers.catalog", input: "query" },
  { method: "GET", path: "/servers", action: "providers.servers", input: "query" },
  { method: "POST", path: "/servers", action: "providers.createServer", input: "object-body", status: 201, loopbackOnlyInOpenMode: true },
  { method: "GET", path: "/servers/processes", action: "runtime.processes", input: "query" },
  { method: "GET", path: "/servers/:id", action: "providers.server", input: "path" },
  { method: "GET", path: "/servers/:id/process", action: "runtime.process", input: "path" },
  { method: "POST", path: "/servers/:id/process/start", action: "runtime.start", input: "path-and-query" },
  { method: "POST", path: "/servers/:id/process/stop", action: "runtime.stop", input: "path-and-query" },
  { method: "POST", path: "/servers/:id/process/restart", action: "runtime.restart", input: "path-and-query" },
  { method: "GET", path: "/servers/:id/process/logs", action: "runtime.logs", input: "path-and-query" },
  { method: "GET", path: "/servers/:id/health", action: "runtime.health", input: "path-and-query" },
  { method: "POST", path: "/servers/:id/health/ping", action: "runtime.ping", input: "path-and-query" },
  { method: "GET", path: "/servers/:id/tools", action: "runtime.tools", input: "path" },
  { method: "POST", path: "/servers/:id/tools/:tool/call", action: "runtime.callTool", input: "path-and-optional-body" },
  { method: "PUT", path: "/servers/:id", action: "providers.updateServer", input: "path-and-object-body", loopbackOnlyInOpenMode: true },
  { method: "DELETE", path: "/servers/:id", action: "providers.deleteServer", input: "path", status: 204, loopbackOnlyInOpenMode: true },
  { method: "GET", path: "/secrets", action: "secrets.list", input: "query" },
  { method: "GET", path: "/secrets/:id", action: "secrets.get", input: "path", loopbackOnlyInOpenMode: true },
  { method: "PUT", path: "/secrets/:id", action: "secrets.put", input: "path-and-object-body" },
  { method: "DELETE", path: "/secrets/:id", action: "secrets.remove", input: "path", status: 204 },
  { method: "POST", path: "/secrets/:id/test", action: "runtime.testSecret", input: "path" },
  { method: "POST", path: "/providers/:provider_id/sessions", action: "sessions.create", input: "path-and-optional-body" },
  { method: "GET", path: "/sessions", action: "sessions.list", input: "query" },
  { method: "GET", path: "/sessions/:session_id", action: "sessions.get", input: "path" },
  { method: "DELETE", path: "/sessions/:session_id", action: "sessions.close", input: "path" },
  { method: "GET", path: "/telemetry/metrics", action: "telemetry.metrics", input: "query" },
  { method: "GET", path: "/telemetry/heatmap", action: "telemetry.heatmap", input: "query" },
  { method: "GET", path: "/telemetry/timeseries", action: "telemetry.timeseries", input: "query" },
  { method: "GET", path: "/telemetry/pareto", action: "telemetry.pareto", input: "query" },
  { method: "GET", path: "/telemetry/runs", action: "telemetry.runs", input: "query" },
  { method: "POST", path: "/telemetry/runs", action: "telemetry.ingest", input: "object-body", status: 201, idempotencyKey: true },
  { method: "GET", path: "/telemetry/finops/sprints", action: "finops.sprints", input: "query" },
  { method: "GET", path: "/telemetry/finops/pull-requests", action: "finops.pullRequests", input: "query" },
  {
    method: "POST", path: "/telemetry/finops/pull-requests", action: "finops.ingestPullRequest", input: "object-body",
    status: 201, idempotencyKey: true,
  },
  { method: "POST", path: "/routing/simulate", action: "routing.simulate", input: "object-body" },
  // runtime-contract §23: the stream is the gateway's own (no action: "api.events" names it).
  { method: "GET", path: "/events", action: "api.events", input: "event-stream" },
  { method: "GET", path: "/notifications", action: "runtime.notifications", input: "query" },
];

/** The methods a path allows, or an empty list when no route has that path. */
export function allowedMethods(pathname: string, routes: readonly RouteSpec[] = ROUTES): HttpMethod[] {
  if (!pathname.startsWith(`${API_PREFIX}/`)) return [];
  const rest = pathname.slice(API_PREFIX.length).replace(/\/+$/, "");
  const segments = rest.split("/");
  const methods = routes
    .filter((r) => {
      const pattern = r.path.split("/");
      return (
        pattern.length === segments.length &&
        pattern.every((p, i) => (p.startsWith(":") ? segments[i] !== "" : p === segments[i]))
      );
    })
    .map((r) => r.method);
  return [...new Set(methods)];
}

/**
 * True for a route that takes no body although its method carries one (POST, PUT, DELETE with input
 * `query`, `path` or `path-and-query`: the process actions, pings, deletes). The gateway still reads
 * a body sent to it and applies the body rules of api-contract §6.3 — content type, UTF-8, JSON
 * syntax, 64 levels of nesting — before any other check, then ignores the value: only an empty body
 * (whatever its Content-Type, runtime-contract §18.5) or the JSON `null` counts as no body. A GET
 * route ignores any body unread.
 */
export function checksIgnoredBody(route: RouteSpec): boolean {
  return route.method !== "GET" && (route.input === "query" || route.input === "path" || route.input === "path-and-query");
}
