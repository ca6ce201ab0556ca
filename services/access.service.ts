/**
 * access: API keys and roles, the audit log's reads, and the shared rate-limit buckets
 * (runtime-contract §25). Owns the tables `api_keys`, `access_state`, `rate_buckets` and reads
 * `audit_log` (which every writing service appends to in its own transactions, lib/store/audit.ts).
 *
 * The gateway checks every request itself from its copy of the keys (hashes, roles, expiry, limits:
 * services/api/keyring.ts), so a request costs no broker call for its key. This service pushes every
 * key change to every gateway (`api.accessChanged`) before it answers, and gateways also poll
 * `access.keySnapshot` with their version to catch up. Gateways batch `last_used_at` (`access.touch`),
 * take rate-limit tokens here when limits are on (`access.take`), and record the audit entries of
 * requests no action recorded (denials, failures, reads-only writes: `access.record`).
 *
 * `CONSOLE_MCP_ADMIN_KEY` ensures, at start, an admin key named `bootstrap` holding that value.
 */
import { randomUUID } from "node:crypto";
import type { Context, ServiceBroker, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { generateApiKey, hashApiKey, keyPrefix, ROLE_DESCRIPTIONS, ROLES, type KeySnapshot } from "../lib/access";
import type { Config } from "../lib/config";
import { conflict, ContractError, notFound } from "../lib/errors";
import { RequestRef, requestFields } from "../lib/logging/request-context";
import { auditEntryOf, AuditEntry, insertAudit } from "../lib/store/audit";
import { readSnapshot as readStoreSnapshot } from "../lib/store/knex";
import { StoreMixin, StoreVars } from "../lib/store/mixin";
import { toStoredInstant } from "../lib/time";
import { containsUnstorableText, isPlainObject } from "../lib/validation";
import { parseAuditQuery, readAuditPage } from "./access/audit-read";
import { parseNewKey } from "./access/new-key";
import {
  bumpVersion,
  countAdmins,
  deleteKey,
  findKey,
  insertKey,
  KeyRow,
  listKeys,
  readSnapshot,
  readVersion,
  replaceKeyHash,
  setKeyRole,
  toView,
  touchKeys,
} from "./access/keys-store";
import { takeTokens } from "./access/rate-buckets";

/** The name of the key CONSOLE_MCP_ADMIN_KEY ensures. */
export const BOOTSTRAP_KEY_NAME = "bootstrap";
/** How long a key change waits for each gateway to install it before answering anyway. */
export const GATEWAY_PUSH_TIMEOUT_MS = 2000;
interface AccessMethods {
  publishKeys(request?: RequestRef): Promise<void>;
}

type This = StoreVars & AccessMethods & { broker: ServiceBroker; logger: ServiceBroker["logger"] };
type Ctx<P = Record<string, unknown>> = Context<P, Record<string, unknown>>;

function keyNotFound(id: unknown): Error {
  return notFound(`API key '${String(id)}' not found`);
}

/**
 * Writes the request's audit entry in the transaction of its change; the gateway is told (meta
 * `$audited`) once that transaction has committed (`afterCommit`).
 */
async function auditHere(trx: Parameters<typeof insertAudit>[0], ctx: Ctx, overrides: Partial<AuditEntry>): Promise<void> {
  const entry = auditEntryOf(ctx.meta.audit, overrides);
  if (entry === null) return;
  await insertAudit(trx, [entry]);
  ctx.meta.$auditPending = true;
}

function afterCommit(ctx: Ctx): void {
  if (ctx.meta.$auditPending === true) ctx.meta.$audited = true;
  delete ctx.meta.$auditPending;
}

export default function accessService(config: Pick<Config, "store" | "access">): ServiceSchema<ServiceSettingSchema, AccessMethods, StoreVars> {
  const schema: ServiceSchema<ServiceSettingSchema, AccessMethods, StoreVars> = {
    name: "access",
    mixins: [StoreMixin(config.store)],

    actions: {
      /** For gateways: every key with its hash and the version, or `{version}` alone when `since` is current. */
      keySnapshot: {
        visibility: "public",
        params: { since: { type: "number", optional: true } },
        async handler(this: This, ctx: Ctx<{ since?: number }>): Promise<KeySnapshot | { version: number }> {
          if (ctx.params.since !== undefined) {
            const version = await readVersion(this.readKnex);
            if (version <= ctx.params.since) return { version };
          }
          return readStoreSnapshot(this.readKnex, (trx) => readSnapshot(trx));
        },
      },

      /** GET /security/api-keys (§25.1): `{keys: [{id, name, role, prefix, created_at, last_used_at, expires_at, …}]}`, oldest first. */
      listKeys: {
        async handler(this: This) {
          return { keys: (await readStoreSnapshot(this.readKnex, (trx) => listKeys(trx))).map(toView) };
        },
      },

      /**
       * POST /security/api-keys (§25.1): body `{name, role, expires_at?, rate_limit_rps?,
       * rate_limit_runs?}` → 201 `{key, secret}`; the secret (the key's text) is shown only here.
       * 422 per field; 409 `API key '<name>' already exists`. The first key ends open mode.
       */
      createKey: {
        async handler(this: This, ctx: Ctx) {
          const now = Date.now();
          const fields = parseNewKey(ctx.params, now);
          const secret = generateApiKey();
          const row: KeyRow = {
            id: randomUUID(),
            name: fields.name,
            role: fields.role,
            hash: hashApiKey(secret),
            prefix: keyPrefix(secret),
            created_at: toStoredInstant(now),
            last_used_at: null,
            expires_at: fields.expiresAtMs === null ? null : toStoredInstant(fields.expiresAtMs),
            rate_limit_rps: fields.rateLimitRps,
            rate_limit_runs: fields.rateLimitRuns,
          };
          // A request without a key may create only the first key (open mode, §25.1). The gateway
          // checked that no key existed when it let the request in; concurrent first keys are
          // settled here, under the state row's lock: the first creates it, the others are 401.
          const anonymous = (ctx.meta as { audit?: { role?: unknown } }).audit?.role === null;
          await this.knex.transaction(async (trx) => {
            await bumpVersion(trx);
            if (anonymous && (await listKeys(trx)).length > 0) throw new ContractError(401, "Missing or invalid API key");
            if ((await findKey(trx, { name: fields.name })) !== null) throw conflict(`API key '${fields.name}' already exists`);
            await insertKey(trx, row);
            await auditHere(trx, ctx, { target: `key:${row.id}`, details: { name: row.name, role: row.role } });
          });
          afterCommit(ctx);
          await this.publishKeys(ctx);
          return { key: toView(row), secret };
        },
      },

      /** POST /security/api-keys/{id}/rotate (§25.1): a new secret for the key (the old one stops working) → `{key, secret}`; 404. */
      rotateKey: {
        async handler(this: This, ctx: Ctx<{ id?: unknown }>) {
          const id = String(ctx.params.id ?? "");
          // An id no store can hold (NUL, a lone surrogate) names no key: 404, never a store error.
          if (containsUnstorableText(id)) throw keyNotFound(id);
          const secret = generateApiKey();
          const row = await this.knex.transaction(async (trx) => {
            await bumpVersion(trx);
            const updated = await replaceKeyHash(trx, id, hashApiKey(secret), keyPrefix(secret));
            if (updated === null) throw keyNotFound(id);
            await auditHere(trx, ctx, { details: { name: updated.name, role: updated.role } });
            return updated;
          });
          afterCommit(ctx);
          await this.publishKeys(ctx);
          return { key: toView(row), secret };
        },
      },

      /**
       * DELETE /security/api-keys/{id} (§25.1): 204; 404. 409 for the last admin key while other
       * keys exist (nobody could manage keys any more); deleting the very last key returns to open mode.
       */
      deleteKey: {
        async handler(this: This, ctx: Ctx<{ id?: unknown }>) {
          const id = String(ctx.params.id ?? "");
          if (containsUnstorableText(id)) throw keyNotFound(id);
          await this.knex.transaction(async (trx) => {
            await bumpVersion(trx);
            const row = await findKey(trx, { id });
            if (row === null) throw keyNotFound(id);
            if (row.role === "admin" && (await countAdmins(trx)) === 1 && (await listKeys(trx)).length > 1) {
              throw conflict("The last admin key cannot be deleted while other keys exist: create another admin key first");
            }
            await deleteKey(trx, id);
            await auditHere(trx, ctx, { details: { name: row.name, role: row.role } });
          });
          afterCommit(ctx);
          await this.publishKeys(ctx);
          return null;
        },
      },

      /** GET /security/roles (§25.1): the three roles, what each may do, and what each includes. */
      roles: {
        handler() {
          return {
            roles: ROLES.map((name, i) => ({ name, includes: ROLES.slice(0, i), description: ROLE_DESCRIPTIONS[name] })),
          };
        },
      },

      /** GET /audit/logs (§25.2): `{items, next_cursor}` newest first; filters actor, action, target, start, end; limit, cursor. */
      auditLogs: {
        async handler(this: This, ctx: Ctx) {
          const query = parseAuditQuery(ctx.params);
          return readStoreSnapshot(this.readKnex, (trx) => readAuditPage(trx, query));
        },
      },

      /** For gateways: audit entries no action recorded (denials, failures, writes that change nothing). */
      record: {
        visibility: "public",
        async handler(this: This, ctx: Ctx<{ entries?: AuditEntry[] }>) {
          const entries = Array.isArray(ctx.params.entries) ? (ctx.params.entries.filter(isPlainObject) as AuditEntry[]) : [];
          await insertAudit(this.knex, entries);
          return { recorded: entries.length };
        },
      },

      /** For gateways: `last_used_at` of keys, batched (`{used: {<key id>: <epoch ms>}}`). */
      touch: {
        visibility: "public",
        async handler(this: This, ctx: Ctx<{ used?: Record<string, number> }>) {
          const used = isPlainObject(ctx.params.used) ? (ctx.params.used as Record<string, number>) : {};
          await touchKeys(this.knex, used);
          return { touched: Object.keys(used).length };
        },
      },

      /** For gateways (§25.3): takes `n` tokens from `bucket` refilling at `rate`/s → `{granted, retry_after_s}`. */
      take: {
        visibility: "public",
        params: { bucket: "string", n: { type: "number", positive: true }, rate: { type: "number", positive: true } },
        async handler(this: This, ctx: Ctx<{ bucket: string; n: number; rate: number }>) {
          const result = await takeTokens(this.knex, ctx.params.bucket, ctx.params.n, ctx.params.rate);
          return { granted: result.granted, retry_after_s: result.retryAfterS };
        },
      },
    },

    methods: {
      /**
       * Pushes the current keys to every gateway (node-targeted `api.accessChanged`) and waits for
       * them (at most GATEWAY_PUSH_TIMEOUT_MS each), so a key change answered here is in force on
       * every gateway. Never throws: a gateway that missed it catches up by polling. `request`: the
       * key change it is made for (its lines name it, §27).
       */
      async publishKeys(this: This, request?: RequestRef): Promise<void> {
        const snapshot = await readStoreSnapshot(this.knex, (trx) => readSnapshot(trx));
        const services = this.broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true }) as { name: string; nodeID: string }[];
        const gateways = [...new Set(services.filter((s) => s.name === "api").map((s) => s.nodeID))];
        await Promise.all(
          gateways.map((nodeID) =>
            this.broker.call("api.accessChanged", snapshot, { nodeID, timeout: GATEWAY_PUSH_TIMEOUT_MS, retries: 0 }).catch((err: Error) => {
              this.logger.warn(
                requestFields(request),
                `gateway ${nodeID} did not install key version ${snapshot.version} (it catches up within seconds): ${err.message}`,
              );
            }),
          ),
        );
      },
    },

    async started(this: This) {
      const adminKey = config.access.adminKey;
      if (adminKey === null) return;
      const hash = hashApiKey(adminKey);
      // Ensured in one transaction (replicas starting together: the version bump orders them); a
      // transaction that finds the key as it should be rolls back, so the version only grows with changes.
      const unchanged = new Error("bootstrap key unchanged");
      let changed: "created" | "updated";
      try {
        changed = await this.knex.transaction(async (trx) => {
          await bumpVersion(trx);
          const existing = await findKey(trx, { name: BOOTSTRAP_KEY_NAME });
          if (existing !== null && existing.hash === hash && existing.role === "admin") throw unchanged;
          if (existing !== null) {
            await replaceKeyHash(trx, existing.id, hash, keyPrefix(adminKey));
            await setKeyRole(trx, existing.id, "admin");
            return "updated" as const;
          }
          // The value is already another key's: that key is the bootstrap admin's way in.
          if ((await listKeys(trx)).some((k) => k.hash === hash)) throw unchanged;
          await insertKey(trx, {
            id: randomUUID(),
            name: BOOTSTRAP_KEY_NAME,
            role: "admin",
            hash,
            prefix: keyPrefix(adminKey),
            created_at: toStoredInstant(Date.now()),
            last_used_at: null,
            expires_at: null,
            rate_limit_rps: null,
            rate_limit_runs: null,
          });
          return "created" as const;
        });
      } catch (err) {
        if (err === unchanged) return;
        throw err;
      }
      this.logger.info(`API key '${BOOTSTRAP_KEY_NAME}' (admin) ${changed} from CONSOLE_MCP_ADMIN_KEY`);
      await this.publishKeys();
    },
  };
  return schema;
}
