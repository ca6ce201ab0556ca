/**
 * The MCP runtime's store (runtime-contract §18–§20, tables of migration 011): process state, the
 * ownership leases, process-group hygiene records, logs, health checks, and the status transitions
 * the notifications of §23.2 are made from. Every function takes the Knex it runs on: the writer
 * for writes, the read pool (or the writer) for reads. No other runtime module holds SQL.
 *
 * Datetimes: functions accept an `Instant` (epoch milliseconds, or a datetime text lib/time.ts
 * parses) and return the contract's output form (`2026-01-02T03:04:05.678Z`, milliseconds only
 * when non-zero).
 *
 * Concurrency. Write transactions start with a write statement, so on SQLite they take the
 * database's write lock before reading anything (a deferred transaction that read first could not
 * upgrade after another connection's commit); on PostgreSQL they lock the rows they read. The
 * atomic steps — a lease claim, the next log ids — are single statements whose conflict decides
 * between concurrent callers on both backends.
 */
import type { Knex } from "knex";
import { dialectOf, readSnapshot } from "../../lib/store/knex";
import { type AuditEntry, insertAudit } from "../../lib/store/audit";
import { formatStoredInstant, parseDatetime, toStoredInstant } from "../../lib/time";

// ---------------------------------------------------------------------------------------------
// Shared shapes and helpers

/** An instant given to the store: epoch milliseconds, or a datetime text (lib/time parseDatetime). */
export type Instant = number | string;

export const PROCESS_STATUSES = ["stopped", "starting", "running", "stopping", "backoff", "error"] as const;
/** §18.2. */
export type ProcessStatus = (typeof PROCESS_STATUSES)[number];
/** §18.1 `desired`. */
export type Desired = "running" | "stopped";

/** §19: a stored log line is cut at this many characters. */
export const MAX_LOG_MESSAGE_CHARS = 4096;
/** §18.1: `last_error` holds at most this many characters. */
export const MAX_LAST_ERROR_CHARS = 2000;
/** §19: CONSOLE_MCP_LOG_RETENTION's default, entries kept per server. */
export const DEFAULT_LOG_RETENTION = 1000;
/** §18.1: entries a ProcessState carries. */
export const PROCESS_STATE_LOGS = 20;
/** §20: health checks kept per server. */
export const HEALTH_CHECKS_KEPT = 100;
/** §23.2: notifications come from the last 7 days; transitions older than this are dropped. */
export const TRANSITION_RETENTION_MS = 7 * 86_400_000;

// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is the point: PostgreSQL text cannot store it
const UNSTORABLE_TEXT_G = /\u0000|\p{Cs}/gu;

/**
 * Text as the store keeps it: at most `maxChars` UTF-16 units (cut first, so a cut never leaves
 * half a surrogate pair behind), then NUL and lone surrogates replaced by U+FFFD — PostgreSQL text
 * rejects NUL and neither backend can keep a lone surrogate, and a server's stderr may hold both.
 */
export function storableText(text: string, maxChars = Infinity): string {
  const cut = text.length > maxChars ? text.slice(0, maxChars) : text;
  // A cut between the halves of a pair leaves a lone high surrogate; the replacement catches it.
  return cut.replace(UNSTORABLE_TEXT_G, "\uFFFD");
}

function storedInstant(value: Instant, field: string): string {
  const ms = typeof value === "number" ? (Number.isFinite(value) ? Math.trunc(value) : null) : parseDatetime(value);
  if (ms === null) throw new Error(`runtime store: ${field} is not an instant: ${JSON.stringify(value)}`);
  return toStoredInstant(ms);
}

function storedInstantOrNull(value: Instant | null | undefined, field: string): string | null {
  return value === null || value === undefined ? null : storedInstant(value, field);
}

function outputInstant(stored: string | null): string | null {
  return stored === null ? null : formatStoredInstant(stored);
}

function numberOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

function textOrNull(value: string | null | undefined, maxChars = Infinity): string | null {
  return value === null || value === undefined ? null : storableText(value, maxChars);
}

/** Rows of a raw statement, on either backend (sqlite3 gives the rows, pg a result object). */
async function rawRows<T>(db: Knex | Knex.Transaction, sql: string, bindings: readonly unknown[]): Promise<T[]> {
  const result = await db.raw(sql, bindings as Knex.RawBinding[]);
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

function placeholders(n: number): string {
  return Array(n).fill("?").join(", ");
}

function requirePositiveInt(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`runtime store: ${name} must be a positive integer, got ${value}`);
}

// ---------------------------------------------------------------------------------------------
// Process state (§18.1)

/** §18.1 `server_info`: from the MCP `initialize` answer. */
export interface ServerInfo {
  name: string;
  version: string;
  protocol_version: string;
}

/** A server's stored process state: §18.1 without `logs` and `cursor`, plus when it was written. */
export interface ProcessRecord {
  server_id: string;
  desired: Desired;
  status: ProcessStatus;
  command: string | null;
  pid: number | null;
  node_id: string | null;
  started_at: string | null;
  stopped_at: string | null;
  return_code: number | null;
  last_error: string | null;
  restarts: number;
  server_info: ServerInfo | null;
  tool_count: number | null;
  updated_at: string;
}

/**
 * What writeState writes: every observed field of §18.1 (the owner's view). `desired` is written
 * only when given (it is the operator's, set with setDesired; a new row without it starts
 * `stopped`). `last_error` is cut at MAX_LAST_ERROR_CHARS.
 */
export interface ProcessStateWrite {
  server_id: string;
  status: ProcessStatus;
  command: string | null;
  pid: number | null;
  node_id: string | null;
  started_at: Instant | null;
  stopped_at: Instant | null;
  return_code: number | null;
  last_error: string | null;
  restarts: number;
  server_info: ServerInfo | null;
  tool_count: number | null;
  desired?: Desired;
}

/** The lease a write is fenced by: it is written only while this owner and generation hold it. */
export interface LeaseFence {
  node_id: string;
  generation: number;
}

const PROCESS_TABLE = "runtime_processes";
const LEASE_TABLE = "runtime_leases";
const GROUP_TABLE = "runtime_process_groups";
const COUNTER_TABLE = "runtime_log_counters";
const LOG_TABLE = "runtime_logs";
const HEALTH_TABLE = "runtime_health_checks";
const TRANSITION_TABLE = "runtime_transitions";

interface ProcessRow {
  server_id: string;
  desired: string;
  status: string;
  command: string | null;
  pid: number | string | null;
  node_id: string | null;
  started_at: string | null;
  stopped_at: string | null;
  return_code: number | string | null;
  last_error: string | null;
  restarts: number | string;
  server_info: string | null;
  tool_count: number | string | null;
  updated_at: string;
}

function processRecord(row: ProcessRow): ProcessRecord {
  return {
    server_id: row.server_id,
    desired: row.desired as Desired,
    status: row.status as ProcessStatus,
    command: row.command,
    pid: numberOrNull(row.pid),
    node_id: row.node_id,
    started_at: outputInstant(row.started_at),
    stopped_at: outputInstant(row.stopped_at),
    return_code: numberOrNull(row.return_code),
    last_error: row.last_error,
    restarts: Number(row.restarts),
    server_info: row.server_info === null ? null : (JSON.parse(row.server_info) as ServerInfo),
    tool_count: numberOrNull(row.tool_count),
    updated_at: formatStoredInstant(row.updated_at),
  };
}

/** The stored process state of one server, or null when nothing was ever written for it (never started). */
export async function readState(knex: Knex, serverId: string): Promise<ProcessRecord | null> {
  const row = (await knex(PROCESS_TABLE).where({ server_id: serverId }).first()) as ProcessRow | undefined;
  return row === undefined ? null : processRecord(row);
}

/** Every stored process state, by server_id (catalog order is the caller's). */
export async function readStates(knex: Knex): Promise<ProcessRecord[]> {
  const rows = (await knex(PROCESS_TABLE).select().orderBy("server_id", "asc")) as ProcessRow[];
  return rows.map(processRecord);
}

/**
 * Takes the fence inside `trx` as its first statement: true when the lease of `serverId` is held by
 * `fence` (and then locked until the transaction ends, so no claim can pass it meanwhile). A
 * no-op update, so it also takes SQLite's write lock.
 */
async function holdFence(trx: Knex.Transaction, serverId: string, fence: LeaseFence): Promise<boolean> {
  const changed = await trx(LEASE_TABLE)
    .where({ server_id: serverId, node_id: fence.node_id, generation: fence.generation })
    .update({ generation: fence.generation });
  return changed > 0;
}

/** Drops transitions older than TRANSITION_RETENTION_MS before `nowMs` (the index on `at` serves it). */
async function pruneTransitions(trx: Knex.Transaction, nowMs: number): Promise<void> {
  await trx(TRANSITION_TABLE)
    .where("at", "<", toStoredInstant(nowMs - TRANSITION_RETENTION_MS))
    .delete();
}

/**
 * Writes a server's process state (§18.1 fields of `state`, upsert by server_id) and, when its
 * status changes, a `process` transition (from the stored status — `stopped` for a server without
 * a row — to the new one, with `restarts`, `last_error` as detail and `node_id`), in one
 * transaction. `updated_at` and the transition's `at` are `nowMs` (default now).
 *
 * With `fence`, the write happens only while the server's lease is held by that node and
 * generation (a replica that lost its lease cannot overwrite the new owner's state); resolves
 * false when it was not written, true otherwise.
 */
export async function writeState(knex: Knex, state: ProcessStateWrite, options: { fence?: LeaseFence; nowMs?: number } = {}): Promise<boolean> {
  const nowMs = options.nowMs ?? Date.now();
  const now = toStoredInstant(nowMs);
  const row = {
    server_id: state.server_id,
    status: state.status,
    command: textOrNull(state.command),
    pid: state.pid,
    node_id: state.node_id,
    started_at: storedInstantOrNull(state.started_at, "started_at"),
    stopped_at: storedInstantOrNull(state.stopped_at, "stopped_at"),
    return_code: state.return_code,
    last_error: textOrNull(state.last_error, MAX_LAST_ERROR_CHARS),
    restarts: state.restarts,
    server_info: state.server_info === null ? null : JSON.stringify(state.server_info),
    tool_count: state.tool_count,
    updated_at: now,
  };
  const merged = Object.keys(row).filter((c) => c !== "server_id");
  if (state.desired !== undefined) merged.push("desired");
  const pg = dialectOf(knex) === "pg";
  return knex.transaction(async (trx) => {
    if (options.fence !== undefined && !(await holdFence(trx, state.server_id, options.fence))) return false;
    // PostgreSQL: lock the row whose status is compared (SQLite: the insert below takes the write lock first).
    if (pg) await trx.raw(`SELECT status FROM ${PROCESS_TABLE} WHERE server_id = ? FOR UPDATE`, [state.server_id]);
    const recorded = await rawRows<{ id: number }>(
      trx,
      `INSERT INTO ${TRANSITION_TABLE} (server_id, kind, from_status, to_status, at, restarts, detail, node_id)
       SELECT ?, 'process', COALESCE(p.status, 'stopped'), ?, ?, CAST(? AS INTEGER), ?, ?
       FROM (SELECT 1 AS one) AS one LEFT JOIN ${PROCESS_TABLE} p ON p.server_id = ?
       WHERE COALESCE(p.status, 'stopped') <> ?
       RETURNING id`,
      [state.server_id, state.status, now, state.restarts, row.last_error, state.node_id, state.server_id, state.status],
    );
    await trx(PROCESS_TABLE)
      .insert({ ...row, desired: state.desired ?? "stopped" })
      .onConflict("server_id")
      .merge(merged);
    if (recorded.length > 0) await pruneTransitions(trx, nowMs);
    return true;
  });
}

/**
 * Sets what the operator asked for (§18.1 `desired`): upsert by server_id; a server without a row
 * gets one with status `stopped` and nulls. `updated_at` is `nowMs` (default now). With `audit`,
 * the request's audit entry (§25.2) is inserted in the same transaction.
 */
export async function setDesired(knex: Knex, serverId: string, desired: Desired, nowMs = Date.now(), audit: AuditEntry | null = null): Promise<void> {
  const write = (db: Knex | Knex.Transaction) =>
    db(PROCESS_TABLE)
      .insert({ server_id: serverId, desired, status: "stopped", restarts: 0, updated_at: toStoredInstant(nowMs) })
      .onConflict("server_id")
      .merge(["desired", "updated_at"]);
  if (audit === null) {
    await write(knex);
    return;
  }
  // The operator's request and its audit entry (§25.2): both stored or neither.
  await knex.transaction(async (trx) => {
    await write(trx);
    await insertAudit(trx, [audit]);
  });
}

/**
 * Gives a server its first desired state (e.g. `running` for an `autostart` server, §18.1) unless it
 * already has one: an operator's later choice survives restarts of the system. True when the row
 * was created (status `stopped`, nulls), false when one existed (left as it was).
 */
export async function initDesired(knex: Knex, serverId: string, desired: Desired, nowMs = Date.now()): Promise<boolean> {
  const created = (await knex(PROCESS_TABLE)
    .insert({ server_id: serverId, desired, status: "stopped", restarts: 0, updated_at: toStoredInstant(nowMs) }, ["server_id"])
    .onConflict("server_id")
    .ignore()) as unknown[];
  return created.length > 0;
}

/**
 * Forgets a deleted server's runtime (§17.4 DELETE, after its process was stopped): its process
 * state, lease, health checks and logs, in one transaction. Its log counter stays, with every id
 * marked dropped, so a server re-created with the same id continues the ids (§19) and an old cursor
 * reads `truncated: true`. Process-group records (removed by the process layer when the group is
 * gone) and transitions (aged out after 7 days) are kept.
 */
export async function deleteServerRuntime(knex: Knex, serverId: string): Promise<void> {
  await knex.transaction(async (trx) => {
    await trx(LEASE_TABLE).where({ server_id: serverId }).delete();
    await trx(PROCESS_TABLE).where({ server_id: serverId }).delete();
    await trx(HEALTH_TABLE).where({ server_id: serverId }).delete();
    await trx(COUNTER_TABLE)
      .where({ server_id: serverId })
      .update({ pruned_through: trx.ref("last_id"), prev_pruned_through: trx.ref("last_id") });
    await trx(LOG_TABLE).where({ server_id: serverId }).delete();
  });
}

// ---------------------------------------------------------------------------------------------
// Ownership leases (§18.4)

/** A server's ownership lease; `node_id` and `lease_expires_at` are null once released. */
export interface Lease {
  server_id: string;
  node_id: string | null;
  lease_expires_at: string | null;
  /** Grows by one at every successful claim, never restarts: the fencing token of writeState. */
  generation: number;
}

interface LeaseRow {
  server_id: string;
  node_id: string | null;
  lease_expires_at: string | null;
  generation: number | string;
}

function lease(row: LeaseRow): Lease {
  return {
    server_id: row.server_id,
    node_id: row.node_id,
    lease_expires_at: outputInstant(row.lease_expires_at),
    generation: Number(row.generation),
  };
}

/** Who is asking, and what counts as a lost owner. */
export interface Liveness {
  /** The caller's clock; a lease whose expiry is at or before it has lapsed. */
  nowMs: number;
  /** Nodes known to be gone (e.g. owners missing from the broker's registry): their leases count as lapsed. */
  deadNodes?: readonly string[];
}

export interface ClaimRequest extends Liveness {
  serverId: string;
  nodeId: string;
  /** How long the lease lasts from nowMs without a renewal. */
  ttlMs: number;
}

/** A claim's outcome: the lease now (the caller's when claimed; the holder's, or null, when not). */
export type ClaimResult = { claimed: true; lease: Lease } | { claimed: false; lease: Lease | null };

/** `AND`-able SQL of "the lease row `alias` has no live owner" and its bindings. */
function lapsedCondition(alias: string, liveness: Liveness): { sql: string; bindings: unknown[] } {
  const dead = liveness.deadNodes ?? [];
  const deadSql = dead.length > 0 ? ` OR ${alias}.node_id IN (${placeholders(dead.length)})` : "";
  return {
    sql: `(${alias}.node_id IS NULL OR ${alias}.lease_expires_at IS NULL OR ${alias}.lease_expires_at <= ?${deadSql})`,
    bindings: [toStoredInstant(liveness.nowMs), ...dead],
  };
}

/**
 * Claims a server's lease for `nodeId` (§18.4), atomically: one compare-and-set statement that
 * succeeds only when the server has no lease row, or its lease is released, expired (expiry at or
 * before `nowMs`), or held by a node of `deadNodes`. The claim sets the owner, the expiry
 * `nowMs + ttlMs`, and the next generation. Of concurrent claimers exactly one succeeds (the
 * primary key's conflict serialises them; the others see the winner's row). A node that already
 * holds a live lease gets `claimed: false` with its own lease.
 */
export async function claimLease(knex: Knex, request: ClaimRequest): Promise<ClaimResult> {
  requirePositiveInt(request.ttlMs, "ttlMs");
  const expires = toStoredInstant(request.nowMs + request.ttlMs);
  const now = toStoredInstant(request.nowMs);
  const lapsed = lapsedCondition(LEASE_TABLE, request);
  const rows = await rawRows<LeaseRow>(
    knex,
    `INSERT INTO ${LEASE_TABLE} (server_id, node_id, lease_expires_at, generation, claimed_at) VALUES (?, ?, ?, 1, ?)
     ON CONFLICT (server_id) DO UPDATE SET node_id = excluded.node_id, lease_expires_at = excluded.lease_expires_at,
       generation = ${LEASE_TABLE}.generation + 1, claimed_at = excluded.claimed_at
     WHERE ${lapsed.sql}
     RETURNING server_id, node_id, lease_expires_at, generation`,
    [request.serverId, request.nodeId, expires, now, ...lapsed.bindings],
  );
  if (rows.length > 0) return { claimed: true, lease: lease(rows[0]) };
  return { claimed: false, lease: await readLease(knex, request.serverId) };
}

/**
 * Extends a held lease to `nowMs + ttlMs`; true when `nodeId` still holds `generation` (even if it
 * lapsed meanwhile, as long as nobody claimed it since), false otherwise (the lease was lost).
 */
export async function renewLease(
  knex: Knex,
  request: { serverId: string; nodeId: string; generation: number; nowMs: number; ttlMs: number },
): Promise<boolean> {
  requirePositiveInt(request.ttlMs, "ttlMs");
  const changed = await knex(LEASE_TABLE)
    .where({ server_id: request.serverId, node_id: request.nodeId, generation: request.generation })
    .update({ lease_expires_at: toStoredInstant(request.nowMs + request.ttlMs) });
  return changed > 0;
}

/**
 * Extends every lease `nodeId` holds to `nowMs + ttlMs` in one statement (a heartbeat); resolves
 * with the server ids of the renewed leases, sorted (a lease another node took is not among them).
 */
export async function renewNodeLeases(knex: Knex, nodeId: string, nowMs: number, ttlMs: number): Promise<string[]> {
  requirePositiveInt(ttlMs, "ttlMs");
  const rows = (await knex(LEASE_TABLE)
    .where({ node_id: nodeId })
    .update({ lease_expires_at: toStoredInstant(nowMs + ttlMs) }, ["server_id"])) as { server_id: string }[];
  return rows.map((r) => r.server_id).sort();
}

/** Gives a held lease up (the generation stays); true when `nodeId` held `generation`, false otherwise. */
export async function releaseLease(knex: Knex, request: { serverId: string; nodeId: string; generation: number }): Promise<boolean> {
  const changed = await knex(LEASE_TABLE)
    .where({ server_id: request.serverId, node_id: request.nodeId, generation: request.generation })
    .update({ node_id: null, lease_expires_at: null });
  return changed > 0;
}

/** Gives up every lease `nodeId` holds (a graceful stop); resolves with their server ids, sorted. */
export async function releaseNodeLeases(knex: Knex, nodeId: string): Promise<string[]> {
  const rows = (await knex(LEASE_TABLE).where({ node_id: nodeId }).update({ node_id: null, lease_expires_at: null }, ["server_id"])) as {
    server_id: string;
  }[];
  return rows.map((r) => r.server_id).sort();
}

/** A server's lease row, or null when it was never claimed (or the server was deleted). */
export async function readLease(knex: Knex, serverId: string): Promise<Lease | null> {
  const row = (await knex(LEASE_TABLE).where({ server_id: serverId }).first()) as LeaseRow | undefined;
  return row === undefined ? null : lease(row);
}

/** Every lease row, by server_id. */
export async function listLeases(knex: Knex): Promise<Lease[]> {
  const rows = (await knex(LEASE_TABLE).select().orderBy("server_id", "asc")) as LeaseRow[];
  return rows.map(lease);
}

/**
 * The servers to reconcile (§18.4): `desired: running` and no live owner — no lease, a released
 * one, one expired at `nowMs`, or one held by a node of `deadNodes`. Sorted by server_id. A
 * replica then claims each (claimLease decides between replicas) and starts it.
 */
export async function listUnowned(knex: Knex, liveness: Liveness): Promise<string[]> {
  const lapsed = lapsedCondition("l", liveness);
  const rows = await rawRows<{ server_id: string }>(
    knex,
    `SELECT p.server_id FROM ${PROCESS_TABLE} p LEFT JOIN ${LEASE_TABLE} l ON l.server_id = p.server_id
     WHERE p.desired = 'running' AND (l.server_id IS NULL OR ${lapsed.sql})
     ORDER BY p.server_id`,
    lapsed.bindings,
  );
  return rows.map((r) => r.server_id);
}

// ---------------------------------------------------------------------------------------------
// Process-group hygiene records (§18.4)

/** A process group the runtime started, as recorded for cleaning up after a crash of its replica. */
export interface ProcessGroupRecord {
  server_id: string;
  host: string;
  pgid: number;
  /** The process layer's token of the group leader's start time (from /proc), compared verbatim. */
  leader_start_time: string;
  node_id: string;
  created_at: string;
}

interface GroupRow {
  server_id: string;
  host: string;
  pgid: number | string;
  leader_start_time: string;
  node_id: string;
  created_at: string;
}

/**
 * Records a process group (upsert by host and pgid: a pgid can only be reused once the old group is
 * gone, so an older record of the same pgid is replaced). `created_at` is `nowMs` (default now).
 */
export async function addProcessGroup(knex: Knex, group: Omit<ProcessGroupRecord, "created_at">, nowMs = Date.now()): Promise<void> {
  await knex(GROUP_TABLE)
    .insert({ ...group, created_at: toStoredInstant(nowMs) })
    .onConflict(["host", "pgid"])
    .merge();
}

/**
 * Removes the record of a group that is gone; with `leaderStartTime`, only when the record is of
 * that leader (a newer group with the same pgid keeps its record). True when a record was removed.
 */
export async function removeProcessGroup(knex: Knex, host: string, pgid: number, leaderStartTime?: string): Promise<boolean> {
  const q = knex(GROUP_TABLE).where({ host, pgid });
  if (leaderStartTime !== undefined) q.andWhere({ leader_start_time: leaderStartTime });
  return (await q.delete()) > 0;
}

/** The recorded groups of one host, by pgid (a replica starting on that host cleans them up). */
export async function listProcessGroups(knex: Knex, host: string): Promise<ProcessGroupRecord[]> {
  const rows = (await knex(GROUP_TABLE).where({ host }).orderBy("pgid", "asc")) as GroupRow[];
  return rows.map((r) => ({ ...r, pgid: Number(r.pgid), created_at: formatStoredInstant(r.created_at) }));
}

// ---------------------------------------------------------------------------------------------
// Logs (§19)

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogSource = "supervisor" | "stderr";

/** A line to store; `message` is cut at MAX_LOG_MESSAGE_CHARS. */
export interface LogEntryInput {
  timestamp: Instant;
  level: LogLevel;
  source: LogSource;
  message: string;
}

/** §19 LogEntry. */
export interface LogEntry {
  /** Decimal; increases per server and never restarts. */
  id: string;
  timestamp: string;
  level: LogLevel;
  source: LogSource;
  message: string;
}

interface LogRow {
  id: number | string;
  timestamp: string;
  level: string;
  source: string;
  message: string;
}

function logEntry(row: LogRow): LogEntry {
  return {
    id: String(row.id),
    timestamp: formatStoredInstant(row.timestamp),
    level: row.level as LogLevel,
    source: row.source as LogSource,
    message: row.message,
  };
}

/** Rows per log INSERT: 6 bound values a row, well below SQLite's and PostgreSQL's limits. */
const LOG_INSERT_CHUNK = 500;

/**
 * Appends a batch of log entries of one server, in order, in one transaction, and drops what falls
 * beyond the newest `retention` entries of the server (§19, CONSOLE_MCP_LOG_RETENTION). Resolves
 * with every entry of the batch as stored (text cut and cleaned, ids assigned: consecutive and
 * increasing in input order); of a batch longer than the retention only the newest `retention` are
 * written at all.
 *
 * The ids come from the server's counter row (`runtime_log_counters`), advanced by one upsert that
 * is the transaction's first statement: it locks that row on PostgreSQL and takes the write lock on
 * SQLite, so concurrent appenders (on any replica) get disjoint, increasing ranges, and ids never
 * restart — the counter survives retention and deleteServerRuntime. The same upsert moves
 * `pruned_through` to `last_id − retention`; rows in the newly dropped id range are then deleted by
 * primary key (about as many rows as the batch adds once the server is at its retention).
 */
export async function appendLogs(
  knex: Knex,
  serverId: string,
  entries: readonly LogEntryInput[],
  retention: number = DEFAULT_LOG_RETENTION,
): Promise<LogEntry[]> {
  requirePositiveInt(retention, "retention");
  if (entries.length === 0) return [];
  const rows = entries.map((e) => ({
    timestamp: storedInstant(e.timestamp, "timestamp"),
    level: e.level,
    source: e.source,
    message: storableText(e.message, MAX_LOG_MESSAGE_CHARS),
  }));
  const n = rows.length;
  return knex.transaction(async (trx) => {
    const [counter] = await rawRows<{ last_id: number | string; pruned_through: number | string; prev_pruned_through: number | string }>(
      trx,
      `INSERT INTO ${COUNTER_TABLE} (server_id, last_id, pruned_through, prev_pruned_through) VALUES (?, ?, ?, 0)
       ON CONFLICT (server_id) DO UPDATE SET
         last_id = ${COUNTER_TABLE}.last_id + excluded.last_id,
         prev_pruned_through = ${COUNTER_TABLE}.pruned_through,
         pruned_through = CASE WHEN ${COUNTER_TABLE}.last_id + excluded.last_id - ? > ${COUNTER_TABLE}.pruned_through
           THEN ${COUNTER_TABLE}.last_id + excluded.last_id - ? ELSE ${COUNTER_TABLE}.pruned_through END
       RETURNING last_id, pruned_through, prev_pruned_through`,
      [serverId, n, Math.max(0, n - retention), retention, retention],
    );
    const lastId = Number(counter.last_id);
    const pruned = Number(counter.pruned_through);
    const prevPruned = Number(counter.prev_pruned_through);
    const firstId = lastId - n + 1;
    // Rows the batch would insert only to delete at once (a batch longer than the retention) are skipped.
    const stored = rows.map((r, i) => ({ server_id: serverId, id: firstId + i, ...r })).filter((r) => r.id > pruned);
    for (let at = 0; at < stored.length; at += LOG_INSERT_CHUNK) {
      await trx(LOG_TABLE).insert(stored.slice(at, at + LOG_INSERT_CHUNK));
    }
    if (pruned > prevPruned) {
      await trx(LOG_TABLE).where({ server_id: serverId }).andWhere("id", ">", prevPruned).andWhere("id", "<=", pruned).delete();
    }
    return rows.map((r, i) => logEntry({ id: firstId + i, ...r }));
  });
}

/** The answer of GET /servers/{id}/process/logs (§19). */
export interface LogPage {
  logs: LogEntry[];
  /** The id of the last entry returned, else the cursor given, else null. */
  cursor: string | null;
  /** True when entries after the cursor (after the start, without one) were dropped by retention. */
  truncated: boolean;
}

/**
 * Entries of a server with `id > cursor`, oldest first, at most `limit` (§19), read in one
 * snapshot. `cursor` is a normalised decimal (log-cursor.ts parseLogCursor) or null (from the
 * start); a cursor beyond any id there can be reads nothing. `truncated` compares the cursor with
 * the highest dropped id of the server, so it holds also after a deletion dropped everything.
 */
export async function readLogsAfter(knex: Knex, serverId: string, cursor: string | null, limit: number): Promise<LogPage> {
  requirePositiveInt(limit, "limit");
  // Ids never reach 2^53 (a billion lines a day for 24,000 years); a larger cursor stands above them all.
  const after = cursor === null ? 0 : Math.min(Number(cursor), Number.MAX_SAFE_INTEGER);
  return readSnapshot(knex, async (trx) => {
    const counter = (await trx(COUNTER_TABLE).where({ server_id: serverId }).first("pruned_through")) as
      | { pruned_through: number | string }
      | undefined;
    const rows = (await trx(LOG_TABLE)
      .where({ server_id: serverId })
      .andWhere("id", ">", after)
      .orderBy("id", "asc")
      .limit(limit)
      .select("id", "timestamp", "level", "source", "message")) as LogRow[];
    const logs = rows.map(logEntry);
    const pruned = counter === undefined ? 0 : Number(counter.pruned_through);
    return { logs, cursor: logs.length > 0 ? logs[logs.length - 1].id : cursor, truncated: pruned > after };
  });
}

/** The newest `count` entries of a server (default 20, §18.1 `logs`), oldest first, and the newest id as `cursor` (null without entries). */
export async function readRecentLogs(
  knex: Knex | Knex.Transaction,
  serverId: string,
  count = PROCESS_STATE_LOGS,
): Promise<{ logs: LogEntry[]; cursor: string | null }> {
  requirePositiveInt(count, "count");
  const rows = (await knex(LOG_TABLE)
    .where({ server_id: serverId })
    .orderBy("id", "desc")
    .limit(count)
    .select("id", "timestamp", "level", "source", "message")) as LogRow[];
  const logs = rows.reverse().map(logEntry);
  return { logs, cursor: logs.length > 0 ? logs[logs.length - 1].id : null };
}

/** What a ProcessState (§18.1) is made of: the stored record (null: never started) and the newest log entries. */
export interface ProcessView {
  record: ProcessRecord | null;
  /** The newest entries, oldest first. */
  logs: LogEntry[];
  /** The newest entry's id, null without entries. */
  cursor: string | null;
}

/**
 * The process views of `serverIds` (GET /servers/processes, §18.5), read in one snapshot so states
 * and logs agree; keyed by server id, one entry per id given (in that order). `logCount` entries
 * each (default 20).
 */
export async function readProcessViews(knex: Knex, serverIds: readonly string[], logCount = PROCESS_STATE_LOGS): Promise<Map<string, ProcessView>> {
  requirePositiveInt(logCount, "logCount");
  return readSnapshot(knex, async (trx) => {
    const rows = serverIds.length === 0 ? [] : ((await trx(PROCESS_TABLE).whereIn("server_id", [...serverIds])) as ProcessRow[]);
    const records = new Map(rows.map((r) => [r.server_id, processRecord(r)]));
    const views = new Map<string, ProcessView>();
    for (const id of serverIds) {
      const recent = await readRecentLogs(trx, id, logCount);
      views.set(id, { record: records.get(id) ?? null, ...recent });
    }
    return views;
  });
}

// ---------------------------------------------------------------------------------------------
// Health checks (§20)

export type HealthStatus = "healthy" | "degraded" | "error";

/** A check to store. */
export interface HealthCheckInput {
  status: HealthStatus;
  checked_at: Instant;
  latency_ms: number | null;
  message: string | null;
  actor: string | null;
}

/** §20 HealthCheck. */
export interface HealthCheck {
  status: HealthStatus;
  checked_at: string;
  latency_ms: number | null;
  message: string | null;
  actor: string | null;
  plan_id: null;
}

interface HealthRow {
  id: number | string;
  status: string;
  checked_at: string;
  latency_ms: number | string | null;
  message: string | null;
  actor: string | null;
}

function healthCheck(row: Omit<HealthRow, "id">): HealthCheck {
  return {
    status: row.status as HealthStatus,
    checked_at: formatStoredInstant(row.checked_at),
    latency_ms: numberOrNull(row.latency_ms),
    message: row.message,
    actor: row.actor,
    plan_id: null,
  };
}

/**
 * Stores a health check of a server and keeps only its newest `keep` (default 100, §20) by
 * (checked_at, id), in one transaction. When its status differs from the check before it (a first
 * check counts as after `healthy`), a `health` transition is recorded too (at `checked_at`, detail
 * the message; transitions older than 7 days before it are dropped). With `audit` (a manual ping,
 * §25.2), its entry is inserted in the same transaction. Resolves with the stored check.
 */
export async function appendHealthCheck(
  knex: Knex,
  serverId: string,
  check: HealthCheckInput,
  keep = HEALTH_CHECKS_KEPT,
  audit: AuditEntry | null = null,
): Promise<HealthCheck> {
  requirePositiveInt(keep, "keep");
  const row = {
    server_id: serverId,
    status: check.status,
    checked_at: storedInstant(check.checked_at, "checked_at"),
    latency_ms: check.latency_ms,
    message: textOrNull(check.message),
    actor: textOrNull(check.actor),
  };
  return knex.transaction(async (trx) => {
    // A manual ping's audit entry (§25.2) is stored with the check it caused.
    if (audit !== null) await insertAudit(trx, [audit]);
    const [inserted] = (await trx(HEALTH_TABLE).insert(row, ["id"])) as { id: number | string }[];
    const id = Number(inserted.id);
    const before = (await trx(HEALTH_TABLE)
      .where({ server_id: serverId })
      .andWhere((w) => w.where("checked_at", "<", row.checked_at).orWhere((x) => x.where("checked_at", row.checked_at).andWhere("id", "<", id)))
      .orderBy([
        { column: "checked_at", order: "desc" },
        { column: "id", order: "desc" },
      ])
      .first("status")) as { status: string } | undefined;
    if ((before?.status ?? "healthy") !== row.status) {
      await trx(TRANSITION_TABLE).insert({
        server_id: serverId,
        kind: "health",
        from_status: before?.status ?? null,
        to_status: row.status,
        at: row.checked_at,
        restarts: null,
        detail: row.message,
        node_id: null,
      });
      await pruneTransitions(trx, parseDatetime(row.checked_at) ?? Date.now());
    }
    const boundary = (await trx(HEALTH_TABLE)
      .where({ server_id: serverId })
      .orderBy([
        { column: "checked_at", order: "desc" },
        { column: "id", order: "desc" },
      ])
      .offset(keep - 1)
      .first("checked_at", "id")) as { checked_at: string; id: number | string } | undefined;
    if (boundary !== undefined) {
      await trx(HEALTH_TABLE)
        .where({ server_id: serverId })
        .andWhere((w) =>
          w.where("checked_at", "<", boundary.checked_at).orWhere((x) => x.where("checked_at", boundary.checked_at).andWhere("id", "<", boundary.id)),
        )
        .delete();
    }
    return healthCheck(row);
  });
}

/** A server's stored checks, newest first by (checked_at, id), at most `limit` (§20: 1..100); [] when never checked. */
export async function readHealthChecks(knex: Knex, serverId: string, limit: number): Promise<HealthCheck[]> {
  requirePositiveInt(limit, "limit");
  const rows = (await knex(HEALTH_TABLE)
    .where({ server_id: serverId })
    .orderBy([
      { column: "checked_at", order: "desc" },
      { column: "id", order: "desc" },
    ])
    .limit(limit)
    .select("status", "checked_at", "latency_ms", "message", "actor")) as Omit<HealthRow, "id">[];
  return rows.map(healthCheck);
}

// ---------------------------------------------------------------------------------------------
// Transitions (the source of §23.2 notifications)

/** A recorded status change; `id` is stable, so a notification made from it keeps its id. */
export interface Transition {
  id: number;
  server_id: string;
  kind: "process" | "health";
  /** The status before (null for a server's first health check). */
  from_status: string | null;
  to_status: string;
  at: string;
  /** `process`: the restart count written with the change; `health`: null. */
  restarts: number | null;
  /** `process`: last_error; `health`: the check's message. */
  detail: string | null;
  node_id: string | null;
}

interface TransitionRow extends Omit<Transition, "id" | "restarts"> {
  id: number | string;
  restarts: number | string | null;
}

/** Transitions at or after `sinceMs`, newest first (at, then id), at most `limit`. */
export async function listTransitions(knex: Knex, sinceMs: number, limit: number): Promise<Transition[]> {
  requirePositiveInt(limit, "limit");
  const rows = (await knex(TRANSITION_TABLE)
    .where("at", ">=", toStoredInstant(sinceMs))
    .orderBy([
      { column: "at", order: "desc" },
      { column: "id", order: "desc" },
    ])
    .limit(limit)
    .select()) as TransitionRow[];
  return rows.map((r) => ({
    ...r,
    id: Number(r.id),
    restarts: numberOrNull(r.restarts),
    at: formatStoredInstant(r.at),
  }));
}

/**
 * The transitions notifications are made of (§23.2; services/runtime/notifications.ts says what
 * each becomes), at or after `sinceMs`, newest first (at, then id), at most `limit`:
 * - a process entering `error`;
 * - a process `starting` with `restarts` > 0 (an automatic restart: after a crash, or on another
 *   replica after its owner was lost — a manual start resets the count to 0);
 * - a process `running` with `restarts` > 0 (it recovered after automatic restarts);
 * - a health check `degraded` or `error` after another status, and `healthy` after `degraded` or `error`.
 */
export async function listNotableTransitions(knex: Knex, sinceMs: number, limit: number): Promise<Transition[]> {
  requirePositiveInt(limit, "limit");
  const rows = (await knex(TRANSITION_TABLE)
    .where("at", ">=", toStoredInstant(sinceMs))
    .andWhere((w) =>
      w
        .where((p) =>
          p
            .where("kind", "process")
            .andWhere((s) =>
              s.where("to_status", "error").orWhere((r) => r.whereIn("to_status", ["starting", "running"]).andWhere("restarts", ">", 0)),
            ),
        )
        .orWhere((h) =>
          h
            .where("kind", "health")
            .andWhere((s) =>
              s
                .whereIn("to_status", ["degraded", "error"])
                .orWhere((r) => r.where("to_status", "healthy").whereIn("from_status", ["degraded", "error"])),
            ),
        ),
    )
    .orderBy([
      { column: "at", order: "desc" },
      { column: "id", order: "desc" },
    ])
    .limit(limit)
    .select()) as TransitionRow[];
  return rows.map((r) => ({
    ...r,
    id: Number(r.id),
    restarts: numberOrNull(r.restarts),
    at: formatStoredInstant(r.at),
  }));
}
