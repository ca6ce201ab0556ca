/**
 * Token buckets shared by every replica (runtime-contract §25.3; table `rate_buckets`, migration
 * 015): one row per bucket (`req:<key id>` / `runs:<key id>`, or the client address in open mode),
 * taken from by one atomic upsert, so gateways on any number of hosts draw from the same tokens.
 *
 * A bucket refills at `rate` tokens per second up to a burst of 2 s worth (`capacity` = 2 × rate)
 * and starts full. A take of `n` is granted when the bucket holds min(n, capacity) tokens; the
 * bucket then loses n (a batch larger than the burst leaves a debt, paid back at the rate, so one
 * large batch is possible but the long-run rate holds). A refused take removes nothing and answers
 * how many whole seconds until it would be granted (at least 1).
 */
import type { Knex } from "knex";
import { dialectOf } from "../../lib/store/knex";

export const RATE_TABLE = "rate_buckets";
/** §25.3: burst = 2 s worth of the rate. */
export const BURST_SECONDS = 2;

export interface TakeResult {
  granted: boolean;
  /** Whole seconds until the same take would be granted (0 when granted). */
  retryAfterS: number;
  /** Tokens left after this take. */
  tokens: number;
}

/**
 * Takes `n` tokens (n ≥ 1) from `bucket` refilling at `rate` per second (> 0), at `nowMs`. One
 * statement: insert a full bucket minus n, or refill the existing one (clock steps backwards count
 * as no time) and take when it holds enough.
 */
export async function takeTokens(knex: Knex, bucket: string, n: number, rate: number, nowMs: number = Date.now()): Promise<TakeResult> {
  const capacity = rate * BURST_SECONDS;
  const need = Math.min(n, capacity);
  const pg = dialectOf(knex) === "pg";
  const least = pg ? "LEAST" : "min";
  const greatest = pg ? "GREATEST" : "max";
  const num = (name: string) => (pg ? `CAST(:${name} AS double precision)` : `:${name}`);
  const refilled = `${least}(${num("capacity")}, ${RATE_TABLE}.tokens + ${greatest}(0, ${num("now")} - ${RATE_TABLE}.updated_ms) * ${num("rate")} / 1000.0)`;
  const sql = `
    INSERT INTO ${RATE_TABLE} (bucket, tokens, updated_ms, last_granted)
    VALUES (:bucket, ${num("capacity")} - ${num("n")}, :nowInt, 1)
    ON CONFLICT (bucket) DO UPDATE SET
      tokens = CASE WHEN ${refilled} >= ${num("need")} THEN ${refilled} - ${num("n")} ELSE ${refilled} END,
      last_granted = CASE WHEN ${refilled} >= ${num("need")} THEN 1 ELSE 0 END,
      updated_ms = ${greatest}(${RATE_TABLE}.updated_ms, :nowInt)
    RETURNING tokens, last_granted`;
  const result = await knex.raw(sql, { bucket, capacity, n, need, rate, now: nowMs, nowInt: Math.floor(nowMs) });
  const row = (pg ? result.rows[0] : result[0]) as { tokens: number | string; last_granted: number | string };
  const tokens = Number(row.tokens);
  const granted = Number(row.last_granted) === 1;
  return { granted, tokens, retryAfterS: granted ? 0 : Math.max(1, Math.ceil((need - tokens) / rate)) };
}
