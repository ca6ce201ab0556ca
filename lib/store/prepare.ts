/**
 * Prepares a store for use: schema migrations, then the one-time seed from fixtures (§4). Says what it
 * did, so an operator can tell whether the store was migrated and seeded.
 */
import type { Knex } from "knex";
import type { StoreConfig } from "../config";
import { migrateToLatest } from "./migrate";
import { seedStore } from "./seed";

export interface PrepareLog {
  info(message: string): void;
}

const SEED_MESSAGES = {
  "already-decided": "store: already seeded (or seeding turned off when it was created); fixtures not read",
  "marker-only": "store: not seeded: it already held runs or pull requests",
  seeded: "store: seeded from",
} as const;

export async function prepareStore(
  knex: Knex,
  store: Pick<StoreConfig, "fixturesDir" | "seed">,
  log: PrepareLog = { info: () => undefined },
): Promise<void> {
  const applied = await migrateToLatest(knex);
  log.info(applied.length > 0 ? `store: applied migrations ${applied.join(", ")}` : "store: schema is current");
  if (!store.seed) {
    log.info("store: seeding is off (CONSOLE_MCP_SEED=none)");
    return;
  }
  const outcome = await seedStore(knex, store.fixturesDir);
  log.info(outcome === "seeded" ? `${SEED_MESSAGES.seeded} ${store.fixturesDir}` : SEED_MESSAGES[outcome]);
}
