/**
 * Prepares a store for use: schema migrations, then the one-time seed from fixtures (§4).
 */
import type { Knex } from "knex";
import type { StoreConfig } from "../config";
import { migrateToLatest } from "./migrate";
import { seedStore } from "./seed";

export async function prepareStore(knex: Knex, store: Pick<StoreConfig, "fixturesDir" | "seed">): Promise<void> {
  await migrateToLatest(knex);
  if (store.seed) await seedStore(knex, store.fixturesDir);
}
