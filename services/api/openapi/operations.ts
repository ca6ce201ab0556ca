/**
 * What the OpenAPI document says about each action of the route table beyond the table itself: a
 * summary, the query parameters and the body the action reads — the very tables and schemas its
 * code validates with (lib/query-params.ts specs; the body schemas beside each validator) — its
 * success answer, and the errors particular to it. The route table (../routes.ts) decides which
 * operations exist, their method, path, role, status and headers; test/unit/openapi-document.test.ts
 * checks that every action of the table has an entry here and that no entry is left over.
 */
import { EVENTS_QUERY } from "../events/filter";
import { NEW_KEY_BODY_SCHEMA } from "../../access/new-key";
import { AUDIT_QUERY } from "../../access/audit-read";
import { REPORT_QUERY } from "../../finops/params";
import { serverBodySchema } from "../../providers/server-record";
import { simulationBodySchema } from "../../routing/request";
import { HEALTH_QUERY, LOGS_QUERY, START_QUERY, TOOL_CALL_BODY_SCHEMA } from "../../runtime/views";
import { SECRET_BODY_SCHEMA } from "../../secrets/value";
import { SESSIONS_QUERY } from "../../sessions/listing";
import { sessionBodySchema } from "../../sessions/session";
import { TELEMETRY_QUERIES } from "../../telemetry/filters";
import { INGEST_BODY_SCHEMA, RUN_INPUT_SCHEMA } from "../../telemetry/store/run";
import { PULL_REQUEST_BODY_SCHEMA } from "../../../lib/pull-request";
import type { JsonSchema } from "../../../lib/json-schema";
import type { QuerySpec } from "../../../lib/query-params";
import { RESPONSES, type ResponseDoc } from "./schemas";

export interface BodyDoc {
  /** Its name in components.schemas. */
  name: string;
  schema: JsonSchema;
  /** false: the body may be left out (an empty body or JSON `null` is no body). */
  required: boolean;
}

export interface OperationDoc {
  summary: string;
  /** The contract section(s) it implements. */
  contract: string;
  /** The query parameters the action reads (none when absent). */
  query?: QuerySpec;
  body?: BodyDoc;
  response: ResponseDoc;
  /** The success answer is text of this media type (e.g. Prometheus' `text/plain; version=0.0.4`), not JSON. */
  responseMediaType?: string;
  /** Other success answers (e.g. 202 of `?wait=false`), status → description. */
  otherSuccess?: Readonly<Record<number, string>>;
  /** The errors particular to the operation, status → when (the common ones are added by the document). */
  errors?: Readonly<Record<number, string>>;
}

/** Named schemas shown by reference wherever they appear inside another (the same object). */
export const SHARED_INPUT_SCHEMAS: ReadonlyMap<JsonSchema, string> = new Map([[RUN_INPUT_SCHEMA, "RunInput"]]);

const START_RANGE = "`start` after `end` (`start must be before end`)";
const CURSOR = "a malformed cursor (`invalid cursor`)";
const SERVER_404 = "Unknown server (`Server '<id>' not found`)";

/** The document's entry of each action of the route table, by action name. */
export const OPERATIONS: Readonly<Record<string, OperationDoc>> = {
  "api.healthz": { summary: "Liveness", contract: "api-contract §8.1", response: RESPONSES.healthz },
  "api.readyz": {
    summary: "Readiness: the store and every contract service",
    contract: "api-contract §8.2",
    response: RESPONSES.readyz,
    errors: { 503: "A check failed: the Readiness body with `status: not_ready` and `missing`" },
  },
  "api.openapi": { summary: "This OpenAPI document", contract: "runtime-contract §27", response: RESPONSES.openapi },
  "api.events": {
    summary: "Live events (Server-Sent Events)",
    contract: "runtime-contract §23.1",
    query: EVENTS_QUERY,
    response: RESPONSES.openapi,
    errors: { 503: "Too many streams on this gateway (`CONSOLE_MCP_SSE_MAX_CLIENTS`)" },
  },
  "providers.catalog": { summary: "Manifest providers", contract: "api-contract §8.3", response: RESPONSES.providers },
  "providers.servers": { summary: "The server catalog", contract: "runtime-contract §17.4", response: RESPONSES.servers },
  "providers.server": { summary: "One catalog server", contract: "runtime-contract §17.4", response: RESPONSES.server, errors: { 404: SERVER_404 } },
  "providers.createServer": {
    summary: "Add a server to the catalog",
    contract: "runtime-contract §17.4",
    body: { name: "ServerCreate", schema: serverBodySchema("create"), required: true },
    response: RESPONSES.server,
    errors: { 409: "A server with this id exists" },
  },
  "providers.updateServer": {
    summary: "Change a server created over HTTP (omitted fields keep their values; null resets)",
    contract: "runtime-contract §17.4",
    body: { name: "ServerUpdate", schema: serverBodySchema("update"), required: true },
    response: RESPONSES.server,
    errors: { 404: SERVER_404, 409: "A manifest server (change the manifest file instead)" },
  },
  "providers.deleteServer": {
    summary: "Remove a server created over HTTP (its process is stopped first)",
    contract: "runtime-contract §17.4",
    response: RESPONSES.server,
    errors: { 404: SERVER_404, 409: "A manifest server" },
  },
  "runtime.processes": { summary: "Every server's process", contract: "runtime-contract §18.5", response: RESPONSES.processes },
  "runtime.process": { summary: "A server's process", contract: "runtime-contract §18.5", response: RESPONSES.process, errors: { 404: SERVER_404 } },
  "runtime.start": {
    summary: "Start a server's process (waits for running or error)",
    contract: "runtime-contract §18.5",
    query: START_QUERY,
    response: RESPONSES.process,
    otherSuccess: { 202: "With `wait=false`: the process as it is now (`starting`)" },
    errors: { 404: SERVER_404, 409: "Already running or starting, or the process limit is reached" },
  },
  "runtime.stop": {
    summary: "Stop a server's process",
    contract: "runtime-contract §18.5",
    response: RESPONSES.process,
    errors: { 404: SERVER_404, 409: "Not running (already stopped and meant to be)" },
  },
  "runtime.restart": {
    summary: "Restart a server's process",
    contract: "runtime-contract §18.5",
    query: START_QUERY,
    response: RESPONSES.process,
    otherSuccess: { 202: "With `wait=false`: the process as it is now (`starting`)" },
    errors: { 404: SERVER_404, 409: "The process limit is reached" },
  },
  "runtime.logs": {
    summary: "A server's log lines after a cursor",
    contract: "runtime-contract §19",
    query: LOGS_QUERY,
    response: RESPONSES.logs,
    errors: { 400: "A cursor that is not 1..18 decimal digits (`Cursor must be an integer`)", 404: SERVER_404 },
  },
  "runtime.health": {
    summary: "A server's health checks",
    contract: "runtime-contract §20",
    query: HEALTH_QUERY,
    response: RESPONSES.health,
    errors: { 404: SERVER_404 },
  },
  "runtime.ping": {
    summary: "Ping a server now (MCP ping)",
    contract: "runtime-contract §20",
    response: RESPONSES.ping,
    errors: { 404: SERVER_404 },
  },
  "runtime.tools": {
    summary: "A running server's tools",
    contract: "runtime-contract §21",
    response: RESPONSES.tools,
    errors: { 404: SERVER_404, 409: "The server is not running" },
  },
  "runtime.callTool": {
    summary: "Call a tool (recorded as a telemetry run)",
    contract: "runtime-contract §21",
    body: { name: "ToolCall", schema: TOOL_CALL_BODY_SCHEMA, required: false },
    response: RESPONSES.toolCall,
    errors: {
      404: "Unknown server or tool",
      409: "The server is not running, or the session is closed or of another server",
      502: "The server closed the connection during the call",
      504: "The tool did not answer within the timeout",
    },
  },
  "runtime.notifications": { summary: "Recent notifications", contract: "runtime-contract §23.2", response: RESPONSES.notifications },
  "runtime.testSecret": {
    summary: "Test a server's secret with a real handshake",
    contract: "runtime-contract §24",
    response: RESPONSES.secretTest,
    errors: { 404: "Unknown server, or no secret stored" },
  },
  "secrets.list": { summary: "Which servers have a secret", contract: "runtime-contract §24", response: RESPONSES.secrets },
  "secrets.get": {
    summary: "Reveal a secret",
    contract: "runtime-contract §24",
    response: RESPONSES.secret,
    errors: { 404: "No secret for this server" },
  },
  "secrets.put": {
    summary: "Store a server's secret",
    contract: "runtime-contract §24",
    body: { name: "SecretPut", schema: SECRET_BODY_SCHEMA, required: true },
    response: RESPONSES.secret,
    errors: { 404: SERVER_404 },
  },
  "secrets.remove": {
    summary: "Delete a server's secret",
    contract: "runtime-contract §24",
    response: RESPONSES.secret,
    errors: { 404: "No secret for this server" },
  },
  "sessions.create": {
    summary: "Open a session with a provider",
    contract: "api-contract §9.1, runtime-contract §22",
    body: { name: "SessionCreate", schema: sessionBodySchema(), required: false },
    response: RESPONSES.sessionCreated,
    errors: { 404: "Unknown provider (`Provider '<id>' not found`)" },
  },
  "sessions.list": {
    summary: "Sessions (every one, or pages)",
    contract: "api-contract §9.2, runtime-contract §22",
    query: SESSIONS_QUERY,
    response: RESPONSES.sessions,
    errors: { 400: CURSOR },
  },
  "sessions.get": {
    summary: "One session",
    contract: "api-contract §9.3",
    response: RESPONSES.session,
    errors: { 404: "Unknown session (`Session '<id>' not found`)" },
  },
  "sessions.close": {
    summary: "Close a session (again: the same record)",
    contract: "runtime-contract §22",
    response: RESPONSES.session,
    errors: { 404: "Unknown session (`Session '<id>' not found`)" },
  },
  "telemetry.metrics": {
    summary: "Totals and per-provider figures",
    contract: "api-contract §10.2",
    query: TELEMETRY_QUERIES.metrics,
    response: RESPONSES.metrics,
    errors: { 400: START_RANGE },
  },
  "telemetry.heatmap": {
    summary: "Runs per day and provider",
    contract: "api-contract §10.3",
    query: TELEMETRY_QUERIES.heatmap,
    response: RESPONSES.heatmap,
    errors: { 400: START_RANGE },
  },
  "telemetry.timeseries": {
    summary: "Daily figures per provider",
    contract: "api-contract §10.4",
    query: TELEMETRY_QUERIES.timeseries,
    response: RESPONSES.timeseries,
    errors: { 400: START_RANGE },
  },
  "telemetry.pareto": {
    summary: "Cost per provider and route",
    contract: "api-contract §10.5",
    query: TELEMETRY_QUERIES.pareto,
    response: RESPONSES.pareto,
    errors: { 400: START_RANGE },
  },
  "telemetry.runs": {
    summary: "Runs, newest first (keyset pages)",
    contract: "api-contract §10.6",
    query: TELEMETRY_QUERIES.runs,
    response: RESPONSES.runs,
    errors: { 400: `${START_RANGE}, or ${CURSOR}` },
  },
  "telemetry.ingest": {
    summary: "Ingest runs (one, or a batch of up to 5,000; all or nothing)",
    contract: "api-contract §11",
    body: { name: "RunIngest", schema: INGEST_BODY_SCHEMA, required: true },
    response: RESPONSES.ingest,
  },
  "finops.sprints": {
    summary: "Cost per sprint window",
    contract: "api-contract §12.1",
    query: REPORT_QUERY,
    response: RESPONSES.sprints,
    errors: { 400: START_RANGE },
  },
  "finops.pullRequests": {
    summary: "Cost impact of each pull request",
    contract: "api-contract §12.2",
    query: REPORT_QUERY,
    response: RESPONSES.pullRequests,
    errors: { 400: START_RANGE },
  },
  "finops.ingestPullRequest": {
    summary: "Register a pull request",
    contract: "api-contract §12.3",
    body: { name: "PullRequestCreate", schema: PULL_REQUEST_BODY_SCHEMA, required: true },
    response: RESPONSES.pullRequest,
    errors: { 409: "A pull request with this id exists" },
  },
  "routing.simulate": {
    summary: "What-if routing plan",
    contract: "api-contract §13, runtime-contract §26",
    body: { name: "RoutingSimulation", schema: simulationBodySchema(), required: true },
    response: RESPONSES.simulation,
    errors: { 404: "Unknown providers (`Providers not found: <ids>`)" },
  },
  "metrics.scrape": {
    summary: "Prometheus metrics of every node",
    contract: "runtime-contract §27",
    response: {
      name: "PrometheusText",
      description: "Prometheus text exposition format (0.0.4): every node's metric families, each sample labelled with its node.",
    },
    responseMediaType: "text/plain; version=0.0.4",
    errors: { 404: "Metrics are off on this node (`CONSOLE_MCP_METRICS=off`)" },
  },
  "access.listKeys": { summary: "API keys", contract: "runtime-contract §25.1", response: RESPONSES.keys },
  "access.createKey": {
    summary: "Create an API key (its secret is shown once)",
    contract: "runtime-contract §25.1",
    body: { name: "ApiKeyCreate", schema: NEW_KEY_BODY_SCHEMA, required: true },
    response: RESPONSES.keyCreated,
    errors: { 409: "A key with this name exists" },
  },
  "access.rotateKey": {
    summary: "Rotate an API key (a new secret, shown once)",
    contract: "runtime-contract §25.1",
    response: RESPONSES.keyCreated,
    errors: { 404: "Unknown key" },
  },
  "access.deleteKey": {
    summary: "Delete an API key",
    contract: "runtime-contract §25.1",
    response: RESPONSES.keys,
    errors: { 404: "Unknown key", 409: "The last admin key while other keys exist" },
  },
  "access.roles": { summary: "The roles and what each may do", contract: "runtime-contract §25.1", response: RESPONSES.roles },
  "access.auditLogs": {
    summary: "The audit log, newest first (keyset pages)",
    contract: "runtime-contract §25.2",
    query: AUDIT_QUERY,
    response: RESPONSES.audit,
    errors: { 400: `${START_RANGE}, or ${CURSOR}` },
  },
};
