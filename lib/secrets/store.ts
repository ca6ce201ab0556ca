/**
 * The stored secrets (table `secrets`, migration 014; runtime-contract §24) and the vault that seals
 * and opens them with the store key.
 *
 * Shared by two services: `secrets` (the HTTP endpoints: list, reveal, put, delete) and `runtime`,
 * which opens a server's secret itself at every start and for `POST /secrets/{id}/test` — so a
 * plaintext never travels over the transporter between them. Every function that writes takes the
 * transaction it writes in, so the caller can record the audit entry in the same one.
 */
import type { Knex } from "knex";
import type { SecretsConfig } from "../config";
import { formatStoredInstant, toStoredInstant } from "../time";
import { keyId, open, seal, SealedValue, SecretDecryptError } from "./cipher";
import { loadSecretsKey } from "./key";

export const SECRETS_TABLE = "secrets";

/** §24: a secret is 1..8,192 characters. */
export const MAX_SECRET_CHARS = 8192;

interface SecretRow extends SealedValue {
  provider_id: string;
  updated_at: string;
}

/** One entry of `GET /secrets` (§24). */
export interface SecretListing {
  provider_id: string;
  has_secret: true;
  updated_at: string;
}

/** Every stored secret's server id and instant (no value), by server id. */
export async function listSecrets(knex: Knex | Knex.Transaction): Promise<SecretListing[]> {
  const rows = (await knex(SECRETS_TABLE).select("provider_id", "updated_at").orderBy("provider_id")) as SecretRow[];
  return rows.map((r) => ({ provider_id: r.provider_id, has_secret: true, updated_at: formatStoredInstant(r.updated_at) }));
}

/** The sealed row of a server, or null. */
export async function readSealed(knex: Knex | Knex.Transaction, providerId: string): Promise<SecretRow | null> {
  const [row] = (await knex(SECRETS_TABLE).select("*").where({ provider_id: providerId })) as SecretRow[];
  return row ?? null;
}

/** Stores a sealed value for a server (insert or replace) with its instant. */
export async function writeSealed(trx: Knex.Transaction, providerId: string, sealed: SealedValue, updatedAtMs: number): Promise<void> {
  const row: SecretRow = { provider_id: providerId, ...sealed, updated_at: toStoredInstant(updatedAtMs) };
  await trx(SECRETS_TABLE).insert(row).onConflict("provider_id").merge(["nonce", "ciphertext", "key_id", "updated_at"]);
}

/** Removes a server's secret; true when there was one. */
export async function deleteSealed(trx: Knex.Transaction, providerId: string): Promise<boolean> {
  return (await trx(SECRETS_TABLE).where({ provider_id: providerId }).delete()) > 0;
}

/**
 * Seals and opens secrets with this process's store key (lib/secrets/key.ts), loaded on first use:
 * a process that never meets a secret never needs a key (nor creates a key file). With a key file,
 * a value sealed under another key makes the vault read the file again once (a rotation on this host
 * replaced it) before it reports the error.
 */
export class SecretVault {
  private key: Buffer | null = null;

  constructor(private readonly config: SecretsConfig) {}

  /** The key, creating the key file when `create` (a write) and none exists; null when there is none yet. */
  private currentKey(create: boolean): Buffer | null {
    if (this.key === null) this.key = loadSecretsKey(this.config, create);
    return this.key;
  }

  /** The fingerprint of the key in use (creating the key file if needed). */
  keyId(): string {
    return keyId(this.currentKey(true) as Buffer);
  }

  /** Seals a value for server `providerId` (creating the key file on this host's first secret). */
  seal(providerId: string, plaintext: string): SealedValue {
    return seal(this.currentKey(true) as Buffer, providerId, plaintext);
  }

  /** Opens a stored value; throws SecretDecryptError (other key, altered). */
  open(providerId: string, sealed: SealedValue): string {
    const key = this.currentKey(false);
    if (key === null) {
      throw new SecretDecryptError(
        providerId,
        "other_key",
        `no key is available on this host (CONSOLE_MCP_SECRETS_KEY is unset and ${this.config.keyFile} does not exist)`,
      );
    }
    try {
      return open(key, providerId, sealed);
    } catch (err) {
      if (!(err instanceof SecretDecryptError) || err.reason !== "other_key" || this.config.key !== null) throw err;
      // The key file may have been replaced by a rotation since it was read.
      this.key = loadSecretsKey(this.config, false);
      if (this.key === null || keyId(this.key) === keyId(key)) throw err;
      return open(this.key, providerId, sealed);
    }
  }

  /** A server's secret in plaintext, or null when it has none. Throws SecretDecryptError. */
  async reveal(knex: Knex | Knex.Transaction, providerId: string): Promise<{ value: string; updated_at: string } | null> {
    const row = await readSealed(knex, providerId);
    if (row === null) return null;
    return { value: this.open(providerId, row), updated_at: formatStoredInstant(row.updated_at) };
  }
}

/**
 * Re-encrypts every stored secret from `oldKey` to `newKey` in one transaction (the rotation of
 * `npm run secrets -- rotate-key`): all or nothing — a value that does not open under `oldKey` rolls
 * everything back with its SecretDecryptError. `updated_at` is kept. `inTransaction` runs inside the
 * same transaction after the values (the audit entry). Answers the server ids re-encrypted.
 */
export async function reencryptAll(
  knex: Knex,
  oldKey: Buffer,
  newKey: Buffer,
  inTransaction?: (trx: Knex.Transaction, ids: string[]) => Promise<void>,
): Promise<string[]> {
  return knex.transaction(async (trx) => {
    const rows = (await trx(SECRETS_TABLE).select("*").orderBy("provider_id")) as SecretRow[];
    for (const row of rows) {
      const plain = open(oldKey, row.provider_id, row);
      const sealed = seal(newKey, row.provider_id, plain);
      await trx(SECRETS_TABLE)
        .where({ provider_id: row.provider_id })
        .update({ ...sealed });
    }
    const ids = rows.map((r) => r.provider_id);
    if (inTransaction !== undefined) await inTransaction(trx, ids);
    return ids;
  });
}
