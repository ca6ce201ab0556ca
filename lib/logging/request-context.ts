/**
 * The request a log line belongs to (runtime-contract §27: a request id on every line of a request).
 *
 * A request's id is its broker context's `requestID`: the gateway sets it from X-Request-ID
 * (services/api/request-id.ts) and Moleculer carries it to every call and event made for the
 * request, on any node. A line written while handling a request names it explicitly, in pino's
 * form: `this.logger.warn(requestFields(ctx), "…")` → `"request_id":"…"` on the line
 * (lib/logging/entry.ts); code that runs for a request but has no context takes the request (a
 * context or an id) as a parameter, or a logger from requestLogger. Moleculer's own lines about a
 * call carry the id in their data, which the logger takes as the line's request_id. Lines about
 * work that serves several requests at once (a group commit, a reconciliation) name none.
 *
 * Explicit rather than an AsyncLocalStorage scope entered around every handler: on Node 20 such a
 * scope turns on a promise hook for every promise of the process, which cost 12 µs of server CPU
 * per request (+20 %) on GET /api/v1/providers, embedded (README, Logs); explicit fields cost
 * nothing unless a line is written.
 */
import type { Logger } from "moleculer";
import { LOG_FIELDS } from "./entry";

/** What a request can be named by: a broker context (its requestID), an id, or nothing. */
export type RequestRef = { requestID?: string | null } | string | null | undefined;

/**
 * The fields naming a request on a log line (`{ request_id }`; none when there is no id), to pass
 * first: `logger.warn(requestFields(ctx), "…", err)`.
 */
export function requestFields(request: RequestRef): { request_id?: string } {
  const id = typeof request === "string" ? request : request?.requestID;
  const fields: { request_id?: string } = typeof id === "string" && id !== "" ? { request_id: id } : {};
  Object.defineProperty(fields, LOG_FIELDS, { value: true, enumerable: false });
  return fields;
}

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;

/**
 * `logger` naming `request` on every line, for code that takes a logger and runs for one request
 * (`publishRecorded(…, requestLogger(this.logger, ctx), …)`); `logger` itself when there is no id.
 */
export function requestLogger(logger: Logger, request: RequestRef): Logger {
  const fields = requestFields(request);
  if (fields.request_id === undefined) return logger;
  const named = {} as Logger;
  for (const level of LEVELS) named[level] = (...args: unknown[]) => logger[level](fields, ...args);
  return named;
}
