/**
 * GET /audit/logs (runtime-contract §25.2): the audit entries newest first, filtered by `actor`,
 * `action`, `target` (exact matches; empty = not given) and `start` / `end` (datetimes of Part I
 * §6.2, inclusive; `start` after `end` → 400), in pages of `limit` (1..1000, default 100) with an
 * opaque keyset cursor (framed as Part I §10.6: `{"id": n}`, the position after entry n).
 *
 * Order of checks (Part I §6.5): 422 for a bad parameter, 400 for start > end, then 400 `invalid
 * cursor`.
 */
import type { Knex } from "knex";
import { badRequest } from "../../lib/errors";
import { decodeOpaqueCursor, encodeOpaqueCursor } from "../../lib/opaque-cursor";
import { AUDIT_TABLE } from "../../lib/store/audit";
import { formatStoredInstant, toStoredInstant } from "../../lib/time";
import { readQuery } from "../../lib/query-params";

export const MAX_AUDIT_LIMIT = 1000;
export const DEFAULT_AUDIT_LIMIT = 100;

/** One entry as §25.2 shows it. */
export interface AuditItem {
  id: number;
  timestamp: string;
  actor: string;
  role: string | null;
  action: string;
  target: string | null;
  outcome: string;
  status: number;
  request_id: string | null;
  details: Record<string, unknown>;
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  target?: string;
  startMs?: number;
  endMs?: number;
  limit: number;
  /** Entries with an id below this one (the cursor's position); null: from the newest. */
  beforeId: number | null;
  matchesNothing: boolean;
}

export function encodeAuditCursor(id: number): string {
  return encodeOpaqueCursor({ id });
}

function decodeAuditCursor(text: string): number | null {
  const value = decodeOpaqueCursor(text);
  if (value === null) return null;
  const keys = Object.keys(value);
  if (keys.length !== 1 || keys[0] !== "id") return null;
  const id = value.id;
  return typeof id === "number" && Number.isSafeInteger(id) && id >= 0 ? id : null;
}

/**
 * The query parameters of GET /audit/logs (§25.2), declared once: parseAuditQuery reads them and
 * the OpenAPI document lists them (lib/query-params.ts).
 */
export const AUDIT_QUERY = {
  actor: { kind: "filter", description: "Only entries of this actor (a key name, or `anonymous@<address>`; exact match)." },
  action: { kind: "filter", description: "Only entries of this action (e.g. `process.start`; exact match)." },
  target: { kind: "filter", description: "Only entries of this target (e.g. `server:gemini`; exact match)." },
  start: { kind: "datetime", description: "Entries at or after this instant (api-contract §6.2)." },
  end: { kind: "datetime", description: "Entries at or before this instant; start after end → 400." },
  limit: { kind: "int", min: 1, max: MAX_AUDIT_LIMIT, default: DEFAULT_AUDIT_LIMIT, description: "Page size." },
  cursor: { kind: "filter", description: "The `next_cursor` of the previous page (opaque; a malformed one → 400 `invalid cursor`)." },
} as const;

/** Parses the query (unknown keys ignored, the last of repeated keys wins). */
export function parseAuditQuery(params: Record<string, unknown> | undefined): AuditQuery {
  const { values: v, matchesNothing } = readQuery(AUDIT_QUERY, params);
  if (v.start !== undefined && v.end !== undefined && v.start > v.end) throw badRequest("start must be before end");
  let beforeId: number | null = null;
  if (v.cursor !== undefined) {
    beforeId = decodeAuditCursor(v.cursor);
    if (beforeId === null) throw badRequest("invalid cursor");
  }
  return {
    actor: v.actor,
    action: v.action,
    target: v.target,
    startMs: v.start,
    endMs: v.end,
    limit: v.limit,
    beforeId,
    matchesNothing,
  };
}

interface AuditRow {
  id: number | string;
  ts: string;
  actor: string;
  role: string | null;
  action: string;
  target: string | null;
  outcome: string;
  status: number | string;
  request_id: string | null;
  details: string;
}

function toItem(r: AuditRow): AuditItem {
  let details: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(r.details) as unknown;
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) details = parsed as Record<string, unknown>;
  } catch {
    // a row written by hand: shown without details
  }
  return {
    id: Number(r.id),
    timestamp: formatStoredInstant(r.ts),
    actor: r.actor,
    role: r.role,
    action: r.action,
    target: r.target,
    outcome: r.outcome,
    status: Number(r.status),
    request_id: r.request_id,
    details,
  };
}

/** One page: `{items, next_cursor}` (next_cursor null on the last page). */
export async function readAuditPage(trx: Knex.Transaction, q: AuditQuery): Promise<{ items: AuditItem[]; next_cursor: string | null }> {
  if (q.matchesNothing) return { items: [], next_cursor: null };
  const query = trx(AUDIT_TABLE)
    .select("*")
    .orderBy("id", "desc")
    .limit(q.limit + 1);
  if (q.actor !== undefined) query.where("actor", q.actor);
  if (q.action !== undefined) query.where("action", q.action);
  if (q.target !== undefined) query.where("target", q.target);
  if (q.startMs !== undefined) query.where("ts", ">=", toStoredInstant(q.startMs));
  if (q.endMs !== undefined) query.where("ts", "<=", toStoredInstant(q.endMs));
  if (q.beforeId !== null) query.where("id", "<", q.beforeId);
  const rows = (await query) as AuditRow[];
  const page = rows.slice(0, q.limit).map(toItem);
  const more = rows.length > q.limit;
  return { items: page, next_cursor: more ? encodeAuditCursor(page[page.length - 1].id) : null };
}
