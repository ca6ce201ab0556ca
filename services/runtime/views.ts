/**
 * Pure shaping of the runtime's answers (runtime-contract §18.1, §19, §20, §21): ProcessState from
 * a stored record and its newest log entries, the process-action query, the tool-call body, and the
 * telemetry run a tool call becomes. No I/O here.
 */
import { validationFailed, type ValidationItem } from "../../lib/errors";
import { toStoredInstant } from "../../lib/time";
import type { JsonSchema } from "../../lib/json-schema";
import { readQuery } from "../../lib/query-params";
import { charCount } from "../../lib/validation";
import { RUN_TEXT_LIMITS } from "../telemetry/store/run";
import { parseLogCursor } from "./log-cursor";
import type { LogEntry, ProcessRecord, ProcessView } from "./store";

/** §18.1 ProcessState as answered (datetimes in the contract's output form). */
export interface ProcessState {
  server_id: string;
  desired: "running" | "stopped";
  status: ProcessRecord["status"];
  command: string | null;
  pid: number | null;
  node_id: string | null;
  started_at: string | null;
  stopped_at: string | null;
  return_code: number | null;
  last_error: string | null;
  restarts: number;
  server_info: ProcessRecord["server_info"];
  tool_count: number | null;
  logs: LogEntry[];
  cursor: string | null;
}

/**
 * The ProcessState of a server from its stored view; a server never started (no record) is
 * `stopped` with nulls (§18.5), `desired` as given (the server's `autostart` decides it then).
 */
export function processState(serverId: string, view: ProcessView | undefined, neverStartedDesired: "running" | "stopped" = "stopped"): ProcessState {
  const record = view?.record ?? null;
  const base = {
    logs: view?.logs ?? [],
    cursor: view?.cursor ?? null,
  };
  if (record === null) {
    return {
      server_id: serverId,
      desired: neverStartedDesired,
      status: "stopped",
      command: null,
      pid: null,
      node_id: null,
      started_at: null,
      stopped_at: null,
      return_code: null,
      last_error: null,
      restarts: 0,
      server_info: null,
      tool_count: null,
      ...base,
    };
  }
  const { updated_at: _updated, ...fields } = record;
  return { ...fields, ...base };
}

/** The `process` event of the stream (§23.1): a ProcessState without `logs` (`cursor` kept). */
export type ProcessEvent = Omit<ProcessState, "logs">;

export function processEvent(state: ProcessState): ProcessEvent {
  const { logs: _logs, ...event } = state;
  return event;
}

/*
 * The runtime's query parameters (§18.5 `wait`, §19 `cursor` and `limit`, §20 `limit`), declared
 * once in the tables below: the parsers read them with the one query reader of every route
 * (lib/query-params.ts readQuery, api-contract §6.1 and README "Request input") and the OpenAPI
 * document lists them. A value that is not valid percent-encoded UTF-8 is a 422 `value_error` at
 * ["query", <name>], like on every other endpoint. Each parser reads its whole query before
 * anything else is checked (api-contract §6.5: 422, then 400, then the server's existence).
 */

/** POST …/process/start and …/restart (§18.5). */
export const START_QUERY = {
  wait: {
    kind: "bool",
    default: true,
    description: "Wait for the final state (running or error) before answering; `false`/`0` answers at once with the state reached so far.",
  },
} as const;

/** GET /servers/{id}/health (§20). */
export const HEALTH_QUERY = {
  limit: { kind: "int", min: 1, max: 100, default: 6, description: "Number of checks, newest first." },
} as const;

/** GET /servers/{id}/process/logs (§19). */
export const LOGS_QUERY = {
  cursor: {
    kind: "text",
    description:
      "The `cursor` of a previous answer: only the lines after it (1..18 decimal digits; anything else → 400 `Cursor must be an integer`).",
  },
  limit: { kind: "int", min: 1, max: 1000, default: 200, description: "Number of lines." },
} as const;

/**
 * §18.5 `?wait=false`: whether start and restart wait for the final state (default true). `false`/`0`
 * → false, `true`/`1`/empty → true; anything else is a 422 `bool_parsing` at ["query", "wait"].
 */
export function parseWait(query: object): boolean {
  return readQuery(START_QUERY, query).values.wait;
}

/** GET /servers/{id}/health's `limit` (§20): 1..100, default 6, else a 422 naming it (api-contract §6.1). */
export function parseHealthLimit(query: object): number {
  return readQuery(HEALTH_QUERY, query).values.limit;
}

/**
 * The query of GET /servers/{id}/process/logs (§19): `limit` 1..1000 (default 200) and `cursor`.
 * 422 first (an encoding that is not valid in either, a bad limit), then 400 `Cursor must be an
 * integer` for a cursor that is not 1..18 decimal digits (./log-cursor.ts).
 */
export function parseLogsQuery(query: object): { cursor: string | null; limit: number } {
  const { values } = readQuery(LOGS_QUERY, query);
  return { cursor: parseLogCursor(values.cursor), limit: values.limit };
}

/** Bounds of a tool call's body (§21). */
export const TOOL_CALL_LIMITS = { sessionIdChars: 128, timeoutMs: [1, 600_000] } as const;

/**
 * The JSON Schema of a tool-call body as parseToolCallBody accepts it (the body itself is optional);
 * session_id's length is counted in characters (code points), as the schema's maxLength counts it.
 */
export const TOOL_CALL_BODY_SCHEMA: JsonSchema = {
  type: "object",
  properties: {
    arguments: { type: ["object", "null"], description: "The tool's arguments (absent or null: `{}`); never stored or logged." },
    session_id: {
      type: ["string", "null"],
      minLength: 1,
      maxLength: TOOL_CALL_LIMITS.sessionIdChars,
      description: "An open session of this server to record the call against (§22).",
    },
    timeout_ms: {
      type: ["integer", "null"],
      minimum: TOOL_CALL_LIMITS.timeoutMs[0],
      maximum: TOOL_CALL_LIMITS.timeoutMs[1],
      description: "Call timeout in milliseconds (null: the server's `tool_timeout_s`).",
    },
  },
};

/** The body of POST /servers/{id}/tools/{tool}/call (§21), validated. */
export interface ToolCallBody {
  arguments: Record<string, unknown>;
  session_id: string | null;
  /** null: the server's `tool_timeout_s`. */
  timeout_ms: number | null;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Validates a tool-call body (unknown keys ignored): 422 with one item per bad field. */
export function parseToolCallBody(params: Record<string, unknown>): ToolCallBody {
  const items: ValidationItem[] = [];
  const args = params.arguments;
  if (args !== undefined && args !== null && !isPlainObject(args)) {
    items.push({ type: "dict_type", loc: ["body", "arguments"], msg: "Input should be a valid dictionary", input: args });
  }
  const session = params.session_id;
  if (
    session !== undefined &&
    session !== null &&
    (typeof session !== "string" || session.length === 0 || charCount(session) > TOOL_CALL_LIMITS.sessionIdChars)
  ) {
    items.push({ type: "string_type", loc: ["body", "session_id"], msg: "Input should be a session id (1..128 characters) or null", input: session });
  }
  const timeout = params.timeout_ms;
  if (timeout !== undefined && timeout !== null) {
    if (typeof timeout !== "number" || !Number.isInteger(timeout)) {
      items.push({ type: "int_type", loc: ["body", "timeout_ms"], msg: "Input should be a valid integer", input: timeout });
    } else if (timeout < TOOL_CALL_LIMITS.timeoutMs[0] || timeout > TOOL_CALL_LIMITS.timeoutMs[1]) {
      const [min, max] = TOOL_CALL_LIMITS.timeoutMs;
      items.push({
        type: timeout < min ? "greater_than_equal" : "less_than_equal",
        loc: ["body", "timeout_ms"],
        msg: timeout < min ? `Input should be greater than or equal to ${min}` : `Input should be less than or equal to ${max}`,
        input: timeout,
        ctx: timeout < min ? { ge: min } : { le: max },
      });
    }
  }
  if (items.length > 0) throw validationFailed(items);
  return {
    arguments: isPlainObject(args) ? args : {},
    session_id: typeof session === "string" ? session : null,
    timeout_ms: typeof timeout === "number" ? timeout : null,
  };
}

/** How a tool call ended, for its telemetry run (§21). */
export type ToolRunStatus = "success" | "tool_error" | "timeout" | "error";

// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is the point: no store keeps it
const UNSTORABLE_TEXT_G = /\u0000|\p{Cs}/gu;

/**
 * A tool's name as its run's `tool` and `route` (§11.2 limits): the server chose it and MCP does not
 * bound it, so text no store keeps (NUL, lone surrogates) becomes U+FFFD and only the first
 * RUN_TEXT_LIMITS.tool characters (code points) are kept. The call was sent: its run must be
 * stored and its answer given, never a 422 about fields the client did not send.
 */
export function runToolName(name: string): string {
  return Array.from(name.replace(UNSTORABLE_TEXT_G, "\uFFFD")).slice(0, RUN_TEXT_LIMITS.tool).join("");
}

/**
 * The telemetry run of one tool call (§21, in the ingestion format of api-contract §11.2):
 * provider_id = server id, tool = route = tool name, the measured duration, tokens and cost from
 * the result's `_meta.usage` when present, and metadata without the arguments themselves.
 */
export function toolRun(input: {
  serverId: string;
  tool: string;
  startedAtMs: number;
  durationMs: number;
  status: ToolRunStatus;
  usage: { input_tokens: number; output_tokens: number; cost_usd: number | null };
  sessionId: string | null;
  client: string | null;
  argumentsBytes: number;
  resultBytes: number | null;
  error: string | null;
}): Record<string, unknown> {
  const tool = runToolName(input.tool);
  return {
    provider_id: input.serverId,
    tool,
    route: tool,
    tokens_in: input.usage.input_tokens,
    tokens_out: input.usage.output_tokens,
    duration_ms: Math.max(0, Math.round(input.durationMs)),
    status: input.status,
    cost_usd: input.usage.cost_usd,
    ts: toStoredInstant(input.startedAtMs),
    metadata: {
      session_id: input.sessionId,
      client: input.client,
      arguments_bytes: input.argumentsBytes,
      result_bytes: input.resultBytes,
      error: input.error,
    },
  };
}
