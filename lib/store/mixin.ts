/**
 * StoreMixin: gives a service the shared Knex store. The store is opened when the service is
 * created, migrated (and seeded, once per store) when it starts, and closed when it stops. Every
 * store-owning service also answers `<service>.storePing`, which the readiness check calls.
 */
import type { Knex } from "knex";
import type { ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { StoreConfig } from "../config";
import { createKnex } from "./knex";
import { PrepareLog, prepareStore } from "./prepare";

export interface StoreVars {
  knex: Knex;
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

function prepareOnce(knex: Knex, store: StoreConfig, log: PrepareLog): Promise<void> {
  const key = JSON.stringify([store.dbUrl ?? store.dbPath, store.fixturesDir, store.seed]);
  let pending = preparing.get(key);
  if (pending === undefined) {
    pending = prepareStore(knex, store, log).finally(() => preparing.delete(key));
    preparing.set(key, pending);
  }
  return pending;
}

export function StoreMixin(store: StoreConfig): Partial<ServiceSchema> {
  const mixin: Partial<StoreServiceSchema> = {
    actions: {
      storePing: {
        visibility: "public",
        async handler() {
          if (!this.storeReady) throw new Error("store not prepared yet");
          await this.knex.raw("select 1 as ok");
          return { ok: true };
        },
      },
    },
    created() {
      this.storeReady = false;
      this.knex = createKnex(store);
    },
    async started() {
      await prepareOnce(this.knex, store, this.logger);
      this.storeReady = true;
    },
    async stopped() {
      await this.knex.destroy();
    },
  };
  return mixin as Partial<ServiceSchema>;
}
