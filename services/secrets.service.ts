/**
 * secrets: the secrets handed to servers (runtime-contract §24) — one encrypted value per catalog
 * server id in the store (table `secrets`; lib/secrets/: AES-256-GCM, the server id as associated
 * data, the key from CONSOLE_MCP_SECRETS_KEY or this host's key file).
 *
 * Its own service rather than part of `providers`: the catalog is read by every replica from memory
 * and broadcast in events, while a secret is only ever read from the store when it is needed, by the
 * two places that hold the store key — this service (the HTTP endpoints) and the runtime (which opens
 * a server's secret itself at every start and for the test, lib/secrets/store.ts). So a plaintext
 * never crosses the transporter between services, and a deployment can run this service beside the
 * gateway (docker-compose does) so a revealed value never crosses it at all.
 *
 * The plaintext is never logged, emitted, put in an error or an audit entry: a 422 about a value
 * does not echo it, events carry only `{provider_id, action}`.
 */
import type { Context, ServiceBroker, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { Config } from "../lib/config";
import { ContractError, isContractError, notFound } from "../lib/errors";
import { SecretDecryptError } from "../lib/secrets/cipher";
import { deleteSealed, listSecrets, SecretVault, writeSealed } from "../lib/secrets/store";
import { auditOf, insertAudit } from "../lib/store/audit";
import { readSnapshot } from "../lib/store/knex";
import { StoreMixin, StoreVars } from "../lib/store/mixin";
import { formatInstant } from "../lib/time";
import { containsUnstorableText } from "../lib/validation";
import { secretValue } from "./secrets/value";

interface SecretsVars extends StoreVars {
  vault: SecretVault;
}

type This = SecretsVars & { broker: ServiceBroker; logger: ServiceBroker["logger"] };

/** Payload of the broker event `secrets.changed`: which server's secret, and what happened (never the value). */
export interface SecretsChangedEvent {
  provider_id: string;
  action: "put" | "deleted";
}

function secretNotFound(id: string): ContractError {
  return notFound(`Secret for provider '${id}' not found`);
}

/** The server id of the path (always a string from the gateway; anything else matches nothing). */
function idOf(params: { id?: unknown }): string {
  return typeof params.id === "string" ? params.id : "";
}

/** A stored value that does not open: a 500 naming the server and the cause (no value). */
function undecryptable(err: unknown): unknown {
  return err instanceof SecretDecryptError ? new ContractError(500, err.message) : err;
}

export default function secretsService(
  config: Pick<Config, "store" | "secrets">,
): ServiceSchema<ServiceSettingSchema, Record<string, never>, SecretsVars> {
  return {
    name: "secrets",
    mixins: [StoreMixin(config.store)],

    actions: {
      /** GET /secrets (§24): `{secrets: [{provider_id, has_secret: true, updated_at}…]}` by server id. */
      list: {
        async handler(this: This) {
          return { secrets: await readSnapshot(this.readKnex, (trx) => listSecrets(trx)) };
        },
      },

      /**
       * GET /secrets/{id} (§24; role admin, loopback-only in open mode): `{provider_id, value,
       * updated_at}`; 404 `Secret for provider '<id>' not found`; 500 when the stored value cannot be
       * decrypted (another key, or an altered row).
       */
      get: {
        async handler(this: This, ctx: Context<{ id?: unknown }>) {
          const id = idOf(ctx.params);
          // An id no store can hold (NUL, a lone surrogate) names no secret: 404, never a store error.
          if (containsUnstorableText(id)) throw secretNotFound(id);
          let found: { value: string; updated_at: string } | null;
          try {
            found = await this.vault.reveal(this.readKnex, id);
          } catch (err) {
            throw undecryptable(err);
          }
          if (found === null) throw secretNotFound(id);
          return { provider_id: id, value: found.value, updated_at: found.updated_at };
        },
      },

      /**
       * PUT /secrets/{id} (§24): params = the body's keys with `id` = the path's; `{value}` 1..8,192
       * characters → `{provider_id, value, updated_at}`. 422 before 404 `Server '<id>' not found`
       * (the server must be in the catalog). A running process keeps its environment until restarted.
       */
      put: {
        async handler(this: This, ctx: Context<Record<string, unknown>>) {
          const id = idOf(ctx.params);
          const value = secretValue(ctx.params);
          try {
            await ctx.call("providers.server", { id });
          } catch (err) {
            if (isContractError(err) && err.code === 404) throw notFound(`Server '${id}' not found`);
            throw err;
          }
          const sealed = this.vault.seal(id, value);
          const now = Date.now();
          // §25.2: recorded with the value, never showing it (its length only).
          const audit = auditOf(ctx.meta as Record<string, unknown>, { details: { chars: value.length } });
          await this.knex.transaction(async (trx) => {
            await writeSealed(trx, id, sealed, now);
            if (audit.entry !== null) await insertAudit(trx, [audit.entry]);
          });
          audit.committed();
          const event: SecretsChangedEvent = { provider_id: id, action: "put" };
          this.broker.broadcast("secrets.changed", event);
          return { provider_id: id, value, updated_at: formatInstant(now) };
        },
      },

      /** DELETE /secrets/{id} (§24): 204; 404 `Secret for provider '<id>' not found`. The server need not exist. */
      remove: {
        async handler(this: This, ctx: Context<{ id?: unknown }>) {
          const id = idOf(ctx.params);
          if (containsUnstorableText(id)) throw secretNotFound(id);
          const audit = auditOf(ctx.meta as Record<string, unknown>);
          const removed = await this.knex.transaction(async (trx) => {
            if (!(await deleteSealed(trx, id))) return false;
            if (audit.entry !== null) await insertAudit(trx, [audit.entry]);
            return true;
          });
          if (!removed) throw secretNotFound(id);
          audit.committed();
          const event: SecretsChangedEvent = { provider_id: id, action: "deleted" };
          this.broker.broadcast("secrets.changed", event);
          return null;
        },
      },
    },

    created(this: This) {
      this.vault = new SecretVault(config.secrets);
    },
  };
}
