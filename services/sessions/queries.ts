/**
 * SQL of the sessions service (table `sessions`, §3.4).
 */
import type { Knex } from "knex";
import type { SessionRow } from "./session";

const SESSIONS_TABLE = "sessions";

export async function insertSession(db: Knex, row: Omit<SessionRow, "seq">): Promise<void> {
  await db(SESSIONS_TABLE).insert(row);
}

/** Every session, oldest first (creation order). */
export function listSessions(db: Knex): Promise<SessionRow[]> {
  return db(SESSIONS_TABLE).select().orderBy("seq", "asc");
}

export async function findSession(db: Knex, id: string): Promise<SessionRow | undefined> {
  return db(SESSIONS_TABLE).where({ id }).first();
}
