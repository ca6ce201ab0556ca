/**
 * services/access/rate-buckets.ts on real stores (SQLite, and PostgreSQL when configured): the token
 * bucket of runtime-contract §25.3 with injected instants — full at first (burst = 2 s worth), refused
 * takes remove nothing and say when to retry, refill at the rate and never above the burst, a batch
 * larger than the burst leaves a debt, a clock stepping back counts as no time, buckets are
 * independent, and concurrent takes never grant more than the bucket holds.
 */
import fs from "node:fs";
import path from "node:path";
import type { Knex } from "knex";
import { createKnex } from "../../lib/store/knex";
import { migrateToLatest } from "../../lib/store/migrate";
import { takeTokens } from "../../services/access/rate-buckets";
import { createPgDatabase, describePg, PgDatabase } from "../helpers/pg";
import { tempDir } from "../helpers/server";

function bucketSuite(open: () => Promise<{ knex: Knex; close: () => Promise<void> }>): void {
  let knex: Knex;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ knex, close } = await open());
    await migrateToLatest(knex);
  }, 60_000);
  afterAll(() => close?.());

  const T = 1_700_000_000_000;

  it("starts full with 2 s worth, refuses beyond without taking, refills at the rate up to the burst", async () => {
    expect(await takeTokens(knex, "a", 1, 2, T)).toEqual({ granted: true, tokens: 3, retryAfterS: 0 });
    expect((await takeTokens(knex, "a", 3, 2, T)).granted).toBe(true);
    expect(await takeTokens(knex, "a", 1, 2, T)).toEqual({ granted: false, tokens: 0, retryAfterS: 1 });
    expect(await takeTokens(knex, "a", 1, 2, T)).toEqual({ granted: false, tokens: 0, retryAfterS: 1 });
    // 250 ms: half a token; 500 ms: one.
    expect((await takeTokens(knex, "a", 1, 2, T + 250)).granted).toBe(false);
    expect(await takeTokens(knex, "a", 1, 2, T + 500)).toEqual({ granted: true, tokens: 0, retryAfterS: 0 });
    // A long pause refills to the burst, never beyond.
    expect(await takeTokens(knex, "a", 1, 2, T + 3_600_000)).toEqual({ granted: true, tokens: 3, retryAfterS: 0 });
  });

  it("a batch larger than the burst is granted when the bucket is full, leaving a debt paid at the rate", async () => {
    expect(await takeTokens(knex, "runs", 50, 0.1, T)).toEqual({ granted: true, tokens: 0.2 - 50, retryAfterS: 0 });
    const refused = await takeTokens(knex, "runs", 1, 0.1, T + 1000);
    expect(refused.granted).toBe(false);
    expect(refused.retryAfterS).toBe(499);
    expect((await takeTokens(knex, "runs", 1, 0.1, T + 500_000)).granted).toBe(true);
  });

  it("a clock stepping back counts as no time; buckets are independent", async () => {
    expect((await takeTokens(knex, "b", 2, 1, T + 10_000)).granted).toBe(true);
    expect((await takeTokens(knex, "b", 1, 1, T)).granted).toBe(false);
    expect((await takeTokens(knex, "c", 2, 1, T)).granted).toBe(true);
  });

  it("concurrent takes never grant more than the bucket holds", async () => {
    const results = await Promise.all(Array.from({ length: 40 }, () => takeTokens(knex, "race", 1, 10, T)));
    expect(results.filter((r) => r.granted)).toHaveLength(20);
  }, 60_000);
}

describe("token buckets on SQLite", () => {
  const dir = tempDir("console-mcp-buckets-");
  bucketSuite(async () => {
    const knex = createKnex({ dbUrl: null, dbPath: path.join(dir, "console.db") });
    return {
      knex,
      close: async () => {
        await knex.destroy();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  });
});

describePg("token buckets on PostgreSQL", () => {
  let db: PgDatabase;
  bucketSuite(async () => {
    db = await createPgDatabase();
    const knex = createKnex({ dbUrl: db.url, dbPath: "" });
    return {
      knex,
      close: async () => {
        await knex.destroy();
        await db.drop();
      },
    };
  });
});
