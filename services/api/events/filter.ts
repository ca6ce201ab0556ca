/**
 * What a client of `GET /events` asks for (runtime-contract §23.1): the `types` and `server_id`
 * query parameters and the resume point (`Last-Event-ID` header, else the `last_event_id` query
 * parameter), and whether an event matches.
 */
import { validationFailed } from "../../../lib/errors";
import { QueryReader } from "../../../lib/validation";

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

const KNOWN = new Set<string>(EVENT_TYPES);

/**
 * A text parameter read by the shared query reader (a value that is not valid percent-encoded UTF-8
 * is a 422 `value_error` at ["query", name] once the reader is done); empty = not given (§1.1).
 */
function stringParam(reader: QueryReader, name: string): string | null {
  const value = reader.text(name);
  return value === undefined || value === "" ? null : value;
}

/**
 * The filter of a request's query (one string per key). `types`: a comma list, items trimmed, empty
 * items ignored; an empty value means "not given" (§1.1). Unknown types → 422 at ["query", "types"],
 * one item per unknown name; `types` or `server_id` not validly percent-encoded → 422 `value_error`.
 */
export function parseStreamFilter(query: Record<string, unknown>): StreamFilter {
  const reader = new QueryReader(query);
  const typesText = stringParam(reader, "types");
  const serverId = stringParam(reader, "server_id");
  reader.done();
  let types: EventType[];
  if (typesText === null) {
    types = [...DEFAULT_TYPES];
  } else {
    const names = typesText.split(",").map((s) => s.trim()).filter((s) => s !== "");
    const unknown = [...new Set(names.filter((n) => !KNOWN.has(n)))];
    if (unknown.length > 0) {
      throw validationFailed(
        unknown.map((name) => ({
          type: "literal_error",
          loc: ["query", "types"],
          msg: `Unknown event type '${name}'; expected a comma list of ${EVENT_TYPES.join(", ")}`,
          input: name,
          ctx: { expected: EVENT_TYPES.join(", ") },
        })),
      );
    }
    types = names.length === 0 ? [...DEFAULT_TYPES] : (names as EventType[]);
    if (types.includes("run") && !types.includes("runs")) types.push("runs");
  }
  const set = new Set(types);
  const signature = JSON.stringify([EVENT_TYPES.filter((t) => set.has(t)), serverId]);
  return { types: set, serverId, signature };
}

/**
 * The resume point a request gives: its `Last-Event-ID` header (what a browser's EventSource sends
 * when it reconnects), else the `last_event_id` query parameter; null when neither is given. The
 * text is returned as sent (the hub decides what it names). A `last_event_id` that is not validly
 * percent-encoded is a 422 `value_error`, whether a header is given or not.
 */
export function resumePoint(header: string | string[] | undefined, query: Record<string, unknown>): string | null {
  const reader = new QueryReader(query);
  const fromQuery = stringParam(reader, "last_event_id");
  reader.done();
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
