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
import { QueryReader } from "../../lib/validation";

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

/** Parses the query (unknown keys ignored, the last of repeated keys wins). */
export function parseAuditQuery(params: Record<string, unknown> | undefined): AuditQuery {
  const reader = new QueryReader(params ?? {});
  const actor = reader.filter("actor");
  const action = reader.filter("action");
  const target = reader.filter("target");
  const startMs = reader.datetime("start");
  const endMs = reader.datetime("end");
  const limit = reader.int("limit", DEFAULT_AUDIT_LIMIT, 1, MAX_AUDIT_LIMIT);
  const cursor = reader.filter("cursor");
  reader.done();
  if (startMs !== undefined && endMs !== undefined && startMs > endMs) throw badRequest("start must be before end");
  let beforeId: number | null = null;
  if (cursor !== undefined) {
    beforeId = decodeAuditCursor(cursor);
    if (beforeId === null) throw badRequest("invalid cursor");
  }
  return { actor, action, target, startMs, endMs, limit, beforeId, matchesNothing: reader.matchesNothing };
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
    id: Number(r.id), timestamp: formatStoredInstant(r.ts), actor: r.actor, role: r.role, action: r.action, target: r.target,
    outcome: r.outcome, status: Number(r.status), request_id: r.request_id, details,
  };
}

/** One page: `{items, next_cursor}` (next_cursor null on the last page). */
export async function readAuditPage(trx: Knex.Transaction, q: AuditQuery): Promise<{ items: AuditItem[]; next_cursor: string | null }> {
  if (q.matchesNothing) return { items: [], next_cursor: null };
  const query = trx(AUDIT_TABLE).select("*").orderBy("id", "desc").limit(q.limit + 1);
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
