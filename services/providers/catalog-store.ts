/**
 * The catalog's SQL (tables `servers` and `catalog_state`, migration 010): reading the whole catalog
 * with its version, and the one write transaction every catalog change runs in.
 *
 * Every write transaction starts by bumping `catalog_state.version`. That first statement is a write,
 * so it takes the store's write lock (SQLite: writers wait for one another, busy timeout; PostgreSQL:
 * the row lock, held to the end of the transaction), and everything the transaction then reads is
 * the latest committed catalog: replicas that sync the manifest or take HTTP writes at the same time
 * run one after the other, each seeing what the previous one wrote. A transaction that finds nothing
 * to change rolls back, so the version only grows with real changes.
 */
import type { Knex } from "knex";
import { isLane } from "../../lib/lanes";
import { AuditEntry, insertAudit } from "../../lib/store/audit";
import { readSnapshot } from "../../lib/store/knex";
import { CatalogEntry, compareEntries, RESTART_POLICIES, RestartPolicy, ServerSource, SyncPlan } from "./server-record";

const SERVERS = "servers";
const STATE = "catalog_state";

/** The whole catalog as one snapshot: its entries in catalog order (§17.1) and the version they are at. */
export interface CatalogSnapshot {
  version: number;
  entries: CatalogEntry[];
}

interface ServerRow {
  id: string;
  source: string;
  position: number;
  name: string;
  command: string;
  description: string;
  tags: string;
  capabilities: string;
  transport: string;
  lane: string | null;
  args: string | null;
  env: string | null;
  cwd: string | null;
  autostart: boolean | number | null;
  startup_timeout_s: number | null;
  secret_env: string | null;
  restart: string | null;
  max_restarts: number | null;
  degraded_latency_ms: number | null;
  tool_timeout_s: number | null;
  created_at: string;
  updated_at: string;
}

function toRow(e: CatalogEntry): ServerRow {
  return {
    id: e.id,
    source: e.source,
    position: e.position,
    name: e.name,
    command: e.command,
    description: e.description,
    tags: JSON.stringify(e.tags),
    capabilities: JSON.stringify(e.capabilities),
    transport: e.transport,
    lane: e.lane,
    args: e.args === null ? null : JSON.stringify(e.args),
    env: e.env === null ? null : JSON.stringify(e.env),
    cwd: e.cwd,
    autostart: e.autostart,
    startup_timeout_s: e.startup_timeout_s,
    secret_env: e.secret_env,
    restart: e.restart,
    max_restarts: e.max_restarts,
    degraded_latency_ms: e.degraded_latency_ms,
    tool_timeout_s: e.tool_timeout_s,
    created_at: e.created_at,
    updated_at: e.updated_at,
  };
}

function fromRow(r: ServerRow): CatalogEntry {
  return {
    id: r.id,
    source: (r.source === "manifest" ? "manifest" : "api") as ServerSource,
    position: Number(r.position),
    name: r.name,
    command: r.command,
    description: r.description,
    tags: JSON.parse(r.tags) as string[],
    capabilities: JSON.parse(r.capabilities) as string[],
    transport: r.transport,
    lane: isLane(r.lane) ? r.lane : null,
    args: r.args === null ? null : (JSON.parse(r.args) as string[]),
    env: r.env === null ? null : (JSON.parse(r.env) as Record<string, string>),
    cwd: r.cwd,
    // SQLite keeps booleans as 0/1.
    autostart: r.autostart === null ? null : Boolean(r.autostart),
    startup_timeout_s: r.startup_timeout_s === null ? null : Number(r.startup_timeout_s),
    secret_env: r.secret_env,
    restart: (RESTART_POLICIES as readonly string[]).includes(r.restart ?? "") ? (r.restart as RestartPolicy) : null,
    max_restarts: r.max_restarts === null ? null : Number(r.max_restarts),
    degraded_latency_ms: r.degraded_latency_ms === null ? null : Number(r.degraded_latency_ms),
    tool_timeout_s: r.tool_timeout_s === null ? null : Number(r.tool_timeout_s),
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

async function readAll(trx: Knex | Knex.Transaction): Promise<CatalogSnapshot> {
  const [state] = (await trx(STATE).select("version").where({ id: 1 })) as { version: number | string }[];
  const rows = (await trx(SERVERS).select("*")) as ServerRow[];
  return { version: Number(state?.version ?? 0), entries: rows.map(fromRow).sort(compareEntries) };
}

/** The catalog in one read snapshot (§1.4). */
export function readCatalog(knex: Knex): Promise<CatalogSnapshot> {
  return readSnapshot(knex, (trx) => readAll(trx));
}

/** The catalog's version alone (cheap: one row). */
export async function readCatalogVersion(knex: Knex): Promise<number> {
  const [state] = (await knex(STATE).select("version").where({ id: 1 })) as { version: number | string }[];
  return Number(state?.version ?? 0);
}

/** What a catalog write did: its result, and the catalog after it when it changed something. */
export interface CatalogWrite<T> {
  result: T;
  /** The committed catalog, or null when the transaction changed nothing (and rolled back). */
  after: CatalogSnapshot | null;
}

/** The writes a catalog transaction may make (each inside the transaction `catalogWrite` opened). */
export interface CatalogWriter {
  /** Every entry, in catalog order, as committed by the writers before this one. */
  entries: CatalogEntry[];
  insert(entry: CatalogEntry): Promise<void>;
  replace(entry: CatalogEntry): Promise<void>;
  remove(id: string): Promise<void>;
  applySync(plan: SyncPlan): Promise<void>;
  /** Records the audit entry of this change in its transaction (runtime-contract §25.2; lib/store/audit.ts). */
  audit(entry: AuditEntry | null): Promise<void>;
}

class NothingChanged<T> {
  constructor(readonly result: T) {}
}

/**
 * Runs `change` in the catalog's write transaction (see the module comment). `change` reads the
 * current entries and makes its writes through the writer; it answers `{result, changed}`. When
 * nothing changed the transaction rolls back; otherwise the version grows by one and the answer
 * carries the committed catalog. An error thrown by `change` rolls everything back and is rethrown.
 */
export async function catalogWrite<T>(
  knex: Knex,
  change: (writer: CatalogWriter) => Promise<{ result: T; changed: boolean }>,
): Promise<CatalogWrite<T>> {
  try {
    return await knex.transaction(async (trx) => {
      await trx(STATE).where({ id: 1 }).increment("version", 1);
      const current = await readAll(trx);
      const writer: CatalogWriter = {
        entries: current.entries,
        async insert(entry) {
          await trx(SERVERS).insert(toRow(entry));
        },
        async replace(entry) {
          const { id, ...rest } = toRow(entry);
          await trx(SERVERS).where({ id }).update(rest);
        },
        async remove(id) {
          await trx(SERVERS).where({ id }).delete();
        },
        async audit(entry) {
          if (entry !== null) await insertAudit(trx, [entry]);
        },
        async applySync(plan) {
          if (plan.deletes.length > 0)
            await trx(SERVERS)
              .whereIn(
                "id",
                plan.deletes.map((e) => e.id),
              )
              .delete();
          for (const entry of plan.updates) await writer.replace(entry);
          for (const move of plan.moves) await trx(SERVERS).where({ id: move.id }).update({ position: move.position });
          // SQLite binds at most 999 variables per statement in older builds: 22 columns × 40 rows.
          for (let i = 0; i < plan.inserts.length; i += 40) {
            await trx(SERVERS).insert(plan.inserts.slice(i, i + 40).map(toRow));
          }
        },
      };
      const { result, changed } = await change(writer);
      if (!changed) throw new NothingChanged(result);
      return { result, after: await readAll(trx) };
    });
  } catch (err) {
    if (err instanceof NothingChanged) return { result: err.result as T, after: null };
    throw err;
  }
}

/** The next creation position of an API server: after every API server in the catalog. */
export function nextApiPosition(entries: readonly CatalogEntry[]): number {
  let max = -1;
  for (const e of entries) if (e.source === "api" && e.position > max) max = e.position;
  return max + 1;
}
