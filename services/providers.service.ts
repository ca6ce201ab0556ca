/**
 * providers: owns the server catalog (runtime-contract §17) — the one list of MCP servers, kept in
 * the shared store — and the lanes and baselines of its servers (Part I §5.1).
 *
 * The manifest file is loaded and validated at start (a bad manifest stops the service) and written
 * into the catalog; the file is watched, and every valid change is written again (an invalid one is
 * logged and ignored). Servers created over HTTP live beside the manifest's. Every replica answers
 * reads from its copy of the catalog in memory, taken in one read snapshot; a replica that changes
 * the catalog installs the committed catalog, has every other providers replica reload it
 * (`providers.refresh`) before it answers, then emits `servers.changed` (one per server) and
 * `providers.changed`. Each replica also compares the stored catalog version once a second, so a
 * replica that missed a reload catches up (and then emits `providers.changed` for its readers).
 */
import fs from "node:fs";
import type { Context, ServiceBroker, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { Config, PROJECT_ROOT } from "../lib/config";
import { conflict, notFound, validationFailed } from "../lib/errors";
import { RequestRef, requestFields } from "../lib/logging/request-context";
import { auditOf } from "../lib/store/audit";
import { StoreMixin, StoreVars } from "../lib/store/mixin";
import { toStoredInstant } from "../lib/time";
import {
  CatalogSnapshot,
  catalogWrite,
  CatalogWrite,
  CatalogWriter,
  nextApiPosition,
  readCatalog,
  readCatalogVersion,
} from "./providers/catalog-store";
import { loadManifest, Manifest, manifestServerFields, toProfile, toSummary } from "./providers/manifest";
import {
  CatalogChange,
  CatalogEntry,
  planIsEmpty,
  planManifestSync,
  sameFields,
  Server,
  serverFieldsToCreate,
  serverFieldsToUpdate,
  toServer,
} from "./providers/server-record";

/** How often the manifest file's modification time and size are polled (fs.watchFile). */
export const MANIFEST_POLL_INTERVAL_MS = 1000;
/** How often a replica compares the stored catalog version with its own (and retries a failed manifest sync). */
export const CATALOG_POLL_INTERVAL_MS = 1000;
/** How long a replica that changed the catalog waits for each other providers replica to reload it. */
export const PEER_REFRESH_TIMEOUT_MS = 2000;

/** Payload of the broker event `servers.changed` (§17.4, §23: the SSE `servers` event). */
export interface ServersChangedEvent {
  action: CatalogChange["action"];
  /** The Server record after the change (deleted: as it was). */
  server: Server;
}

/** Payload of the broker event `providers.changed`: every catalog id, in catalog order. */
export interface ProvidersChangedEvent {
  ids: string[];
}

interface ProvidersVars extends StoreVars {
  manifest: Manifest;
  /** A valid manifest that still has to be written into the catalog (the last attempt failed). */
  manifestPending: boolean;
  catalog: CatalogSnapshot;
  byId: Map<string, CatalogEntry>;
  /** The catalog work of this replica (writes, manifest syncs, polls), one at a time. */
  queue: Promise<unknown>;
  pollTimer: NodeJS.Timeout | undefined;
  /** A poll is queued or running (a slow store never piles polls up). */
  polling: boolean;
  broker: ServiceBroker;
}

interface ProvidersMethods {
  install(snapshot: CatalogSnapshot): boolean;
  commit<T>(
    change: (catalog: CatalogWriter) => Promise<{ result: T; changed: boolean }>,
    changesOf: (result: T) => CatalogChange[],
    request?: RequestRef,
  ): Promise<CatalogWrite<T>>;
  publish(after: CatalogSnapshot, changes: CatalogChange[], request?: RequestRef): Promise<void>;
  refreshPeers(version: number, request?: RequestRef): Promise<void>;
  syncManifest(): Promise<void>;
  reloadManifest(): void;
  pollCatalog(): Promise<void>;
  serialized<T>(work: () => Promise<T>): Promise<T>;
  enqueue(work: () => Promise<void>): Promise<void>;
  findServer(id: unknown): CatalogEntry;
  stopProcess(ctx: Context | null, id: string): Promise<void>;
}

type This = ProvidersVars & ProvidersMethods & { logger: ServiceBroker["logger"] };

const EMPTY_CATALOG: CatalogSnapshot = { version: -1, entries: [] };

function serverNotFound(id: unknown): Error {
  return notFound(`Server '${String(id)}' not found`);
}

/** True when a live node of the cluster (this one included) runs the runtime service. */
function runtimeRuns(broker: ServiceBroker): boolean {
  const services = broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true }) as { name: string }[];
  return services.some((s) => s.name === "runtime");
}

/** The broker found no runtime to call `runtime.stopForDelete` on (not an error of the runtime itself). */
function isRuntimeAbsent(err: unknown): boolean {
  const e = err as { type?: unknown; data?: { action?: unknown } } | null;
  return (
    e !== null &&
    typeof e === "object" &&
    (e.type === "SERVICE_NOT_FOUND" || e.type === "SERVICE_NOT_AVAILABLE") &&
    e.data?.action === "runtime.stopForDelete"
  );
}

function manifestOwned(id: string): Error {
  return conflict(`Server '${id}' is defined in the manifest file; change the file instead`);
}

export default function providersService(
  config: Pick<Config, "serversPath" | "store">,
): ServiceSchema<ServiceSettingSchema, ProvidersMethods, ProvidersVars> {
  // Loaded here, before the service (and its store) is created: a bad manifest stops startup.
  const initialManifest = loadManifest(config.serversPath);
  let onFileChange: ((curr: fs.Stats, prev: fs.Stats) => void) | undefined;

  return {
    name: "providers",
    mixins: [StoreMixin(config.store)],

    actions: {
      /** Every catalog server as a profile (summary, lane, baselines), in catalog order (for other services). */
      list: {
        handler(this: This) {
          return this.catalog.entries.map(toProfile);
        },
      },

      /** One server's profile; 404 `Provider '<id>' not found` when it is not in the catalog (§9.1). */
      get: {
        params: { id: "string" },
        handler(this: This, ctx: Context<{ id: string }>) {
          const found = this.byId.get(ctx.params.id);
          if (found === undefined) throw notFound(`Provider '${ctx.params.id}' not found`);
          return toProfile(found);
        },
      },

      /** GET /providers (§8.3): `{providers: [ProviderSummary…]}` in catalog order. */
      catalog: {
        handler(this: This) {
          return { providers: this.catalog.entries.map(toSummary) };
        },
      },

      /** GET /servers (§17.4): `{servers: [Server…]}`, manifest order then API servers by creation. */
      servers: {
        handler(this: This): { servers: Server[] } {
          return { servers: this.catalog.entries.map((e) => toServer(e, PROJECT_ROOT)) };
        },
      },

      /**
       * GET /servers/{id} (§17.4): params `{id}` (the path's). The Server record (§17.3, what the next
       * start runs); 404 `Server '<id>' not found`. The runtime reads its servers here.
       */
      server: {
        handler(this: This, ctx: Context<{ id?: unknown }>): Server {
          return toServer(this.findServer(ctx.params.id), PROJECT_ROOT);
        },
      },

      /**
       * POST /servers (§17.4): params = the JSON body. `id`, `name`, `command` required; the other
       * Server fields optional (absent or null = default). 422 per field, 409 `Server '<id>' already
       * exists` (a manifest server included); answers the new Server (the gateway's 201).
       */
      createServer: {
        async handler(this: This, ctx: Context<Record<string, unknown>>): Promise<Server> {
          const parsed = serverFieldsToCreate(ctx.params);
          if ("items" in parsed) throw validationFailed(parsed.items);
          // §25.2: the entry in the catalog transaction (the id comes from the body).
          const audit = auditOf(ctx.meta as Record<string, unknown>, {
            target: `server:${parsed.fields.id}`,
            details: { command: parsed.fields.command },
          });
          const write = await this.serialized(() =>
            this.commit(
              async (catalog) => {
                const { id } = parsed.fields;
                if (catalog.entries.some((e) => e.id === id)) throw conflict(`Server '${id}' already exists`);
                const now = toStoredInstant(Date.now());
                const entry: CatalogEntry = {
                  ...parsed.fields,
                  source: "api",
                  position: nextApiPosition(catalog.entries),
                  created_at: now,
                  updated_at: now,
                };
                await catalog.insert(entry);
                await catalog.audit(audit.entry);
                return { result: entry, changed: true };
              },
              (entry) => [{ action: "created", entry }],
              ctx,
            ),
          );
          audit.committed();
          return toServer(write.result, PROJECT_ROOT);
        },
      },

      /**
       * PUT /servers/{id} (§17.4): params = the JSON body's keys with `id` = the path's. The fields
       * given replace the stored ones, omitted fields keep theirs, null resets an optional field to its
       * default (null name/command: 422). 422 before 404 `Server '<id>' not found` and 409 for a
       * manifest server. Answers the Server; a body that changes nothing changes nothing (same
       * updated_at, no event).
       */
      updateServer: {
        async handler(this: This, ctx: Context<Record<string, unknown>>): Promise<Server> {
          const id = ctx.params.id;
          const parsed = serverFieldsToUpdate(ctx.params);
          if ("items" in parsed) throw validationFailed(parsed.items);
          const audit = auditOf(ctx.meta as Record<string, unknown>);
          const write = await this.serialized(() =>
            this.commit(
              async (catalog) => {
                const current = catalog.entries.find((e) => e.id === id);
                if (current === undefined) throw serverNotFound(id);
                if (current.source === "manifest") throw manifestOwned(current.id);
                const fields = parsed.apply(current);
                if (sameFields(current, fields)) return { result: current, changed: false };
                const entry: CatalogEntry = { ...current, ...fields, id: current.id, updated_at: toStoredInstant(Date.now()) };
                await catalog.replace(entry);
                // §25.2: the names of the fields the body gave (never `env` values: they may hold keys).
                await catalog.audit(
                  audit.entry === null
                    ? null
                    : {
                        ...audit.entry,
                        details: {
                          fields: Object.keys(ctx.params)
                            .filter((k) => k !== "id" && /^[a-z_]{1,32}$/.test(k))
                            .sort()
                            .slice(0, 40),
                        },
                      },
                );
                return { result: entry, changed: true };
              },
              (entry) => [{ action: "updated", entry }],
              ctx,
            ),
          );
          // A PUT that changed nothing wrote no entry: the gateway records it.
          if (write.after !== null) audit.committed();
          return toServer(write.result, PROJECT_ROOT);
        },
      },

      /**
       * DELETE /servers/{id} (§17.4): params `{id}`. Removes an API server (the gateway's 204);
       * 404 `Server '<id>' not found`, 409 for a manifest server. A running process is stopped
       * first: the runtime (`runtime.stopForDelete`, wherever it runs) ends its process group before
       * the catalog forgets the server, so the answer comes once the process is gone. A deployment
       * without the runtime service has no process to stop. Its secret is not touched (§24).
       */
      deleteServer: {
        async handler(this: This, ctx: Context<{ id?: unknown }>): Promise<null> {
          const id = ctx.params.id;
          // Known here as an API server: stop its process first. The transaction below decides
          // 404/409 on the stored catalog (a server this replica does not know yet is stopped by
          // the runtime on the `servers.changed` event instead).
          const known = typeof id === "string" ? this.byId.get(id) : undefined;
          if (known !== undefined && known.source === "api") await this.stopProcess(ctx, known.id);
          const audit = auditOf(ctx.meta as Record<string, unknown>);
          await this.serialized(() =>
            this.commit(
              async (catalog) => {
                const current = catalog.entries.find((e) => e.id === id);
                if (current === undefined) throw serverNotFound(id);
                if (current.source === "manifest") throw manifestOwned(current.id);
                await catalog.remove(current.id);
                await catalog.audit(audit.entry);
                return { result: current, changed: true };
              },
              (entry) => [{ action: "deleted", entry }],
              ctx,
            ),
          );
          audit.committed();
          return null;
        },
      },

      /**
       * Reloads this replica's catalog from the store when it holds an older version than `version`
       * (the replica that changed the catalog calls it on every other one before answering).
       * Answers the version now held.
       */
      refresh: {
        visibility: "public",
        params: { version: { type: "number", integer: true, optional: true } },
        async handler(this: This, ctx: Context<{ version?: number }>) {
          if (ctx.params.version === undefined || ctx.params.version > this.catalog.version) {
            this.install(await readCatalog(this.readKnex));
          }
          return { version: this.catalog.version };
        },
      },
    },

    methods: {
      /** Installs a catalog snapshot unless this replica already holds that version or a newer one. */
      install(this: This, snapshot: CatalogSnapshot): boolean {
        if (snapshot.version <= this.catalog.version) return false;
        this.catalog = snapshot;
        this.byId = new Map(snapshot.entries.map((e) => [e.id, e]));
        return true;
      },

      /**
       * One catalog change of this replica: the catalog transaction (catalog-store.ts catalogWrite),
       * then, when it changed something, the publication of `changesOf(result)`. Answers what the
       * transaction answered; its errors are thrown. Callers run it serialized (see `serialized`).
       * `request`: the request it is made for (its lines name it, §27), none for the manifest's.
       */
      async commit<T>(
        this: This,
        change: (catalog: CatalogWriter) => Promise<{ result: T; changed: boolean }>,
        changesOf: (result: T) => CatalogChange[],
        request?: RequestRef,
      ): Promise<CatalogWrite<T>> {
        const write = await catalogWrite(this.knex, change);
        if (write.after !== null) await this.publish(write.after, changesOf(write.result), request);
        return write;
      },

      /**
       * After a committed change: installs it, has the other replicas reload it, then emits
       * `servers.changed` per change and `providers.changed` once (readers of either then find the
       * new catalog on every replica). Never throws: the change is committed whatever happens here.
       */
      async publish(this: This, after: CatalogSnapshot, changes: CatalogChange[], request?: RequestRef): Promise<void> {
        this.install(after);
        await this.refreshPeers(after.version, request);
        for (const change of changes) {
          const event: ServersChangedEvent = { action: change.action, server: toServer(change.entry, PROJECT_ROOT) };
          await this.broker.broadcast("servers.changed", event);
        }
        const ids: ProvidersChangedEvent = { ids: this.catalog.entries.map((e) => e.id) };
        await this.broker.broadcast("providers.changed", ids);
      },

      async refreshPeers(this: This, version: number, request?: RequestRef): Promise<void> {
        const services = this.broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true }) as { name: string; nodeID: string }[];
        const peers = [...new Set(services.filter((s) => s.name === "providers" && s.nodeID !== this.broker.nodeID).map((s) => s.nodeID))];
        await Promise.all(
          peers.map((nodeID) =>
            this.broker.call("providers.refresh", { version }, { nodeID, timeout: PEER_REFRESH_TIMEOUT_MS, retries: 0 }).catch((err: Error) => {
              this.logger.warn(
                requestFields(request),
                `providers replica ${nodeID} did not reload catalog version ${version} (it catches up within a second): ${err.message}`,
              );
            }),
          ),
        );
      },

      /**
       * Writes the current manifest into the catalog (§17.1) in one catalog transaction; publishes
       * the changes; the processes of servers the file no longer has are stopped first. Throws when
       * the store fails (the manifest stays pending and is retried by the poll). Runs at start, then
       * only inside the serialized background work.
       */
      async syncManifest(this: This): Promise<void> {
        const manifest = this.manifest;
        this.manifestPending = true;
        const fields = manifest.providers.map(manifestServerFields);
        // §17.1: a server removed from the file has its process stopped before the catalog forgets
        // it. A stop that fails is logged; the runtime then stops it on the `servers.changed` event.
        const removed = planManifestSync((await readCatalog(this.readKnex)).entries, fields, toStoredInstant(Date.now())).deletes;
        await Promise.all(
          removed.map((e) =>
            this.stopProcess(null, e.id).catch((err: Error) => {
              this.logger.warn(`Server '${e.id}' left the manifest; its process could not be stopped first: ${err.message}`);
            }),
          ),
        );
        await this.commit(
          async (catalog) => {
            const plan = planManifestSync(catalog.entries, fields, toStoredInstant(Date.now()));
            if (planIsEmpty(plan)) return { result: plan.changes, changed: false };
            for (const change of plan.changes) {
              if (change.action === "updated" && catalog.entries.some((e) => e.id === change.entry.id && e.source === "api")) {
                this.logger.warn(`Server '${change.entry.id}' created over HTTP is now defined by the manifest file, which takes it over`);
              }
            }
            await catalog.applySync(plan);
            return { result: plan.changes, changed: true };
          },
          (changes) => {
            const summary = changes.map((c) => `${c.action} ${c.entry.id}`).join(", ");
            this.logger.info(`Manifest written into the catalog: ${summary === "" ? "order changed" : summary}`);
            return changes;
          },
        );
        if (this.manifest === manifest) this.manifestPending = false;
      },

      /** The file changed: reload it; a valid manifest is written into the catalog, an invalid one ignored. */
      reloadManifest(this: This): void {
        let manifest: Manifest;
        try {
          manifest = loadManifest(config.serversPath);
        } catch (err) {
          this.logger.error(`Manifest change ignored, keeping the previous one: ${(err as Error).message}`);
          return;
        }
        this.logger.info(`Manifest reloaded: ${manifest.providers.length} providers`);
        this.manifest = manifest;
        void this.enqueue(() => this.syncManifest());
      },

      /** Retries a pending manifest sync; reloads the catalog when the store holds a newer version. */
      async pollCatalog(this: This): Promise<void> {
        if (this.manifestPending) await this.syncManifest();
        const version = await readCatalogVersion(this.readKnex);
        if (version <= this.catalog.version) return;
        if (this.install(await readCatalog(this.readKnex))) {
          // Readers that reloaded from this replica before it caught up reload again.
          const ids: ProvidersChangedEvent = { ids: this.catalog.entries.map((e) => e.id) };
          await this.broker.broadcast("providers.changed", ids);
        }
      },

      /**
       * Runs work after the catalog work already under way in this replica and answers its result.
       * One at a time, so a poll never sees a write of this replica between its commit and its
       * publication (and publishes it a second time).
       */
      serialized<T>(this: This, work: () => Promise<T>): Promise<T> {
        const run = this.queue.then(work);
        this.queue = run.catch(() => undefined);
        return run;
      },

      /** Background work, serialized: a failure is logged, never thrown. */
      enqueue(this: This, work: () => Promise<void>): Promise<void> {
        return this.serialized(work).catch((err: Error) => {
          this.logger.error(`Catalog update failed (retried within a second): ${err.message}`);
        });
      },

      /**
       * Has the runtime stop a server's process before the catalog forgets it (§17.1, §17.4), through
       * the broker (`runtime.stopForDelete`, which sends the work to the process's owner). Resolves at
       * once when no node runs the runtime service (a deployment without it has no process to stop);
       * rejects with the runtime's error otherwise.
       */
      async stopProcess(this: This, ctx: Context | null, id: string): Promise<void> {
        if (!runtimeRuns(this.broker)) return;
        const call = ctx === null ? this.broker.call.bind(this.broker) : ctx.call.bind(ctx);
        try {
          await call("runtime.stopForDelete", { id });
        } catch (err) {
          // The runtime went away meanwhile: nothing of it is left to stop the process.
          if (isRuntimeAbsent(err)) return;
          throw err;
        }
      },

      findServer(this: This, id: unknown): CatalogEntry {
        const found = typeof id === "string" ? this.byId.get(id) : undefined;
        if (found === undefined) throw serverNotFound(id);
        return found;
      },
    },

    created(this: This) {
      this.manifest = initialManifest;
      this.manifestPending = true;
      this.catalog = EMPTY_CATALOG;
      this.byId = new Map();
      this.queue = Promise.resolve();
      this.pollTimer = undefined;
      this.polling = false;
    },

    async started(this: This) {
      // The store is prepared (StoreMixin's started ran first). The watcher starts first and the file
      // is read again (the store's preparation may have taken a while since the first read), so no
      // change is missed; the manifest must reach the catalog before this replica answers.
      onFileChange = (curr, prev) => {
        if (curr.mtimeMs !== prev.mtimeMs || curr.size !== prev.size) this.reloadManifest();
      };
      fs.watchFile(config.serversPath, { interval: MANIFEST_POLL_INTERVAL_MS, persistent: false }, onFileChange);
      try {
        this.manifest = loadManifest(config.serversPath);
      } catch (err) {
        this.logger.error(`Manifest changed since start and is now invalid, keeping the one read first: ${(err as Error).message}`);
      }
      try {
        await this.serialized(() => this.syncManifest());
        this.install(await readCatalog(this.readKnex));
      } catch (err) {
        fs.unwatchFile(config.serversPath, onFileChange);
        onFileChange = undefined;
        throw err;
      }
      this.pollTimer = setInterval(() => {
        if (this.polling) return;
        this.polling = true;
        void this.enqueue(() => this.pollCatalog()).finally(() => {
          this.polling = false;
        });
      }, CATALOG_POLL_INTERVAL_MS);
      this.pollTimer.unref();
    },

    async stopped(this: This) {
      if (onFileChange !== undefined) fs.unwatchFile(config.serversPath, onFileChange);
      onFileChange = undefined;
      clearInterval(this.pollTimer);
      this.pollTimer = undefined;
      // Work in progress finishes before the store closes (StoreMixin's stopped runs after this one).
      await this.queue;
    },
  };
}
