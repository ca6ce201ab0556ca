/**
 * How a query string becomes action params (§1.1, §6.1), replacing moleculer-web's `qs` parsing
 * (which turns more than 20 repeats of a key into an object, reads `a[b]` as nested objects and
 * `a.b` as paths, and silently keeps malformed escapes as text):
 *
 * - the query is split on `&` into `key=value` pairs (a pair without `=` has the value ""; empty
 *   pieces are skipped); `+` means a space, as in forms; keys and values are then percent-decoded
 *   as UTF-8;
 * - every value is a string, and for a repeated key the **last occurrence wins**, whatever the
 *   number of repeats and the length of the query;
 * - keys are taken literally: `provider_id[]`, `a[b]` or `a.b` are just other keys (not listed by
 *   any endpoint, so ignored), never arrays or nested objects;
 * - a key or value that is not valid percent-encoded UTF-8 (`%zz`, a lone `%`, `%E9`, an encoded
 *   surrogate) is never guessed at: the value becomes an InvalidQueryValue marker holding the raw
 *   text, which the parameter readers (lib/validation.ts QueryReader) answer with a 422 for that
 *   parameter — when the endpoint lists it; an unlisted key is ignored like any other;
 * - the result has no prototype, and the key `__proto__` is dropped (no endpoint lists it, and the
 *   gateway copies params with plain assignment, where it would reach a prototype).
 */
import { INVALID_QUERY_ENCODING, InvalidQueryValue } from "../../lib/validation";

export type QueryValue = string | InvalidQueryValue;

/** Percent-decodes one key or value (`+` = space); null when it is not valid percent-encoded UTF-8. */
export function decodeQueryComponent(raw: string): string | null {
  const spaced = raw.includes("+") ? raw.replace(/\+/g, " ") : raw;
  if (!spaced.includes("%")) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return null;
  }
}

/** Parses the text after `?` (without it) into params: one string per key, the last occurrence winning. */
export function parseQuery(text: string): Record<string, QueryValue> {
  const query: Record<string, QueryValue> = Object.create(null);
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf("&", start);
    if (end === -1) end = text.length;
    if (end > start) {
      const piece = text.slice(start, end);
      const eq = piece.indexOf("=");
      const rawKey = eq === -1 ? piece : piece.slice(0, eq);
      const rawValue = eq === -1 ? "" : piece.slice(eq + 1);
      const key = decodeQueryComponent(rawKey) ?? rawKey;
      if (key !== "__proto__") {
        const value = decodeQueryComponent(rawValue);
        query[key] = value === null ? { [INVALID_QUERY_ENCODING]: rawValue } : value;
      }
    }
    start = end + 1;
  }
  return query;
}

/**
 * The gateway's replacement for moleculer-web's `parseQueryString(req)`: the path without the
 * query, and the parsed query. The split is moleculer-web's (the first `?` after the first
 * character), so routing is unchanged.
 */
export function splitRequestUrl(url: string): { url: string; query: Record<string, QueryValue> } {
  const mark = url.indexOf("?", 1);
  if (mark === -1) return { url, query: Object.create(null) };
  return { url: url.slice(0, mark), query: parseQuery(url.slice(mark + 1)) };
}
