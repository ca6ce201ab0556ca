/**
 * The id of a request (runtime-contract §27): the client's `X-Request-ID` when it is safe, else
 * `X-Correlation-ID` (moleculer-web's name for it) when that one is, else a new one. The id is the
 * broker call's `requestID` (so every node's log lines of the request carry it), the audit entry's
 * `request_id`, and the `X-Request-ID` header of every answer.
 *
 * Safe: 1..128 characters, each a letter, a digit or one of `.` `_` `:` `-` — enough for UUIDs,
 * ULIDs, hex ids, Moleculer's ids and dotted or colon-separated trace ids; never a space, a quote, a
 * control character or anything that would need escaping in a log line or a header. An unsafe value
 * is dropped whole (never trimmed or escaped into something the client did not send).
 */
import type { IncomingHttpHeaders } from "node:http";

/** Longest request id taken from a client, in characters. */
export const MAX_REQUEST_ID_CHARS = 128;

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** True when `value` may be used as a request id as it is. */
export function isSafeRequestId(value: unknown): value is string {
  return typeof value === "string" && SAFE_REQUEST_ID.test(value);
}

/** The first value of a header (Node gives an array for some repeated headers). */
function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The client's request id from `headers`: X-Request-ID when safe, else X-Correlation-ID when safe,
 * else undefined (the caller generates one).
 */
export function clientRequestId(headers: IncomingHttpHeaders): string | undefined {
  const id = first(headers["x-request-id"]);
  if (isSafeRequestId(id)) return id;
  const correlation = first(headers["x-correlation-id"]);
  return isSafeRequestId(correlation) ? correlation : undefined;
}
