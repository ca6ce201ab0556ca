/**
 * The API keys' SQL (tables `api_keys` and `access_state`, migration 015; runtime-contract §25.1).
 * Every key change bumps `access_state.version` first in its transaction (which also serialises key
 * writers of every replica), so gateways can tell whether their copy is current.
 */
import type { Knex } from "knex";
import { type GatewayKey, isRole, type KeySnapshot, Role } from "../../lib/access";
import { formatStoredInstant, storedToMs, toStoredInstant } from "../../lib/time";

const KEYS = "api_keys";
const STATE = "access_state";

export interface KeyRow {
  id: string;
  name: string;
  role: string;
  hash: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  rate_limit_rps: number | null;
  rate_limit_runs: number | null;
}

/** A key as the API shows it (§25.1): never its hash or text. */
export interface ApiKeyView {
  id: string;
  name: string;
  role: Role;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  rate_limit_rps: number | null;
  rate_limit_runs: number | null;
}

function numberOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

function normalise(r: KeyRow): KeyRow {
  return { ...r, rate_limit_rps: numberOrNull(r.rate_limit_rps), rate_limit_runs: numberOrNull(r.rate_limit_runs) };
}

export function toView(r: KeyRow): ApiKeyView {
  return {
    id: r.id,
    name: r.name,
    role: (isRole(r.role) ? r.role : "viewer") as Role,
    prefix: r.prefix,
    created_at: formatStoredInstant(r.created_at),
    last_used_at: r.last_used_at === null ? null : formatStoredInstant(r.last_used_at),
    expires_at: r.expires_at === null ? null : formatStoredInstant(r.expires_at),
    rate_limit_rps: numberOrNull(r.rate_limit_rps),
    rate_limit_runs: numberOrNull(r.rate_limit_runs),
  };
}

function toGatewayKey(r: KeyRow): GatewayKey {
  return {
    id: r.id,
    name: r.name,
    // An unknown stored role gets the least (never more than it had).
    role: (isRole(r.role) ? r.role : "viewer") as Role,
    hash: r.hash,
    expires_at_ms: r.expires_at === null ? null : storedToMs(r.expires_at),
    rate_limit_rps: numberOrNull(r.rate_limit_rps),
    rate_limit_runs: numberOrNull(r.rate_limit_runs),
  };
}

/** Every key, oldest first. */
export async function listKeys(knex: Knex | Knex.Transaction): Promise<KeyRow[]> {
  const rows = (await knex(KEYS)
    .select("*")
    .orderBy([{ column: "created_at" }, { column: "id" }])) as KeyRow[];
  return rows.map(normalise);
}

export async function readVersion(knex: Knex | Knex.Transaction): Promise<number> {
  const [state] = (await knex(STATE).select("version").where({ id: 1 })) as { version: number | string }[];
  return Number(state?.version ?? 0);
}

/** The keys and their version, read together. */
export async function readSnapshot(trx: Knex.Transaction): Promise<KeySnapshot> {
  const version = await readVersion(trx);
  return { version, keys: (await listKeys(trx)).map(toGatewayKey) };
}

/** First statement of every key write: bumps the version (and takes the writers' lock). */
export async function bumpVersion(trx: Knex.Transaction): Promise<void> {
  await trx(STATE).where({ id: 1 }).increment("version", 1);
}

export async function findKey(trx: Knex | Knex.Transaction, where: Partial<Pick<KeyRow, "id" | "name">>): Promise<KeyRow | null> {
  const [row] = (await trx(KEYS).select("*").where(where)) as KeyRow[];
  return row === undefined ? null : normalise(row);
}

export async function insertKey(trx: Knex.Transaction, row: KeyRow): Promise<void> {
  await trx(KEYS).insert(row);
}

/** Replaces a key's hash and prefix (rotation); the updated row, or null when the id is unknown. */
export async function replaceKeyHash(trx: Knex.Transaction, id: string, hash: string, prefix: string): Promise<KeyRow | null> {
  const changed = await trx(KEYS).where({ id }).update({ hash, prefix });
  return changed === 0 ? null : findKey(trx, { id });
}

/** Changes a key's role (the bootstrap key is always admin). */
export async function setKeyRole(trx: Knex.Transaction, id: string, role: Role): Promise<void> {
  await trx(KEYS).where({ id }).update({ role });
}

export async function deleteKey(trx: Knex.Transaction, id: string): Promise<boolean> {
  return (await trx(KEYS).where({ id }).delete()) > 0;
}

/** How many keys have role admin. */
export async function countAdmins(trx: Knex | Knex.Transaction): Promise<number> {
  const [row] = (await trx(KEYS).count({ n: "*" }).where({ role: "admin" })) as { n: number | string }[];
  return Number(row?.n ?? 0);
}

/**
 * Records when keys were last used (a gateway's batch: key id → epoch ms); a newer stored instant is
 * kept. Not a key change: the version stays.
 */
export async function touchKeys(knex: Knex, used: Readonly<Record<string, number>>): Promise<void> {
  const ids = Object.keys(used);
  if (ids.length === 0) return;
  await knex.transaction(async (trx) => {
    for (const id of ids) {
      const at = toStoredInstant(used[id]);
      await trx(KEYS)
        .where({ id })
        .andWhere((q) => q.whereNull("last_used_at").orWhere("last_used_at", "<", at))
        .update({ last_used_at: at });
    }
  });
}
