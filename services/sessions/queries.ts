/**
 * SQL of the sessions service (table `sessions`, §3.4).
 */
import type { Knex } from "knex";
import type { SessionFilter } from "./listing";
import type { SessionRow } from "./session";

const SESSIONS_TABLE = "sessions";

export async function insertSession(db: Knex, row: Omit<SessionRow, "seq">): Promise<void> {
  await db(SESSIONS_TABLE).insert(row);
}

/**
 * Sessions matching the filter in creation order (oldest first): every one, or, with `page`, at
 * most `page.count` of those created after the session numbered `page.afterSeq` (keyset on the
 * primary key `seq`).
 */
export function listSessions(
  db: Knex,
  filter: SessionFilter = {},
  page?: { afterSeq: number; count: number },
): Promise<SessionRow[]> {
  const q = db(SESSIONS_TABLE).select();
  if (filter.status !== undefined) q.where("status", filter.status);
  if (filter.providerId !== undefined) q.where("provider_id", filter.providerId);
  if (page !== undefined) q.where("seq", ">", page.afterSeq).limit(page.count);
  return q.orderBy("seq", "asc");
}

export async function findSession(db: Knex, id: string): Promise<SessionRow | undefined> {
  return db(SESSIONS_TABLE).where({ id }).first();
}
