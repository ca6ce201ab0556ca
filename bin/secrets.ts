/**
 * `npm run secrets -- <command>`: maintenance of the stored secrets (runtime-contract §24).
 *
 *   rotate-key   re-encrypt every stored secret under a new store key, in one transaction.
 *                The new key is CONSOLE_MCP_SECRETS_NEW_KEY when set, else 32 new random bytes.
 *                - With a key file (CONSOLE_MCP_SECRETS_KEY unset): the new key is first written
 *                  beside the file (`<file>.next`, mode 0600), the values are re-encrypted, then the
 *                  file is replaced. Running processes of this host read the new file when they meet a
 *                  value under it.
 *                - With CONSOLE_MCP_SECRETS_KEY: the values are re-encrypted, and the new key is
 *                  printed once (unless it came from CONSOLE_MCP_SECRETS_NEW_KEY); give it to every
 *                  replica as CONSOLE_MCP_SECRETS_KEY and restart them (until then they cannot open
 *                  the secrets, and say so).
 *   status       the key's source and fingerprint, and how many stored secrets it opens.
 *
 * Uses the same configuration as the server (the store: CONSOLE_MCP_DB_URL or CONSOLE_MCP_DB_PATH).
 * Exit code 0 on success, 1 on failure (nothing changed), 2 on a usage error. Never prints a value.
 */
import fs from "node:fs";
import { configFromProcess, ConfigError } from "../lib/config";
import { generateKey, keyId, open, SecretDecryptError } from "../lib/secrets/cipher";
import { createKeyFile, loadSecretsKey, readKeyFile } from "../lib/secrets/key";
import { reencryptAll, SECRETS_TABLE } from "../lib/secrets/store";
import { insertAudit } from "../lib/store/audit";
import { createKnex } from "../lib/store/knex";
import { migrateToLatest } from "../lib/store/migrate";

const USAGE = "usage: npm run secrets -- rotate-key | status";

/** Set once the re-encryption has committed (a later failure must not say "nothing was changed"). */
let committed = false;

async function main(argv: string[]): Promise<number> {
  const command = argv[0];
  if (command !== "rotate-key" && command !== "status") {
    console.error(USAGE);
    return 2;
  }
  const config = configFromProcess("production");
  const knex = createKnex(config.store);
  try {
    await migrateToLatest(knex);
    const rows = (await knex(SECRETS_TABLE).select("*").orderBy("provider_id")) as {
      provider_id: string;
      nonce: string;
      ciphertext: string;
      key_id: string;
    }[];
    const source = config.secrets.key !== null ? "CONSOLE_MCP_SECRETS_KEY" : `key file ${config.secrets.keyFile}`;
    const oldKey = loadSecretsKey(config.secrets, false);

    if (command === "status") {
      console.log(`key: ${oldKey === null ? `none yet (${source} does not exist)` : `${source}, id ${keyId(oldKey)}`}`);
      let opened = 0;
      for (const row of rows) {
        try {
          if (oldKey === null) throw new SecretDecryptError(row.provider_id, "other_key", "no key");
          open(oldKey, row.provider_id, row);
          opened += 1;
        } catch (err) {
          console.log(`  ${(err as Error).message}`);
        }
      }
      console.log(`secrets: ${rows.length} stored, ${opened} open with this key`);
      return opened === rows.length ? 0 : 1;
    }

    if (oldKey === null) {
      if (rows.length > 0) throw new Error(`${rows.length} secrets are stored but there is no key to open them (${source} does not exist)`);
      console.log(`No secret is stored and no key exists yet (${source}): nothing to rotate.`);
      return 0;
    }
    const newKey = config.secrets.newKey ?? generateKey();
    if (newKey.equals(oldKey)) throw new Error("CONSOLE_MCP_SECRETS_NEW_KEY is the current key");
    // §25.2: the rotation's audit entry, in its transaction (key ids only).
    const audited = async (trx: Parameters<typeof insertAudit>[0], ids: string[]) => {
      await insertAudit(trx, [
        {
          actor: "cli",
          role: null,
          action: "secret.rotate_key",
          target: null,
          outcome: "ok",
          status: 200,
          request_id: null,
          details: { secrets: ids.length, from_key: keyId(oldKey), to_key: keyId(newKey) },
        },
      ]);
    };

    if (config.secrets.key === null) {
      const keyFile = config.secrets.keyFile;
      const next = `${keyFile}.next`;
      fs.rmSync(next, { force: true });
      if (!createKeyFile(next, newKey)) throw new Error(`Could not create ${next}`);
      let ids: string[];
      try {
        ids = await reencryptAll(knex, oldKey, newKey, audited);
      } catch (err) {
        fs.rmSync(next, { force: true });
        throw err;
      }
      committed = true;
      try {
        fs.renameSync(next, keyFile);
      } catch (err) {
        throw new Error(`the secrets are re-encrypted under the new key, which is in ${next}; move it to ${keyFile} (${(err as Error).message})`);
      }
      // Read back what the server processes will read.
      if (!readKeyFile(keyFile).equals(newKey)) throw new Error(`${keyFile} does not hold the new key; it is in ${next}`);
      console.log(`Re-encrypted ${ids.length} secrets from key ${keyId(oldKey)} to key ${keyId(newKey)}; ${keyFile} holds the new key.`);
      return 0;
    }

    const ids = await reencryptAll(knex, oldKey, newKey, audited);
    committed = true;
    console.log(`Re-encrypted ${ids.length} secrets from key ${keyId(oldKey)} to key ${keyId(newKey)}.`);
    if (config.secrets.newKey === null) {
      console.log("The new key (shown once; set it as CONSOLE_MCP_SECRETS_KEY on every replica and restart them):");
      console.log(newKey.toString("base64"));
    } else {
      console.log("Set CONSOLE_MCP_SECRETS_KEY to the value of CONSOLE_MCP_SECRETS_NEW_KEY on every replica and restart them.");
    }
    return 0;
  } finally {
    await knex.destroy();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const message = err instanceof ConfigError || err instanceof Error ? err.message : String(err);
    console.error(`secrets: ${message}${committed ? "" : "; nothing was changed"}`);
    process.exit(1);
  },
);
