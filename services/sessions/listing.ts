/**
 * The query of GET /sessions (api-contract §9.2, amended by runtime-contract §22): without
 * parameters every session, oldest first (the Part I answer); `status` and `provider_id` filter;
 * `limit` (1..1000) or a `cursor` turns the answer into pages `{sessions, next_cursor}`, oldest
 * first, with an opaque keyset cursor framed as in §10.6.
 *
 * Order of checks (§6.5): a bad `limit` → 422 (`loc: ["query", "limit"]`), then a malformed cursor →
 * 400 `invalid cursor`.
 */
import { badRequest } from "../../lib/errors";
import { decodeOpaqueCursor, encodeOpaqueCursor } from "../../lib/opaque-cursor";
import { readQuery } from "../../lib/query-params";

/** Page size bounds of §22, and the size of a page asked for with a cursor but no limit. */
export const MIN_SESSIONS_LIMIT = 1;
export const MAX_SESSIONS_LIMIT = 1000;
export const DEFAULT_SESSIONS_LIMIT = 100;

/**
 * Largest `seq` a cursor may name. `seq` is knex's `increments` column: a 32-bit `serial` on
 * PostgreSQL, where a larger number in the query would be an error rather than an empty page; a
 * 64-bit rowid on SQLite, bounded here by what a JSON number holds exactly.
 */
export const MAX_SEQ = { pg: 2_147_483_647, sqlite: Number.MAX_SAFE_INTEGER } as const;

/** What the SQL filters on. */
export interface SessionFilter {
  status?: string;
  providerId?: string;
}

export interface SessionsQuery {
  filter: SessionFilter;
  /** A string filter holds text no stored value can contain (NUL, lone surrogates): nothing matches. */
  matchesNothing: boolean;
  /** null: the Part I answer (every matching session, no next_cursor). */
  page: { limit: number; afterSeq: number } | null;
}

/** The cursor of the position after the session with this `seq`. */
export function encodeSessionsCursor(seq: number): string {
  return encodeOpaqueCursor({ seq });
}

/**
 * The `seq` a cursor designates, or null when it is malformed: bad framing (§10.6), not an object
 * with exactly the key `seq`, or `seq` not an integer in 0..maxSeq.
 */
export function decodeSessionsCursor(text: string, maxSeq: number): number | null {
  const value = decodeOpaqueCursor(text);
  if (value === null) return null;
  const keys = Object.keys(value);
  if (keys.length !== 1 || keys[0] !== "seq") return null;
  const seq = value.seq;
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0 || seq > maxSeq) return null;
  return seq;
}

/**
 * The query parameters of GET /sessions (§22), declared once: parseSessionsQuery reads them and the
 * OpenAPI document lists them (lib/query-params.ts).
 */
export const SESSIONS_QUERY = {
  status: { kind: "filter", description: "Only sessions in this status (pending, active, closed; an empty value = not given)." },
  provider_id: { kind: "filter", description: "Only sessions of this provider (an empty value = not given)." },
  limit: {
    kind: "int",
    min: MIN_SESSIONS_LIMIT,
    max: MAX_SESSIONS_LIMIT,
    description: `Page size; with it (or a cursor) the answer is a page with \`next_cursor\` (${DEFAULT_SESSIONS_LIMIT} when only a cursor is given).`,
  },
  cursor: { kind: "filter", description: "The `next_cursor` of the previous page (opaque; a malformed one → 400 `invalid cursor`)." },
} as const;

/** Parses the query parameters (unknown ones are ignored; repeated keys: the last one wins). */
export function parseSessionsQuery(params: Record<string, unknown> | undefined, maxSeq: number): SessionsQuery {
  const { values: v, matchesNothing } = readQuery(SESSIONS_QUERY, params);
  let afterSeq = 0;
  if (v.cursor !== undefined) {
    const seq = decodeSessionsCursor(v.cursor, maxSeq);
    if (seq === null) throw badRequest("invalid cursor");
    afterSeq = seq;
  }
  const filter: SessionFilter = {};
  if (v.status !== undefined) filter.status = v.status;
  if (v.provider_id !== undefined) filter.providerId = v.provider_id;
  const paged = v.limit !== undefined || v.cursor !== undefined;
  return { filter, matchesNothing, page: paged ? { limit: v.limit ?? DEFAULT_SESSIONS_LIMIT, afterSeq } : null };
}
