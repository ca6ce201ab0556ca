/**
 * The audit log's writes (table `audit_log`, migration 015; runtime-contract §25.2). Every service
 * that changes something inserts the entry of that change here, inside the transaction of the change
 * itself, so a change without its entry cannot exist: both commit or neither does. The reads
 * (GET /audit/logs) are the `access` service's (services/access/audit-read.ts).
 *
 * `details` must never hold a secret value or tool arguments: callers pass only names, ids and
 * counts.
 */
import type { Knex } from "knex";
import type { AuditContext } from "../access";
import { toStoredInstant } from "../time";

export const AUDIT_TABLE = "audit_log";

export type AuditOutcome = "ok" | "denied" | "error";

/** One audit entry to insert. */
export interface AuditEntry {
  /** Epoch ms; default: now. */
  ts?: number;
  actor: string;
  role: string | null;
  action: string;
  target: string | null;
  outcome: AuditOutcome;
  status: number;
  request_id: string | null;
  details?: Record<string, unknown>;
}

/** Longest text kept in an entry's actor, action, target and request id (longer is cut, never refused). */
const MAX_FIELD_CHARS = 512;

function cut(text: string): string {
  // NUL and lone surrogates cannot be stored verbatim (PostgreSQL text, UTF-8): replaced.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is the point: PostgreSQL text cannot store it
  const clean = text.replace(/\u0000|\p{Cs}/gu, "\ufffd");
  return clean.length > MAX_FIELD_CHARS ? clean.slice(0, MAX_FIELD_CHARS) : clean;
}

function toRow(entry: AuditEntry) {
  return {
    ts: toStoredInstant(entry.ts ?? Date.now()),
    actor: cut(entry.actor),
    role: entry.role,
    action: cut(entry.action),
    target: entry.target === null ? null : cut(entry.target),
    outcome: entry.outcome,
    status: entry.status,
    request_id: entry.request_id === null ? null : cut(entry.request_id),
    details: JSON.stringify(entry.details ?? {}, (_k, v: unknown) => (typeof v === "string" ? cut(v) : v)),
  };
}

/** Inserts entries (in the caller's transaction, or alone when given the Knex instance). */
export async function insertAudit(trx: Knex | Knex.Transaction, entries: readonly AuditEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await trx(AUDIT_TABLE).insert(entries.map(toRow));
}

/**
 * The entry of a request's change from the gateway's audit context (ctx.meta.audit), with what the
 * action knows better (a target named by the body, details, another status or outcome). Null when
 * the call did not come through the gateway (a broker caller: nothing to attribute).
 */
export function auditEntryOf(context: unknown, overrides: Partial<AuditEntry> = {}): AuditEntry | null {
  if (typeof context !== "object" || context === null) return null;
  const c = context as Partial<AuditContext>;
  if (typeof c.actor !== "string" || typeof c.action !== "string") return null;
  return {
    actor: c.actor,
    role: c.role ?? null,
    action: c.action,
    target: c.target ?? null,
    outcome: c.outcome ?? "ok",
    status: typeof c.status === "number" ? c.status : 200,
    request_id: c.request_id ?? null,
    ...(c.details === undefined ? {} : { details: c.details }),
    ...overrides,
  };
}

/**
 * The audit entry a service writes in the transaction of a request's change, and the step that
 * tells the gateway it was written (`ctx.meta.$audited`, read back by the gateway) — to be taken
 * only once that transaction has committed.
 */
export function auditOf(meta: Record<string, unknown>, overrides: Partial<AuditEntry> = {}): { entry: AuditEntry | null; committed(): void } {
  const entry = auditEntryOf(meta.audit, overrides);
  return {
    entry,
    committed() {
      if (entry !== null) meta.$audited = true;
    },
  };
}
