/**
 * The broker events the gateway's stream is made of, and the stream events each one becomes
 * (runtime-contract §23.1). Each source service builds its payload in the contract's shape; this
 * table only names the type and the servers an event concerns (for the `server_id` filter:
 * `process`/`health`/`log` by `server_id`, `session`/`run` by `provider_id`, `servers` by
 * `server.id`). A payload that does not have the expected shape becomes nothing (a handler never
 * throws).
 */
import type { StreamEvent } from "./hub";

type Payload = Record<string, unknown>;

function isObject(value: unknown): value is Payload {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

function one(type: StreamEvent["type"], server: string | null, data: Payload): StreamEvent[] {
  return server === null ? [] : [{ type, servers: [server], data }];
}

/** Broker event name → the stream events of one payload. */
export const STREAM_SOURCES: Readonly<Record<string, (payload: unknown) => StreamEvent[]>> = {
  /** services/runtime: the ProcessState without `logs` (§18.1), after each stored change. */
  "runtime.process.changed": (p) => (isObject(p) ? one("process", text(p.server_id), p) : []),
  /** services/runtime: `{server_id, check}` after each stored health check (§20). */
  "runtime.health.checked": (p) => (isObject(p) ? one("health", text(p.server_id), p) : []),
  /** services/runtime: `{server_id, entry}` for each stored log line (§19). */
  "runtime.log.appended": (p) => (isObject(p) ? one("log", text(p.server_id), p) : []),
  /** services/sessions: the Session after each change (§22). */
  "sessions.changed": (p) => (isObject(p) ? one("session", text(p.provider_id), p) : []),
  /** services/providers: `{action, server}` per catalog change (§17.4). */
  "servers.changed": (p) => (isObject(p) && isObject(p.server) ? one("servers", text(p.server.id), p) : []),
  /**
   * services/telemetry: the runs of one ingestion transaction, as Run items (§10.6) — one `run`
   * event each — or, for a large one, as one summary: a `runs` event concerning the servers it
   * lists (every server when the list was cut).
   */
  "telemetry.runs.recorded": (p) => {
    if (!isObject(p)) return [];
    if (Array.isArray(p.runs)) {
      const out: StreamEvent[] = [];
      for (const run of p.runs) if (isObject(run)) out.push(...one("run", text(run.provider_id), run));
      return out;
    }
    const summary = p.summary;
    if (!isObject(summary) || !Array.isArray(summary.providers)) return [];
    const listed = summary.providers.map((e) => (isObject(e) ? text(e.provider_id) : null)).filter((id): id is string => id !== null);
    const complete = summary.provider_count === listed.length;
    return [{ type: "runs", servers: complete ? listed : null, data: summary }];
  },
};
