/**
 * StoreMixin: gives a service the shared Knex store. The store is opened when the service is
 * created, migrated (and seeded, once per store) when it starts, and closed when it stops. Every
 * store-owning service also answers `<service>.storePing`, which the readiness check calls.
 *
 * A service gets two Knex instances: `this.knex`, the writer (every write, and the migrations and
 * seed), and `this.readKnex`, the read pool (every read action; one read transaction per answer,
 * readSnapshot). The store services of one broker (one process) share both, so a process holds one
 * SQLite writer connection and one read pool whatever the number of store services it runs; the
 * connections close when the last of them stops.
 */
import type { Knex } from "knex";
import type { ServiceBroker, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { StoreConfig } from "../config";
import { nodeMetrics } from "../metrics/node-metrics";
import { WalCheckpoints, createKnex, createReadKnex } from "./knex";
import { registerPoolMetrics } from "./pool-metrics";
import { PrepareLog, prepareStore } from "./prepare";

export interface StoreVars {
  /** The writer: every write goes here. */
  knex: Knex;
  /** The read pool: every read action goes here. */
  readKnex: Knex;
  storeReady: boolean;
}

/** Schema type of a service that uses the store mixin. */
export type StoreServiceSchema = ServiceSchema<ServiceSettingSchema, Record<string, never>, StoreVars>;

/**
 * Preparations under way in this process, by store. In the embedded mode several store services start
 * together on one store: they share one preparation instead of racing each other for the migration
 * lock (replicas in other processes still race, and migrateToLatest handles that).
 */
const preparing = new Map<string, Promise<void>>();

function storeKey(store: StoreConfig): string {
  return store.dbUrl ?? store.dbPath;
}

function prepareOnce(knex: Knex, store: StoreConfig, log: PrepareLog): Promise<void> {
  const key = JSON.stringify([storeKey(store), store.fixturesDir, store.seed]);
  let pending = preparing.get(key);
  if (pending === undefined) {
    pending = prepareStore(knex, store, log).finally(() => preparing.delete(key));
    preparing.set(key, pending);
  }
  return pending;
}

/** The connections of one store as the services of one broker share them. */
interface SharedStore {
  knex: Knex;
  /** Its connections open on first use (pool minimum 0), after the writer has prepared the store. */
  readKnex: Knex;
  /** SQLite only: keeps the WAL from growing under a constant read load. */
  checkpoints: WalCheckpoints | null;
  users: number;
}

/** Open stores by broker, then by store key (several brokers in one process act as separate nodes). */
const openStores = new WeakMap<ServiceBroker, Map<string, SharedStore>>();

function acquireStore(broker: ServiceBroker, store: StoreConfig): SharedStore {
  let byKey = openStores.get(broker);
  if (byKey === undefined) {
    const stores = new Map<string, SharedStore>();
    byKey = stores;
    openStores.set(broker, stores);
    // §27: this node's pools, read at each scrape (the stores open then).
    registerPoolMetrics(nodeMetrics(broker), () => stores.values());
  }
  const key = storeKey(store);
  let shared = byKey.get(key);
  if (shared === undefined) {
    const knex = createKnex(store);
    shared = { knex, readKnex: createReadKnex(store), checkpoints: store.dbUrl === null ? new WalCheckpoints(knex) : null, users: 0 };
    byKey.set(key, shared);
  }
  shared.users += 1;
  return shared;
}

/** Gives up one service's use; the last one closes every connection (writer and read pool). */
async function releaseStore(broker: ServiceBroker, store: StoreConfig): Promise<void> {
  const byKey = openStores.get(broker);
  const key = storeKey(store);
  const shared = byKey?.get(key);
  if (byKey === undefined || shared === undefined) return;
  shared.users -= 1;
  if (shared.users > 0) return;
  byKey.delete(key);
  await shared.checkpoints?.stop();
  await Promise.all([shared.knex.destroy(), shared.readKnex.destroy()]);
}

export function StoreMixin(store: StoreConfig): Partial<ServiceSchema> {
  const mixin: Partial<StoreServiceSchema> = {
    actions: {
      storePing: {
        visibility: "public",
        async handler() {
          if (!this.storeReady) throw new Error("store not prepared yet");
          await this.knex.raw("select 1 as ok");
          await this.readKnex.raw("select 1 as ok");
          return { ok: true };
        },
      },
    },
    created() {
      this.storeReady = false;
      const shared = acquireStore(this.broker, store);
      this.knex = shared.knex;
      this.readKnex = shared.readKnex;
    },
    async started() {
      await prepareOnce(this.knex, store, this.logger);
      this.storeReady = true;
    },
    async stopped() {
      await releaseStore(this.broker, store);
    },
  };
  return mixin as Partial<ServiceSchema>;
}
