/**
 * Rollup stripes (issue 8, goal 5: nothing serialises across replicas). Every rollup row — the sums
 * of each level (`telemetry_daily`, `_hourly`, `_minutely`) with their latency sketches, and the
 * error-category rollups — carries a `stripe` in its key (migration 012): a key (bucket, provider,
 * route[, category]) may have several rows, one per stripe, and its figures are their sum (counts and
 * sums add, first/last instants take the min/max, sketches merge). Every read already aggregates the
 * rows of a piece (./range-read.ts: SUM, MIN, MAX per group; the sketches of every row are merged),
 * so reads need nothing more.
 *
 * Each insert transaction writes all its rollup rows in one stripe that no other open transaction
 * holds: it claims the stripe first (`claimStripe`), as a transaction-scoped PostgreSQL advisory lock
 * (released by the commit or rollback), taking the lowest free one. So two concurrent writers — two
 * group-commit slots of one replica, or replicas on one database — never update the same rollup row
 * and never wait for each other's commit (before, every batch of every replica waited on
 * `Lock:transactionid` for the rows of the current minute, hour and day); and since no rollup row is
 * ever locked by two writers, they cannot deadlock on them either. Lowest free means a single writer
 * keeps using stripe 0: a key gets as many rows as writers were writing it at the same time, never
 * more than ROLLUP_STRIPES. When all are held, the writer waits for one of them (the ingestion of
 * before, without deadlock: it holds no rollup row while it waits).
 *
 * SQLite has one writer at a time: every row is in stripe 0. rebuildRollups and the migrations'
 * backfills write one row per key, in stripe 0 (the column's default).
 */
import type { Knex } from "knex";
import { dialectOf } from "../../../lib/store/knex";

/** The most stripes a key can have (concurrent insert transactions beyond this wait for a stripe). */
export const ROLLUP_STRIPES = 64;

/**
 * The first key of the advisory locks that claim stripes (`pg_try_advisory_xact_lock(class,
 * stripe)`): an int4 of its own ("RLST"), so no other advisory lock of the database can take it.
 */
export const STRIPE_LOCK_CLASS = 0x524c5354;

/**
 * The stripe the caller's insert transaction writes its rollup rows to: on PostgreSQL the lowest of
 * 0 … stripes − 1 that no other open transaction holds, held from now until the transaction ends
 * (one statement: the try-locks stop at the first one granted); when every stripe is held, waits for
 * the stripe of this connection (backend pid modulo `stripes`). Calling it again in the same
 * transaction gives the same stripe (a session's advisory locks do not block the session itself).
 * On SQLite: 0.
 */
export async function claimStripe(trx: Knex.Transaction, stripes: number = ROLLUP_STRIPES): Promise<number> {
  if (dialectOf(trx as unknown as Knex) !== "pg") return 0;
  const free = (await trx.raw("SELECT s AS stripe FROM generate_series(0, ?::int - 1) AS s WHERE pg_try_advisory_xact_lock(?::int, s) LIMIT 1", [
    stripes,
    STRIPE_LOCK_CLASS,
  ])) as { rows: { stripe: number }[] };
  if (free.rows.length > 0) return Number(free.rows[0].stripe);
  const waited = (await trx.raw("SELECT pg_advisory_xact_lock(?::int, pg_backend_pid() % ?::int), pg_backend_pid() % ?::int AS stripe", [
    STRIPE_LOCK_CLASS,
    stripes,
    stripes,
  ])) as { rows: { stripe: number }[] };
  return Number(waited.rows[0].stripe);
}
