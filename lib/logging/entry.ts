/**
 * Turns the arguments of a Moleculer log call (`logger.warn("text", err, { more })`) into one
 * structured log entry (runtime-contract §27): the text parts joined into `msg`, the first error as
 * `err`, other objects as `data`. Pino itself would print the first string and drop the rest.
 *
 * Expected failures (an error with a 4xx code, or 502/503/504: a service with no live node, a
 * timeout, a lost transporter) are written without their stack: they are answers, not bugs. Every
 * other error (a 500, a TypeError) keeps its stack. An error's `data` is never written: Moleculer's
 * validation errors carry the values that failed there (`actual`), which may be anything a client
 * sent, a secret included.
 */

/** An error as it is written: its name, message, Moleculer code/type, and stack unless expected. */
export interface LoggedError {
  type: string;
  message: string;
  code?: number | string;
  kind?: string;
  stack?: string;
}

/** One entry: its fields (beside time, level and the logger's bindings) and its message. */
export interface LogEntry {
  fields: Record<string, unknown>;
  msg: string;
}

interface ErrorLike {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  type?: unknown;
  stack?: unknown;
}

/**
 * True for an error that is an expected answer rather than a bug: a numeric `code` in 400..499 (a
 * contract error, a validation failure, a missing service: ServiceNotFoundError is a 404) or
 * 502..504 (no live node, a timeout, the transporter gone).
 */
export function isExpectedFailure(err: unknown): boolean {
  const code = (err as ErrorLike | null)?.code;
  return typeof code === "number" && ((code >= 400 && code < 500) || (code >= 502 && code <= 504));
}

/** How an error is written: never its `data`, its stack only when it is not an expected failure. */
export function loggedError(err: Error): LoggedError {
  const e = err as Error & ErrorLike;
  const out: LoggedError = { type: typeof e.name === "string" ? e.name : "Error", message: String(e.message) };
  if (typeof e.code === "number" || typeof e.code === "string") out.code = e.code;
  if (typeof e.type === "string") out.kind = e.type;
  if (!isExpectedFailure(err) && typeof e.stack === "string") out.stack = e.stack;
  return out;
}

/**
 * Marks an object of fields for a line (lib/logging/request-context.ts requestFields), so it is
 * taken as fields whatever follows it (an error, objects), not only before a message.
 */
export const LOG_FIELDS: unique symbol = Symbol("log fields");

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * The entry of one log call's arguments. Two shapes:
 * - pino's own, `(fields, "message", ...)`: a plain object first and a string after it, or an
 *   object marked LOG_FIELDS first; the object's keys become fields of the line (e.g. the
 *   gateway's `request_id`, `status`);
 * - Moleculer's, `("text", value, err, ...)`: strings, numbers and booleans are joined with spaces
 *   into `msg`; the first Error becomes `err` (loggedError), later ones add `Name: message` to
 *   `msg`; any other object goes to `data` (the object itself when there is one, else an array).
 *   A `requestID` in that one object (Moleculer's lines about a call) becomes the line's `request_id`.
 */
export function logEntry(args: readonly unknown[]): LogEntry {
  const fields: Record<string, unknown> = {};
  let start = 0;
  const first = args[0];
  if (typeof first === "object" && first !== null && (LOG_FIELDS in first || (isPlainObject(first) && typeof args[1] === "string"))) {
    Object.assign(fields, first);
    start = 1;
  }
  const text: string[] = [];
  const data: unknown[] = [];
  let err: LoggedError | undefined;
  for (let i = start; i < args.length; i++) {
    const a = args[i];
    if (typeof a === "string") text.push(a);
    else if (a instanceof Error) {
      if (err === undefined) err = loggedError(a);
      else text.push(`${a.name}: ${a.message}`);
    } else if (typeof a === "object" && a !== null) data.push(a);
    else if (a !== undefined) text.push(String(a));
  }
  if (err !== undefined) fields.err = err;
  if (data.length === 1) {
    fields.data = data[0];
    // Moleculer's own lines about a call name its request in their data (`{ action, requestID }`).
    const named = (data[0] as { requestID?: unknown }).requestID;
    if (fields.request_id === undefined && typeof named === "string" && named !== "") fields.request_id = named;
  } else if (data.length > 1) fields.data = data;
  // A line made of an error alone reads as the error.
  const msg = text.length > 0 ? text.join(" ") : err !== undefined ? `${err.type}: ${err.message}` : "";
  return { fields, msg };
}
