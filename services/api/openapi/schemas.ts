/**
 * The named schemas of the OpenAPI document: the error bodies of api-contract §6.4 and the records
 * the endpoints answer with (Part I §8–§13, runtime-contract §17–§25).
 *
 * Records that have a TypeScript type in the code (Server, ProcessState, Session, LogEntry,
 * HealthCheck, ApiKeyView, AuditItem, Notification, ProviderSummary, the telemetry answers and their
 * items) list exactly that type's fields:
 * `fields<T>()` makes the compiler check that every field of the type has a schema and that no other
 * is listed. The FinOps reports, the routing plan, a tool call's MCP result and a registered pull
 * request are named objects with their top-level fields described; their inner shapes are in the
 * contract sections each description names.
 */
import type { ApiKeyView } from "../../access/keys-store";
import type { AuditItem } from "../../access/audit-read";
import type { ProviderSummary } from "../../../lib/provider-directory";
import { ROLES } from "../../../lib/access";
import type { JsonSchema } from "../../../lib/json-schema";
import type { Server } from "../../providers/server-record";
import { RESTART_POLICIES } from "../../providers/server-record";
import type { Notification } from "../../runtime/notifications";
import { PROCESS_STATUSES, type LogEntry } from "../../runtime/store";
import type { ProcessState } from "../../runtime/views";
import type { Session } from "../../sessions/session";
import type { CostBreakdownEntry } from "../../telemetry/cost-breakdown";
import type { ExtendedMetrics, MetricsAnswer } from "../../telemetry/reads";
import type { RunItem } from "../../telemetry/store/run";
import type { ErrorBreakdownEntry, HeatmapBucket, ProviderMetrics, RouteBreakdown, TimeseriesItem } from "../../telemetry/summaries";
import { LANES } from "../../../lib/lanes";

/** A reference to a named schema of the document. */
export const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });

const str = (description?: string): JsonSchema => ({ type: "string", ...(description === undefined ? {} : { description }) });
const int = (description?: string): JsonSchema => ({ type: "integer", ...(description === undefined ? {} : { description }) });
const num = (description?: string): JsonSchema => ({ type: "number", ...(description === undefined ? {} : { description }) });
const bool = (description?: string): JsonSchema => ({ type: "boolean", ...(description === undefined ? {} : { description }) });
/** An output datetime (§1.2: UTC with `Z`, milliseconds only when non-zero). */
const instant = (description?: string): JsonSchema => ({
  type: "string",
  format: "date-time",
  ...(description === undefined ? {} : { description }),
});
const day = (): JsonSchema => ({ type: "string", format: "date", description: "UTC calendar day." });
const or = (schema: JsonSchema): JsonSchema => {
  if (typeof schema.type !== "string") return { anyOf: [schema, { type: "null" }] };
  const out: JsonSchema = { ...schema, type: [schema.type, "null"] };
  if (Array.isArray(schema.enum)) out.enum = [...schema.enum, null];
  return out;
};
const list = (items: JsonSchema, description?: string): JsonSchema => ({
  type: "array",
  items,
  ...(description === undefined ? {} : { description }),
});
const strings = (description?: string): JsonSchema => list({ type: "string" }, description);
const oneOf = (values: readonly string[], description?: string): JsonSchema => ({
  type: "string",
  enum: [...values],
  ...(description === undefined ? {} : { description }),
});
const anyObject = (description: string): JsonSchema => ({ type: "object", description });

/** Every field of T, each with a schema (the compiler checks the field list against the type). */
function fields<T>(properties: { [K in keyof T]-?: JsonSchema }): Record<string, JsonSchema> {
  return properties as Record<string, JsonSchema>;
}

/** An object whose every listed field is always present (§1.1: a missing value is null, never an omitted key). */
function record(description: string, properties: Record<string, JsonSchema>): JsonSchema {
  return { type: "object", description, required: Object.keys(properties), properties };
}

const HEALTH_CHECK = record("A health check (runtime-contract §20).", {
  status: oneOf(["healthy", "degraded", "error"]),
  checked_at: instant(),
  latency_ms: or(int()),
  message: or(str()),
  actor: or(str("The API key's name for a manual ping, `scheduler` for periodic checks, null in open mode.")),
  plan_id: { type: "null" },
});

/** The named schemas, by name. */
export const SCHEMAS: Record<string, JsonSchema> = {
  // ---- errors (api-contract §6.4)
  ValidationItem: {
    type: "object",
    description: "One problem of a request (api-contract §6.4). `type`/`msg` are not load-bearing.",
    required: ["type", "loc", "msg"],
    properties: {
      type: str(
        "e.g. `missing`, `json_invalid`, `int_parsing`, `greater_than_equal`, `less_than_equal`, `datetime_parsing`, `string_type`, `literal_error`, `too_long`.",
      ),
      loc: {
        type: "array",
        description: "`[source, …path]`: source is `query`, `body`, `path` or `header`, then field names and array indexes.",
        items: { type: ["string", "integer"] },
        minItems: 1,
      },
      msg: str(),
      input: { description: "The value refused (left out where it may be long or secret)." },
      ctx: { type: "object", description: "Details such as `ge`, `le`, `expected`, `max_length`." },
    },
  },
  ValidationError: {
    type: "object",
    description: "422: the request's path, query or body is not valid (api-contract §6.4).",
    required: ["detail"],
    properties: { detail: list(ref("ValidationItem")) },
  },
  Error: {
    type: "object",
    description: "Every other error (api-contract §6.4, runtime-contract §25): a message.",
    required: ["detail"],
    properties: { detail: str() },
  },

  // ---- catalog and providers
  ProviderSummary: record(
    "A manifest provider (api-contract §3.1).",
    fields<ProviderSummary>({
      id: str(),
      name: str(),
      command: str(),
      description: str(),
      tags: strings(),
      capabilities: strings(),
      transport: str(),
      is_available: bool(),
    }),
  ),
  Server: record(
    "A catalog server with its runtime fields' defaults materialised (runtime-contract §17.3).",
    fields<Server>({
      id: str(),
      name: str(),
      command: str(),
      description: str(),
      tags: strings(),
      capabilities: strings(),
      transport: str(),
      args: strings(),
      env: { type: "object", additionalProperties: { type: "string" } },
      cwd: str(),
      autostart: bool(),
      startup_timeout_s: num(),
      secret_env: str(),
      restart: oneOf(RESTART_POLICIES),
      max_restarts: int(),
      degraded_latency_ms: int(),
      tool_timeout_s: num(),
      source: oneOf(["manifest", "api"]),
      created_at: instant(),
      updated_at: instant(),
    }),
  ),

  // ---- runtime
  LogEntry: record(
    "A log line of a server (runtime-contract §19).",
    fields<LogEntry>({
      id: str("Decimal; increases per server."),
      timestamp: instant(),
      level: oneOf(["debug", "info", "warn", "error"]),
      source: oneOf(["supervisor", "stderr"]),
      message: str(),
    }),
  ),
  ProcessState: record(
    "A server's process (runtime-contract §18.1).",
    fields<ProcessState>({
      server_id: str(),
      desired: oneOf(["running", "stopped"]),
      status: oneOf(PROCESS_STATUSES),
      command: or(str()),
      pid: or(int()),
      node_id: or(str()),
      started_at: or(instant()),
      stopped_at: or(instant()),
      return_code: or(int()),
      last_error: or(str()),
      restarts: int(),
      server_info: or({ type: "object", properties: { name: str(), version: str(), protocol_version: str() } }),
      tool_count: or(int()),
      logs: list(ref("LogEntry"), "The newest 20 entries, oldest first."),
      cursor: or(str()),
    }),
  ),
  HealthCheck: HEALTH_CHECK,
  Notification: record(
    "Something that happened (runtime-contract §23.2).",
    fields<Notification>({
      id: str(),
      severity: oneOf(["info", "success", "warning", "critical"]),
      title: str(),
      message: str(),
      timestamp: instant(),
      category: oneOf(["operations", "finops", "policies", "platform"]),
      tags: strings(),
    }),
  ),

  // ---- sessions
  Session: record(
    "A session (api-contract §9, runtime-contract §22).",
    fields<Session>({
      id: str("UUID v4."),
      provider_id: str(),
      created_at: instant(),
      status: oneOf(["pending", "active", "closed"]),
      reason: or(str()),
      client: or(str()),
      closed_at: or(instant()),
      last_call_at: or(instant()),
      call_count: int(),
    }),
  ),

  // ---- telemetry (api-contract §10)
  RunItem: record(
    "A stored run (api-contract §10.6).",
    fields<RunItem>({
      id: int(),
      provider_id: str(),
      provider_name: str("The manifest name, else the provider id."),
      route: or(str()),
      lane: or(oneOf(LANES, "The provider's effective lane.")),
      tool: str(),
      ts: instant(),
      tokens_in: int(),
      tokens_out: int(),
      duration_ms: int(),
      status: str("Lower case (`success`, `error`, …)."),
      cost_usd: num("The run's cost, 0 when unknown, rounded to 6 decimals."),
      metadata: { type: "object" },
      experiment_cohort: or(str()),
      experiment_tag: or(str()),
    }),
  ),
  ProviderMetrics: record(
    "One provider's figures (api-contract §10.2).",
    fields<ProviderMetrics>({
      provider_id: str(),
      run_count: int(),
      tokens_in: int(),
      tokens_out: int(),
      cost_usd: num(),
      avg_latency_ms: num(),
      success_rate: num(),
    }),
  ),
  ExtendedMetrics: record(
    "Cache, percentiles, error rate and breakdowns (api-contract §10.2).",
    fields<ExtendedMetrics>({
      cache_hit_rate: or(num()),
      cached_tokens: or(int()),
      latency_p95_ms: or(num()),
      latency_p99_ms: or(num()),
      error_rate: or(num()),
      cost_breakdown: list(
        record(
          "Cost of a label (a route, else a lane, else a provider).",
          fields<CostBreakdownEntry>({
            id: or(str()),
            label: or(str()),
            lane: or(oneOf(LANES)),
            provider_id: or(str()),
            cost_usd: num(),
            run_count: or(int()),
          }),
        ),
      ),
      error_breakdown: list(record("Runs of an error category.", fields<ErrorBreakdownEntry>({ category: str(), count: int() }))),
    }),
  ),
  RouteBreakdown: record(
    "Cost of a provider's route (api-contract §10.5).",
    fields<RouteBreakdown>({
      id: str("`<provider_id>:<route or 'default'>`."),
      provider_id: str(),
      provider_name: str(),
      route: or(str()),
      lane: oneOf(LANES),
      run_count: int(),
      tokens_in: int(),
      tokens_out: int(),
      cost_usd: num(),
      avg_latency_ms: num(),
      success_rate: num(),
    }),
  ),

  // ---- access
  ApiKey: record(
    "An API key, never its secret (runtime-contract §25.1).",
    fields<ApiKeyView>({
      id: str(),
      name: str(),
      role: oneOf(ROLES),
      prefix: str("The key's first 8 characters."),
      created_at: instant(),
      last_used_at: or(instant()),
      expires_at: or(instant()),
      rate_limit_rps: or(num()),
      rate_limit_runs: or(num()),
    }),
  ),
  AuditEntry: record(
    "One audit record (runtime-contract §25.2).",
    fields<AuditItem>({
      id: int(),
      timestamp: instant(),
      actor: str(),
      role: or(str()),
      action: str(),
      target: or(str()),
      outcome: oneOf(["ok", "denied", "error"]),
      status: int(),
      request_id: or(str()),
      details: { type: "object" },
    }),
  ),
};

/** The success answer of one operation: a named schema and what it is. */
export interface ResponseDoc {
  /** The name of its schema in components.schemas. */
  name: string;
  description: string;
  /** The schema; absent when `name` is one of SCHEMAS. */
  schema?: JsonSchema;
}

const answer = (name: string, description: string, properties: Record<string, JsonSchema>): ResponseDoc => ({
  name,
  description,
  schema: record(description, properties),
});

/** The success answers, by action. */
export const RESPONSES = {
  healthz: answer("Liveness", "Liveness (api-contract §8.1).", {
    status: { const: "ok" },
    timestamp: instant(),
    version: str(),
    node_id: str(),
    uptime_s: num(),
  }),
  readyz: {
    name: "Readiness",
    description: "Readiness (api-contract §8.2); the same body with 503 and `missing` when a check fails.",
    schema: {
      type: "object",
      required: ["status", "checks"],
      properties: {
        status: oneOf(["ready", "not_ready"]),
        checks: { type: "object", additionalProperties: { type: "string" }, description: "`ok`, or why a check failed." },
        missing: strings("The failed checks, in the order of `checks` (503 only)."),
      },
    },
  },
  providers: answer("ProviderList", "The manifest providers, in manifest order (api-contract §8.3).", { providers: list(ref("ProviderSummary")) }),
  servers: answer("ServerList", "The catalog: manifest servers, then servers created over HTTP (runtime-contract §17.4).", {
    servers: list(ref("Server")),
  }),
  server: { name: "Server", description: "A catalog server (runtime-contract §17.3)." } as ResponseDoc,
  processes: answer("ProcessList", "Every catalog server's process, in catalog order (runtime-contract §18.5).", {
    processes: list(ref("ProcessState")),
  }),
  process: answer("ProcessAnswer", "A server's process (runtime-contract §18.5).", { process: ref("ProcessState") }),
  logs: answer("LogPage", "Log lines after the cursor, oldest first (runtime-contract §19).", {
    logs: list(ref("LogEntry")),
    cursor: or(str()),
    truncated: bool("Entries after the cursor were dropped by retention."),
  }),
  health: answer("HealthChecks", "Health checks, newest first (runtime-contract §20).", { checks: list(ref("HealthCheck")) }),
  ping: answer("HealthCheckAnswer", "The check just made (runtime-contract §20).", { check: ref("HealthCheck") }),
  tools: answer("ToolList", "The server's complete tool list (runtime-contract §21).", {
    tools: list(
      record("A tool as the server lists it.", {
        name: str(),
        title: or(str()),
        description: or(str()),
        input_schema: or(anyObject("JSON Schema of the arguments.")),
        output_schema: or(anyObject("JSON Schema of the structured result.")),
        annotations: or(anyObject("MCP tool annotations.")),
      }),
    ),
    fetched_at: instant(),
  }),
  toolCall: answer("ToolCallResult", "The tool's answer and its telemetry run (runtime-contract §21).", {
    result: anyObject("The MCP CallToolResult as returned: `content[]`, `structuredContent?`, `isError`."),
    run_id: int(),
    duration_ms: int(),
    session_id: or(str()),
  }),
  secrets: answer("SecretList", "Which servers have a secret, never the values (runtime-contract §24).", {
    secrets: list(record("A stored secret's presence.", { provider_id: str(), has_secret: { const: true }, updated_at: instant() })),
  }),
  secret: answer("SecretValue", "A secret and when it was stored (runtime-contract §24).", {
    provider_id: str(),
    value: str(),
    updated_at: instant(),
  }),
  secretTest: answer("SecretTest", "A real handshake with the secret (runtime-contract §24).", {
    provider_id: str(),
    status: oneOf(["healthy", "degraded", "error"]),
    latency_ms: or(int()),
    tested_at: instant(),
    message: or(str()),
  }),
  sessionCreated: answer("SessionCreated", "The new session, `pending` (api-contract §9.1).", {
    session: ref("Session"),
    provider: ref("ProviderSummary"),
  }),
  sessions: {
    name: "SessionList",
    description: "Sessions, oldest first (api-contract §9.2); `next_cursor` only when paged (runtime-contract §22).",
    schema: {
      type: "object",
      required: ["sessions"],
      properties: { sessions: list(ref("Session")), next_cursor: or(str("Present only with `limit` or `cursor`.")) },
    },
  },
  session: answer("SessionAnswer", "A session (api-contract §9.3, runtime-contract §22).", { session: ref("Session") }),
  metrics: answer(
    "TelemetryMetrics",
    "Totals and per-provider figures of the matching runs (api-contract §10.2).",
    fields<MetricsAnswer>({
      start: or(instant("Observed first run, or the requested bound without runs.")),
      end: or(instant()),
      total_runs: int(),
      total_tokens_in: int(),
      total_tokens_out: int(),
      total_cost_usd: num(),
      avg_latency_ms: num(),
      success_rate: num(),
      providers: list(ref("ProviderMetrics")),
      extended: or(ref("ExtendedMetrics")),
      window_start: { type: "null" },
      window_end: { type: "null" },
    }),
  ),
  heatmap: answer("TelemetryHeatmap", "Runs per UTC day and provider (api-contract §10.3).", {
    buckets: list(record("One day of one provider.", fields<HeatmapBucket>({ day: day(), provider_id: str(), run_count: int() }))),
  }),
  timeseries: answer("TelemetryTimeseries", "Daily figures per provider (api-contract §10.4).", {
    items: list(
      record(
        "One day of one provider.",
        fields<TimeseriesItem>({
          day: day(),
          provider_id: str(),
          run_count: int(),
          tokens_in: int(),
          tokens_out: int(),
          cost_usd: num(),
          avg_latency_ms: num(),
          success_count: int(),
        }),
      ),
    ),
    next_cursor: { type: "null" },
  }),
  pareto: answer("TelemetryPareto", "Cost per provider and route, largest first (api-contract §10.5).", {
    items: list(ref("RouteBreakdown")),
    next_cursor: { type: "null" },
  }),
  runs: answer("RunPage", "Runs, newest first, in keyset pages (api-contract §10.6).", {
    items: list(ref("RunItem")),
    next_cursor: or(str()),
  }),
  ingest: answer("IngestResult", "The stored runs' ids, in input order (api-contract §11.1).", { inserted: int(), ids: list(int()) }),
  sprints: answer("SprintReport", "Cost per sprint window (api-contract §12.1).", {
    items: list(anyObject("A sprint window's figures (§12.1).")),
  }),
  pullRequests: answer("PullRequestReport", "Cost impact of each pull request (api-contract §12.2).", {
    items: list(anyObject("A pull request's figures (§12.2).")),
  }),
  pullRequest: {
    name: "PullRequest",
    description: "The registered pull request (api-contract §12.3).",
    schema: anyObject("The pull-request record (§12.3)."),
  } as ResponseDoc,
  simulation: {
    name: "RoutingPlan",
    description: "A what-if routing plan (api-contract §13, runtime-contract §26).",
    schema: anyObject("The plan (§13, with `context`, `cost`, `latency` of §26)."),
  } as ResponseDoc,
  notifications: answer("NotificationList", "What happened in the last 7 days, newest first (runtime-contract §23.2).", {
    notifications: list(ref("Notification")),
  }),
  keys: answer("ApiKeyList", "Every API key, never a secret (runtime-contract §25.1).", { keys: list(ref("ApiKey")) }),
  keyCreated: answer("ApiKeySecret", "The key and its secret, shown this once (runtime-contract §25.1).", { key: ref("ApiKey"), secret: str() }),
  roles: answer("RoleList", "The roles and what each may do (runtime-contract §25.1).", {
    roles: list(record("A role.", { name: oneOf(ROLES), includes: strings(), description: str() })),
  }),
  audit: answer("AuditPage", "Audit entries, newest first, in keyset pages (runtime-contract §25.2).", {
    items: list(ref("AuditEntry")),
    next_cursor: or(str()),
  }),
  openapi: {
    name: "OpenApiDocument",
    description: "This document (runtime-contract §27).",
    schema: anyObject("An OpenAPI 3.1 document."),
  } as ResponseDoc,
} satisfies Record<string, ResponseDoc>;
