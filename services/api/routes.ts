/**
 * The REST surface: every path of the contract, the action behind it, and how the request becomes
 * the action's params. The gateway builds its aliases and its 405 answers from this one table.
 * Every route lives under /api/v1 except those that name another prefix (GET /metrics, §27).
 */

import type { RouteRole } from "../../lib/access";

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
export type InputKind = "query" | "path" | "path-and-query" | "object-body" | "path-and-optional-body" | "path-and-object-body" | "event-stream";

export interface RouteSpec {
  method: HttpMethod;
  /** Path under the route's prefix (/api/v1 unless `prefix` says otherwise), in path-to-regexp 8 syntax. */
  path: string;
  /**
   * The prefix the path lives under when it is not API_PREFIX: `""` for a path at the root of the
   * server (GET /metrics, runtime-contract §27, where Prometheus looks by default). fullPath() joins
   * the two; every client of the table (gateway, tests, OpenAPI) goes through it.
   */
  prefix?: "";
  action: string;
  input: InputKind;
  /**
   * The role a request needs in keyed mode (runtime-contract §25.1: viewer ⊂ operator ⊂ admin), or
   * `public` (no key needed in any mode: /healthz, /readyz). Required, so no route can be forgotten;
   * the gateway's access step (services/api/access.ts) reads it before the body is read.
   */
  role: RouteRole;
  /**
   * The audit log's name of what the route does (§25.2: `process.start`, `tool.call`, `secret.put`…);
   * every non-GET route has one (test/unit/gateway-roles.test.ts checks it). A GET route's denials
   * are recorded under this name too, else under its action's name.
   */
  audit?: string;
  /** The audit target: `<kind>:<value of the path parameter>` (e.g. `server:gemini`). */
  target?: { kind: string; param: string };
  /** Success status when not 200. */
  status?: number;
  /**
   * The route honours an `Idempotency-Key` header (api-contract §11.1): the gateway passes the
   * header's value, unchecked, to the action as `ctx.meta.idempotencyKey`; the action validates it
   * and applies it (lib/store/idempotency.ts).
   */
  idempotencyKey?: true;
  /**
   * Open mode (runtime-contract §25.1: no API key exists): the route answers only clients on a
   * loopback address; any other client gets 403 from the gateway's access step before its body is
   * read. For what can run commands (catalog writes), reveal credentials (a secret), or take the
   * console over (creating the first key, which ends open mode).
   */
  loopbackOnlyInOpenMode?: true;
  /** The body's runs count against the runs rate limit (§25.3: ingestion is counted by runs). */
  countsRuns?: true;
}

export const API_PREFIX = "/api/v1";

/** The prefix a route lives under: API_PREFIX, or the route's own (`""`: the server's root). */
export function routePrefix(route: Pick<RouteSpec, "prefix">): string {
  return route.prefix ?? API_PREFIX;
}

/** The route's whole path on the server: `/api/v1/servers/:id`, `/metrics` (path-to-regexp syntax). */
export function fullPath(route: Pick<RouteSpec, "prefix" | "path">): string {
  return routePrefix(route) + route.path;
}

const SERVER = { kind: "server", param: "id" };
const SESSION = { kind: "session", param: "session_id" };
const KEY = { kind: "key", param: "id" };

export const ROUTES: readonly RouteSpec[] = [
  { method: "GET", path: "/healthz", action: "api.healthz", input: "query", role: "public" },
  { method: "GET", path: "/readyz", action: "api.readyz", input: "query", role: "public" },
  // runtime-contract §27; viewer like every GET (§25.1: only /healthz and /readyz stay open in keyed mode).
  { method: "GET", path: "/openapi.json", action: "api.openapi", input: "query", role: "viewer" },
  { method: "GET", path: "/providers", action: "providers.catalog", input: "query", role: "viewer" },
  { method: "GET", path: "/servers", action: "providers.servers", input: "query", role: "viewer" },
  {
    method: "POST",
    path: "/servers",
    action: "providers.createServer",
    input: "object-body",
    status: 201,
    role: "admin",
    audit: "server.create",
    loopbackOnlyInOpenMode: true,
  },
  { method: "GET", path: "/servers/processes", action: "runtime.processes", input: "query", role: "viewer" },
  { method: "GET", path: "/servers/:id", action: "providers.server", input: "path", role: "viewer", target: SERVER },
  { method: "GET", path: "/servers/:id/process", action: "runtime.process", input: "path", role: "viewer", target: SERVER },
  {
    method: "POST",
    path: "/servers/:id/process/start",
    action: "runtime.start",
    input: "path-and-query",
    role: "operator",
    audit: "process.start",
    target: SERVER,
  },
  {
    method: "POST",
    path: "/servers/:id/process/stop",
    action: "runtime.stop",
    input: "path-and-query",
    role: "operator",
    audit: "process.stop",
    target: SERVER,
  },
  {
    method: "POST",
    path: "/servers/:id/process/restart",
    action: "runtime.restart",
    input: "path-and-query",
    role: "operator",
    audit: "process.restart",
    target: SERVER,
  },
  { method: "GET", path: "/servers/:id/process/logs", action: "runtime.logs", input: "path-and-query", role: "viewer", target: SERVER },
  { method: "GET", path: "/servers/:id/health", action: "runtime.health", input: "path-and-query", role: "viewer", target: SERVER },
  {
    method: "POST",
    path: "/servers/:id/health/ping",
    action: "runtime.ping",
    input: "path-and-query",
    role: "operator",
    audit: "health.ping",
    target: SERVER,
  },
  { method: "GET", path: "/servers/:id/tools", action: "runtime.tools", input: "path", role: "viewer", target: SERVER },
  {
    method: "POST",
    path: "/servers/:id/tools/:tool/call",
    action: "runtime.callTool",
    input: "path-and-optional-body",
    role: "operator",
    audit: "tool.call",
    target: SERVER,
  },
  {
    method: "PUT",
    path: "/servers/:id",
    action: "providers.updateServer",
    input: "path-and-object-body",
    role: "admin",
    audit: "server.update",
    target: SERVER,
    loopbackOnlyInOpenMode: true,
  },
  {
    method: "DELETE",
    path: "/servers/:id",
    action: "providers.deleteServer",
    input: "path",
    status: 204,
    role: "admin",
    audit: "server.delete",
    target: SERVER,
    loopbackOnlyInOpenMode: true,
  },
  { method: "GET", path: "/secrets", action: "secrets.list", input: "query", role: "viewer" },
  {
    method: "GET",
    path: "/secrets/:id",
    action: "secrets.get",
    input: "path",
    role: "admin",
    audit: "secret.reveal",
    target: SERVER,
    loopbackOnlyInOpenMode: true,
  },
  { method: "PUT", path: "/secrets/:id", action: "secrets.put", input: "path-and-object-body", role: "admin", audit: "secret.put", target: SERVER },
  {
    method: "DELETE",
    path: "/secrets/:id",
    action: "secrets.remove",
    input: "path",
    status: 204,
    role: "admin",
    audit: "secret.delete",
    target: SERVER,
  },
  { method: "POST", path: "/secrets/:id/test", action: "runtime.testSecret", input: "path", role: "admin", audit: "secret.test", target: SERVER },
  {
    method: "POST",
    path: "/providers/:provider_id/sessions",
    action: "sessions.create",
    input: "path-and-optional-body",
    role: "operator",
    audit: "session.create",
    target: { kind: "server", param: "provider_id" },
  },
  { method: "GET", path: "/sessions", action: "sessions.list", input: "query", role: "viewer" },
  { method: "GET", path: "/sessions/:session_id", action: "sessions.get", input: "path", role: "viewer", target: SESSION },
  {
    method: "DELETE",
    path: "/sessions/:session_id",
    action: "sessions.close",
    input: "path",
    role: "operator",
    audit: "session.close",
    target: SESSION,
  },
  { method: "GET", path: "/telemetry/metrics", action: "telemetry.metrics", input: "query", role: "viewer" },
  { method: "GET", path: "/telemetry/heatmap", action: "telemetry.heatmap", input: "query", role: "viewer" },
  { method: "GET", path: "/telemetry/timeseries", action: "telemetry.timeseries", input: "query", role: "viewer" },
  { method: "GET", path: "/telemetry/pareto", action: "telemetry.pareto", input: "query", role: "viewer" },
  { method: "GET", path: "/telemetry/runs", action: "telemetry.runs", input: "query", role: "viewer" },
  {
    method: "POST",
    path: "/telemetry/runs",
    action: "telemetry.ingest",
    input: "object-body",
    status: 201,
    idempotencyKey: true,
    role: "operator",
    audit: "telemetry.ingest",
    countsRuns: true,
  },
  { method: "GET", path: "/telemetry/finops/sprints", action: "finops.sprints", input: "query", role: "viewer" },
  { method: "GET", path: "/telemetry/finops/pull-requests", action: "finops.pullRequests", input: "query", role: "viewer" },
  {
    method: "POST",
    path: "/telemetry/finops/pull-requests",
    action: "finops.ingestPullRequest",
    input: "object-body",
    status: 201,
    idempotencyKey: true,
    role: "operator",
    audit: "pull_request.create",
  },
  { method: "POST", path: "/routing/simulate", action: "routing.simulate", input: "object-body", role: "operator", audit: "routing.simulate" },
  // runtime-contract §23: the stream is the gateway's own (no action: "api.events" names it).
  { method: "GET", path: "/events", action: "api.events", input: "event-stream", role: "viewer" },
  { method: "GET", path: "/notifications", action: "runtime.notifications", input: "query", role: "viewer" },
  // runtime-contract §25
  { method: "GET", path: "/security/api-keys", action: "access.listKeys", input: "query", role: "admin", audit: "key.list" },
  {
    method: "POST",
    path: "/security/api-keys",
    action: "access.createKey",
    input: "object-body",
    status: 201,
    role: "admin",
    audit: "key.create",
    loopbackOnlyInOpenMode: true,
  },
  {
    method: "POST",
    path: "/security/api-keys/:id/rotate",
    action: "access.rotateKey",
    input: "path",
    role: "admin",
    audit: "key.rotate",
    target: KEY,
  },
  {
    method: "DELETE",
    path: "/security/api-keys/:id",
    action: "access.deleteKey",
    input: "path",
    status: 204,
    role: "admin",
    audit: "key.delete",
    target: KEY,
  },
  { method: "GET", path: "/security/roles", action: "access.roles", input: "query", role: "viewer" },
  { method: "GET", path: "/audit/logs", action: "access.auditLogs", input: "query", role: "admin", audit: "audit.read" },
  // runtime-contract §27: Prometheus text of the whole cluster (services/metrics.service.ts), at the root.
  { method: "GET", prefix: "", path: "/metrics", action: "metrics.scrape", input: "query", role: "viewer" },
];

/** The methods a path allows (the whole path: `/api/v1/servers/x`, `/metrics`), or an empty list when no route has that path. */
export function allowedMethods(pathname: string, routes: readonly RouteSpec[] = ROUTES): HttpMethod[] {
  const trimmed = pathname.length > 1 ? pathname.replace(/\/+$/, "") : pathname;
  const methods = routes
    .filter((r) => {
      const prefix = routePrefix(r);
      if (!trimmed.startsWith(`${prefix}/`)) return false;
      const segments = trimmed.slice(prefix.length).split("/");
      const pattern = r.path.split("/");
      return pattern.length === segments.length && pattern.every((p, i) => (p.startsWith(":") ? segments[i] !== "" : p === segments[i]));
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
