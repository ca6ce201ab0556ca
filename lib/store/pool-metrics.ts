/**
 * The store's connection pools as metric families of the node (runtime-contract §27), read from
 * knex's pools (tarn) at collection time:
 *
 * - `console_mcp_store_pool_connections{pool="write"|"read", state="used"|"free"}`
 * - `console_mcp_store_pool_pending_acquires{pool}`: queries waiting for a connection
 * - `console_mcp_store_pool_max{pool}`: the pool's size (CONSOLE_MCP_DB_*_POOL; 1 for SQLite's writer)
 *
 * A node normally opens one store; if it has several (tests), their pools are added up.
 */
import type { Knex } from "knex";
import type { NodeMetrics } from "../metrics/node-metrics";

/** What the families read of a knex pool (tarn's Pool). */
interface TarnPool {
  max: number;
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
}

/** A store's two Knex instances, as the store mixin shares them. */
export interface PooledStore {
  knex: Knex;
  readKnex: Knex;
}

interface PoolFigures {
  used: number;
  free: number;
  pending: number;
  max: number;
}

function poolOf(knex: Knex): TarnPool | null {
  const pool = (knex.client as { pool?: TarnPool }).pool;
  return pool === undefined || pool === null || typeof pool.numUsed !== "function" ? null : pool;
}

/** The figures of the write and read pools of `stores`, added up (a destroyed pool counts nothing). */
export function poolFigures(stores: Iterable<PooledStore>): Record<"write" | "read", PoolFigures> {
  const figures = { write: { used: 0, free: 0, pending: 0, max: 0 }, read: { used: 0, free: 0, pending: 0, max: 0 } };
  for (const store of stores) {
    for (const [kind, knex] of [
      ["write", store.knex],
      ["read", store.readKnex],
    ] as const) {
      const pool = poolOf(knex);
      if (pool === null) continue;
      const f = figures[kind];
      f.used += pool.numUsed();
      f.free += pool.numFree();
      f.pending += pool.numPendingAcquires();
      f.max += pool.max;
    }
  }
  return figures;
}

/** Registers the pool families on a node, reading `stores()` (the node's open stores) at each collection. */
export function registerPoolMetrics(metrics: NodeMetrics, stores: () => Iterable<PooledStore>): void {
  const kinds = ["write", "read"] as const;
  metrics.gauge("console_mcp_store_pool_connections", "Store connections of this node by pool and state", ["pool", "state"], () => {
    const f = poolFigures(stores());
    return kinds.flatMap((k) => [[[k, "used"], f[k].used] as const, [[k, "free"], f[k].free] as const]);
  });
  metrics.gauge("console_mcp_store_pool_pending_acquires", "Store queries of this node waiting for a connection, by pool", ["pool"], () => {
    const f = poolFigures(stores());
    return kinds.map((k) => [[k], f[k].pending] as const);
  });
  metrics.gauge("console_mcp_store_pool_max", "Size of this node's store pools", ["pool"], () => {
    const f = poolFigures(stores());
    return kinds.map((k) => [[k], f[k].max] as const);
  });
}
