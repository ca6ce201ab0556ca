/**
 * What a client of `GET /events` asks for (runtime-contract §23.1): the `types` and `server_id`
 * query parameters and the resume point (`Last-Event-ID` header, else the `last_event_id` query
 * parameter), and whether an event matches.
 */
import { readQuery } from "../../../lib/query-params";

/**
 * Every event type of the stream. `runs` is the summary of a large ingestion (one event instead of
 * one `run` per run, see services/telemetry/run-events.ts); asking for `run` selects it too.
 */
export const EVENT_TYPES = ["process", "health", "session", "run", "runs", "servers", "log", "reset"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Without `types`: every type but `log` (§23.1). `reset` is always sent when it applies. */
export const DEFAULT_TYPES: readonly EventType[] = EVENT_TYPES.filter((t) => t !== "log");

export interface StreamFilter {
  types: ReadonlySet<EventType>;
  /** Keeps only the events of this server (null: every server). */
  serverId: string | null;
  /** A stable text for the filter: clients with the same one receive the same bytes. */
  signature: string;
}

/**
 * The query parameters of GET /events (§23.1), declared once: parseStreamFilter and resumePoint read
 * them and the OpenAPI document lists them (lib/query-params.ts).
 */
export const EVENTS_QUERY = {
  types: {
    kind: "list",
    values: EVENT_TYPES,
    itemName: "event type",
    description: `A comma list of event types (default: every type but \`log\`; \`run\` selects \`runs\` too). An unknown name → 422.`,
  },
  server_id: { kind: "filter", description: "Only the events of this server (an empty value = not given)." },
  last_event_id: {
    kind: "filter",
    description: "Resume after this event id (as the `Last-Event-ID` header, which wins when both are given).",
  },
} as const;

/**
 * The filter of a request's query (one string per key). `types`: a comma list, items trimmed, empty
 * items ignored; an empty value means "not given" (§1.1). Unknown types → 422 at ["query", "types"],
 * one item per unknown name; a parameter not validly percent-encoded → 422 `value_error`.
 */
export function parseStreamFilter(query: Record<string, unknown>): StreamFilter {
  const { values } = readQuery(EVENTS_QUERY, query);
  const serverId = values.server_id ?? null;
  let types = (values.types ?? [...DEFAULT_TYPES]) as EventType[];
  if (types.includes("run") && !types.includes("runs")) types = [...types, "runs"];
  const set = new Set(types);
  const signature = JSON.stringify([EVENT_TYPES.filter((t) => set.has(t)), serverId]);
  return { types: set, serverId, signature };
}

/**
 * The resume point a request gives: its `Last-Event-ID` header (what a browser's EventSource sends
 * when it reconnects), else the `last_event_id` query parameter; null when neither is given. The
 * text is returned as sent (the hub decides what it names). The query is read whole (EVENTS_QUERY),
 * so a bad parameter is a 422 whether a header is given or not.
 */
export function resumePoint(header: string | string[] | undefined, query: Record<string, unknown>): string | null {
  const fromQuery = readQuery(EVENTS_QUERY, query).values.last_event_id ?? null;
  const fromHeader = Array.isArray(header) ? header[0] : header;
  if (typeof fromHeader === "string" && fromHeader.trim() !== "") return fromHeader.trim();
  return fromQuery;
}

/**
 * True when an event of `type` concerning `servers` passes the filter. `servers` null: the event
 * may concern any server (it passes every `server_id`).
 */
export function matches(filter: StreamFilter, type: EventType, servers: readonly string[] | null): boolean {
  if (!filter.types.has(type)) return false;
  if (filter.serverId === null || servers === null) return true;
  return servers.includes(filter.serverId);
}
