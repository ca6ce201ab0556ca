/**
 * SQL of the sessions service (table `sessions`: Part I §3.4, migration 013 for §22's columns).
 * Instants are stored instant texts (lib/time.ts), whose text order is chronological.
 */
import type { Knex } from "knex";
import { AuditEntry, insertAudit } from "../../lib/store/audit";
import type { SessionFilter } from "./listing";
import { OPEN_STATUSES, type SessionRow } from "./session";

const SESSIONS_TABLE = "sessions";

/** Stores a new session, with the request's audit entry (runtime-contract §25.2) in the same transaction when given. */
export async function insertSession(db: Knex, row: Omit<SessionRow, "seq">, audit: AuditEntry | null = null): Promise<void> {
  if (audit === null) {
    await db(SESSIONS_TABLE).insert(row);
    return;
  }
  await db.transaction(async (trx) => {
    await trx(SESSIONS_TABLE).insert(row);
    await insertAudit(trx, [{ ...audit, target: `session:${row.id}`, details: { server: row.provider_id } }]);
  });
}

/**
 * Sessions matching the filter in creation order (oldest first): every one, or, with `page`, at
 * most `page.count` of those created after the session numbered `page.afterSeq` (keyset on the
 * primary key `seq`).
 */
export function listSessions(db: Knex, filter: SessionFilter = {}, page?: { afterSeq: number; count: number }): Promise<SessionRow[]> {
  const q = db(SESSIONS_TABLE).select();
  if (filter.status !== undefined) q.where("status", filter.status);
  if (filter.providerId !== undefined) q.where("provider_id", filter.providerId);
  if (page !== undefined) q.where("seq", ">", page.afterSeq).limit(page.count);
  return q.orderBy("seq", "asc");
}

export async function findSession(db: Knex, id: string): Promise<SessionRow | undefined> {
  return db(SESSIONS_TABLE).where({ id }).first();
}

/** What recordSessionCall found: the updated row, or why no call could be recorded. */
export type RecordCallOutcome =
  | { kind: "recorded"; row: SessionRow }
  | { kind: "missing" }
  | { kind: "closed"; row: SessionRow }
  | { kind: "other-server"; row: SessionRow };

/**
 * Records one tool call against a session, in one transaction: when the session exists, belongs to
 * `providerId` and is open, `call_count` grows by one, `status` becomes `active` and `last_call_at`
 * becomes `now` (never earlier than a value a concurrent call stored). The guarded UPDATE is the
 * check, so a call racing a close or the idle sweep either lands before it or sees the session closed.
 * Otherwise nothing changes and the outcome says why (read in the same transaction).
 */
export async function recordSessionCall(db: Knex, id: string, providerId: string, now: string): Promise<RecordCallOutcome> {
  return db.transaction(async (trx) => {
    const updated: SessionRow[] = await trx(SESSIONS_TABLE)
      .where({ id, provider_id: providerId })
      .whereIn("status", [...OPEN_STATUSES])
      .update({
        call_count: trx.raw("?? + 1", ["call_count"]),
        status: "active",
        last_call_at: trx.raw("CASE WHEN ?? IS NULL OR ?? < ? THEN ? ELSE ?? END", ["last_call_at", "last_call_at", now, now, "last_call_at"]),
      })
      .returning("*");
    if (updated.length > 0) return { kind: "recorded", row: updated[0] };
    const row: SessionRow | undefined = await trx(SESSIONS_TABLE).where({ id }).first();
    if (row === undefined) return { kind: "missing" };
    if (row.provider_id !== providerId) return { kind: "other-server", row };
    return { kind: "closed", row };
  });
}

/**
 * Closes a session (§22) in one transaction: `status` `closed`, `closed_at` = `now`, and the audit
 * entry when given. Answers the row and whether this call closed it (false when it was closed
 * already: the row as it is, no entry written), or undefined when no session has this id.
 */
export async function closeSession(
  db: Knex,
  id: string,
  now: string,
  audit: AuditEntry | null = null,
): Promise<{ row: SessionRow; changed: boolean } | undefined> {
  return db.transaction(async (trx) => {
    const updated: SessionRow[] = await trx(SESSIONS_TABLE)
      .where({ id })
      .whereIn("status", [...OPEN_STATUSES])
      .update({ status: "closed", closed_at: now })
      .returning("*");
    if (updated.length > 0) {
      // §25.2: the entry of the close, in its transaction (closing a closed session changes nothing).
      if (audit !== null) await insertAudit(trx, [audit]);
      return { row: updated[0], changed: true };
    }
    const row: SessionRow | undefined = await trx(SESSIONS_TABLE).where({ id }).first();
    return row === undefined ? undefined : { row, changed: false };
  });
}

/**
 * The idle sweep (§22): closes, in one statement, every open session whose newest call (or, before
 * any, its creation) is older than `cutoff`, with `closed_at` = `now`; answers the rows it closed.
 * Safe with several replicas sweeping at once: a row is closed by exactly one statement (the others
 * find it closed), and a call recorded meanwhile keeps it open (PostgreSQL rechecks the condition on
 * the row's newest version; SQLite runs one writer at a time).
 */
export async function closeIdleSessions(db: Knex, cutoff: string, now: string): Promise<SessionRow[]> {
  return db(SESSIONS_TABLE)
    .whereIn("status", [...OPEN_STATUSES])
    .whereRaw("COALESCE(??, ??) < ?", ["last_call_at", "created_at", cutoff])
    .update({ status: "closed", closed_at: now })
    .returning("*");
}
