/**
 * Rollup stripes (migration 012, services/telemetry/store/stripes.ts), shared by the SQLite run
 * (test/http/telemetry-stripes.test.ts) and the PostgreSQL run (test/pg/telemetry-stripes.test.ts):
 * - random batches from several concurrent writers — the server's group commit and, on PostgreSQL, a
 *   second store handle on the same database with a group commit of its own (a second replica) — most
 *   of them on the same few minutes: every level, summed over its stripes, equals a fresh GROUP BY of
 *   the raw rows; every read equals the reference computed from the stored runs; rebuildRollups
 *   collapses the stripes into one row per key with the same figures;
 * - PostgreSQL: a writer does not wait for another writer's uncommitted batch on the same keys (each
 *   holds a stripe of its own), claims exactly one stripe, and a single writer keeps writing stripe 0
 *   (sequential batches on existing keys add no row); when every stripe is held, a writer waits for
 *   one and then writes; two groups holding the same Idempotency-Keys in opposite arrival orders
 *   claim them in key order and do not deadlock;
 * - a store written before migration 012 keeps its rollup rows as they were, in stripe 0; writes after
 *   it land in stripes; down puts one row per key back (recomputed), up again.
 */
import fs from "node:fs";
import path from "node:path";
import type { Knex } from "knex";
import { Client } from "pg";
import { seededRandom } from "../../lib/prng";
import { createKnex } from "../../lib/store/knex";
import { migrateToLatest } from "../../lib/store/migrate";
import { MIGRATIONS } from "../../lib/store/migrations";
import { claimKey } from "../../lib/store/idempotency";
import { RunIngestion, ingestUnit, writeIngestGroup, writeUnits } from "../../services/telemetry/ingest";
import { insertTelemetryRows } from "../../services/telemetry/store/insert";
import { LEVELS } from "../../services/telemetry/store/levels";
import { rebuildRollups } from "../../services/telemetry/store/rollups";
import { rowFromRun } from "../../services/telemetry/store/run";
import { ROLLUP_STRIPES, STRIPE_LOCK_CLASS, claimStripe } from "../../services/telemetry/store/stripes";
import { TestServer, request, startTestServer, tempDir } from "../helpers/server";
import {
  RefQuery,
  RefRun,
  expectedHeatmap,
  expectedMetrics,
  expectedPareto,
  expectedSingleSprint,
  expectedTimeseries,
  refQueryString,
} from "../helpers/telemetry-reference";
import type { StoreFactory } from "./telemetry-ingest-suite";
import { storeOf } from "./telemetry-ingest-suite";
import { writeReadsManifest } from "./telemetry-reads-suite";
import { expectRollupMatchesRuns, redoMigrationsFrom, rollupRowsPerStripe } from "./telemetry-rollups-suite";
import { GeneratedRun, generateRun, runInputOf } from "./telemetry-windows-suite";

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const FIRST_MS = Date.parse("2025-07-01T00:00:00.000Z");
const SPAN_DAYS = 2;
/** The minutes most runs land in (as a live load's "now"): one per day, and two in one hour. */
const HOT_MINUTES = [
  FIRST_MS + 13 * HOUR_MS + 5 * MINUTE_MS,
  FIRST_MS + 13 * HOUR_MS + 6 * MINUTE_MS,
  FIRST_MS + DAY_MS + 23 * HOUR_MS + 59 * MINUTE_MS,
];

/** Half the runs in a hot minute, the others anywhere in the span. */
function instant(rand: () => number): number {
  if (rand() < 0.5) return HOT_MINUTES[Math.floor(rand() * HOT_MINUTES.length)] + Math.floor(rand() * MINUTE_MS);
  return FIRST_MS + Math.floor(rand() * SPAN_DAYS * DAY_MS);
}

/** `count` runs cut into batches of 1 … maxBatch runs. */
function batchesOf(rand: () => number, count: number, maxBatch: number): GeneratedRun[][] {
  const runs = Array.from({ length: count }, () => generateRun(rand, instant(rand)));
  const batches: GeneratedRun[][] = [];
  for (let at = 0; at < runs.length; ) {
    const size = 1 + Math.floor(rand() * maxBatch);
    batches.push(runs.slice(at, at + size));
    at += size;
  }
  return batches;
}

const stored = (batch: readonly GeneratedRun[], ids: readonly number[]): RefRun[] => batch.map((r, i) => ({ ...r.ref, id: ids[i] }));

async function ingestHttp(server: TestServer, batch: readonly GeneratedRun[]): Promise<RefRun[]> {
  const res = await request(`${server.baseUrl}/telemetry/runs`, { method: "POST", json: { runs: batch.map((r) => r.body) } });
  if (res.status !== 201) throw new Error(`ingestion failed: ${res.status} ${res.text}`);
  return stored(batch, res.body.ids as number[]);
}

async function ok(server: TestServer, endpoint: string, query: string): Promise<any> {
  const res = await request(`${server.baseUrl}/telemetry/${endpoint}${query === "" ? "" : `?${query}`}`);
  if (res.status !== 200) throw new Error(`GET ${endpoint}?${query} → ${res.status} ${res.text}`);
  return res.body;
}

/** Random windows at ms precision (some open-ended), and windows around the hot minutes. */
function windows(rand: () => number): RefQuery[] {
  const out: RefQuery[] = [{}, { start: HOT_MINUTES[0] - 1, end: HOT_MINUTES[1] + MINUTE_MS }, { start: HOT_MINUTES[2] + 1234 }];
  for (let i = 0; i < 9; i++) {
    const start = FIRST_MS - HOUR_MS + Math.floor(rand() * (SPAN_DAYS * DAY_MS + 2 * HOUR_MS));
    const scale = [MINUTE_MS, HOUR_MS, DAY_MS, SPAN_DAYS * DAY_MS][Math.floor(rand() * 4)];
    out.push(i % 4 === 3 ? { end: start } : { start, end: start + Math.floor(rand() * scale) });
  }
  return out;
}

const FILTERS: RefQuery[] = [{}, { provider_id: "gemini" }, { route: "chat" }, { lane: "balanced" }];

/** Every read of the dashboards over the windows and filters equals the reference of `runs`. */
async function expectReadsMatch(server: TestServer, runs: readonly RefRun[], queries: readonly RefQuery[]): Promise<void> {
  for (const window of queries) {
    for (const filter of FILTERS) {
      const q = { ...window, ...filter };
      const qs = refQueryString(q);
      if (q.lane === undefined) {
        expect({ q, body: await ok(server, "metrics", qs) }).toEqual({ q, body: expectedMetrics(runs, q) });
        expect({ q, body: (await ok(server, "heatmap", qs)).buckets }).toEqual({ q, body: expectedHeatmap(runs, q) });
      }
      if (q.route === undefined) {
        expect({ q, body: (await ok(server, "timeseries", qs)).items }).toEqual({ q, body: expectedTimeseries(runs, q) });
        const pareto = (await ok(server, "pareto", qs)).items.map(({ provider_name: _n, lane: _l, ...rest }: any) => rest);
        expect({ q, body: pareto }).toEqual({ q, body: expectedPareto(runs, q) });
        const sprint = (await ok(server, "finops/sprints", refQueryString(q, { window_days: 90, limit: 1 }))).items.map((s: any) => ({
          period_start: s.period_start,
          period_end: s.period_end,
          total_cost_usd: s.total_cost_usd,
          total_tokens_in: s.total_tokens_in,
          total_tokens_out: s.total_tokens_out,
          avg_latency_ms: s.avg_latency_ms,
          success_rate: s.success_rate,
        }));
        expect({ q, body: sprint }).toEqual({ q, body: expectedSingleSprint(runs, q) });
      }
    }
  }
}

/** The stripes that hold rollup rows, over every rollup table. */
async function stripesInUse(knex: Knex): Promise<number[]> {
  const stripes = new Set<number>();
  for (const perStripe of Object.values(await rollupRowsPerStripe(knex))) for (const s of Object.keys(perStripe)) stripes.add(Number(s));
  return [...stripes].sort((a, b) => a - b);
}

/** Waits until `condition` holds (checked every 50 ms), failing after `timeoutMs`. */
async function waitFor(what: string, condition: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function stripesSuite(label: string, makeStore: StoreFactory): void {
  const pg = label === "pg";

  describe(`${label}: rollup stripes under concurrent writers`, () => {
    let server: TestServer;
    let knex: Knex;
    /** A second store handle on the same database (PostgreSQL), with a group commit of its own. */
    let other: Knex | undefined;
    let manifestDir: string;
    let dropStore: () => Promise<void>;
    const runs: RefRun[] = [];

    beforeAll(async () => {
      const manifest = writeReadsManifest();
      manifestDir = manifest.dir;
      const store = await makeStore();
      dropStore = store.drop;
      server = await startTestServer({ CONSOLE_MCP_SERVERS_PATH: manifest.file, ...store.env });
      knex = storeOf(server);
      if (pg) other = createKnex(server.config.store);
    });
    afterAll(async () => {
      await other?.destroy();
      await server.stop();
      await dropStore();
      fs.rmSync(manifestDir, { recursive: true, force: true });
    });

    it("random batches from several concurrent writers: every level summed over its stripes equals a GROUP BY; every read equals the reference", async () => {
      const rand = seededRandom(1212);
      // Four HTTP clients of the server, and on PostgreSQL four clients of a second replica's group commit.
      const writers: Promise<RefRun[]>[] = [];
      for (let w = 0; w < 4; w++) {
        const batches = batchesOf(rand, 150, 40);
        writers.push(
          (async () => {
            const out: RefRun[] = [];
            for (const batch of batches) out.push(...(await ingestHttp(server, batch)));
            return out;
          })(),
        );
      }
      if (other !== undefined) {
        const replica = new RunIngestion(other, 4);
        for (let w = 0; w < 4; w++) {
          const batches = batchesOf(rand, 150, 40);
          writers.push(
            (async () => {
              const out: RefRun[] = [];
              for (const batch of batches) {
                const outcome = await replica.ingest({ runs: batch.map((r) => r.body) });
                out.push(...stored(batch, outcome.result.ids));
              }
              return out;
            })(),
          );
        }
      }
      for (const written of await Promise.all(writers)) runs.push(...written);
      expect(runs.length).toBe(pg ? 1200 : 600);
      const counts = await expectRollupMatchesRuns(knex);
      expect(counts.every((n) => n > 0)).toBe(true);
      const stripes = await stripesInUse(knex);
      // SQLite has one writer: stripe 0 only. PostgreSQL: the concurrent transactions took stripes of their own.
      if (pg) expect(stripes.length).toBeGreaterThan(1);
      else expect(stripes).toEqual([0]);
      await expectReadsMatch(server, runs, windows(seededRandom(34)));
    }, 300_000);

    it("rebuildRollups writes one row per key, in stripe 0, with the same figures", async () => {
      const counts = await expectRollupMatchesRuns(knex);
      await rebuildRollups(knex);
      expect(await expectRollupMatchesRuns(knex)).toEqual(counts);
      const perStripe = await rollupRowsPerStripe(knex);
      expect(await stripesInUse(knex)).toEqual([0]);
      expect(LEVELS.map((l) => perStripe[l.table][0])).toEqual(counts);
      await expectReadsMatch(server, runs, windows(seededRandom(35)).slice(0, 6));
    }, 300_000);

    if (pg) {
      it("a writer does not wait for another's uncommitted batch on the same keys; a single writer keeps stripe 0", async () => {
        const db = other as Knex;
        const rand = seededRandom(56);
        // Every run in the first hot minute: the same minute, hour and day rows for both writers.
        const sameKeys = () => Array.from({ length: 40 }, () => generateRun(rand, HOT_MINUTES[0] + Math.floor(rand() * MINUTE_MS)));
        const first = sameKeys();
        const second = sameKeys().map((r, i) => ({
          ...r,
          body: { ...r.body, provider_id: first[i].body.provider_id, route: first[i].body.route },
          ref: { ...r.ref, provider_id: first[i].ref.provider_id, route: first[i].ref.route },
        }));
        let secondDone = false;
        let secondDoneBeforeCommit = false;
        let secondIds: number[] = [];
        let written: Promise<void> = Promise.resolve();
        const firstIds = await knex.transaction(async (trx) => {
          const ids = await insertTelemetryRows(
            trx,
            first.map((r) => rowFromRun(runInputOf(r), FIRST_MS)),
          );
          const held = (await trx.raw("SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND classid = ?::int::oid", [
            STRIPE_LOCK_CLASS,
          ])) as { rows: { objid: number }[] };
          expect(held.rows.map((r) => Number(r.objid))).toEqual([0]);
          // The second writer, on the other handle, on the same keys, while this transaction is open.
          written = writeIngestGroup(db, [ingestUnit({ runs: second.map((r) => r.body) })]).then(([settled]) => {
            if (!settled.ok) throw settled.error;
            secondIds = settled.value.body.ids;
            secondDone = true;
          });
          // A writer that waited for this transaction's row locks could finish only after the commit:
          // this transaction commits when the second writer is done, or after a minute without.
          await waitFor("the second writer", () => secondDone).catch(() => undefined);
          secondDoneBeforeCommit = secondDone;
          return ids;
        });
        await written;
        expect(secondDoneBeforeCommit).toBe(true);
        runs.push(...stored(first, firstIds), ...stored(second, secondIds));
        await expectRollupMatchesRuns(knex);
        const hot = await knex("telemetry_minutely").where("minute", first[0].ref.ts.slice(0, 16)).distinct("stripe");
        expect(hot.map((r: { stripe: number }) => Number(r.stripe)).sort()).toEqual([0, 1]);

        // One writer at a time: each batch in stripe 0, so batches on keys that exist add no row.
        const before = await rollupRowsPerStripe(knex);
        for (let k = 0; k < 3; k++) {
          const again = first.map((r) => ({ ...r, body: { ...r.body, tokens_in: k } }));
          const [settled] = await writeIngestGroup(db, [ingestUnit({ runs: again.map((r) => r.body) })]);
          if (!settled.ok) throw settled.error;
          runs.push(
            ...stored(
              again.map((r) => ({ ...r, ref: { ...r.ref, tokens_in: k } })),
              settled.value.body.ids,
            ),
          );
        }
        expect(await rollupRowsPerStripe(knex)).toEqual(before);
        await expectRollupMatchesRuns(knex);
        await expectReadsMatch(server, runs, [{}, { start: HOT_MINUTES[0], end: HOT_MINUTES[0] + MINUTE_MS - 1 }]);
      }, 300_000);

      it("claims the lowest free stripe, exactly one; when every stripe is held, waits for one and then writes", async () => {
        const db = other as Knex;
        const holder = new Client({ connectionString: server.config.store.dbUrl as string });
        await holder.connect();
        try {
          // Stripes 0 and 1 held by another session: a transaction claims 2, and only 2.
          await holder.query("SELECT pg_advisory_lock($1::int, s) FROM generate_series(0, 1) AS s", [STRIPE_LOCK_CLASS]);
          await db.transaction(async (trx) => {
            expect(await claimStripe(trx)).toBe(2);
            expect(await claimStripe(trx)).toBe(2);
            const held = (await trx.raw(
              "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND classid = ?::int::oid",
              [STRIPE_LOCK_CLASS],
            )) as { rows: { objid: number }[] };
            expect(held.rows.map((r) => Number(r.objid))).toEqual([2]);
          });
          // Every stripe held: the writer waits for one.
          await holder.query("SELECT pg_advisory_lock($1::int, s) FROM generate_series(2, $2::int - 1) AS s", [STRIPE_LOCK_CLASS, ROLLUP_STRIPES]);
          const rand = seededRandom(78);
          const batch = Array.from({ length: 10 }, () => generateRun(rand, HOT_MINUTES[1] + Math.floor(rand() * MINUTE_MS)));
          let settledIds: number[] = [];
          let done = false;
          const written = writeIngestGroup(db, [ingestUnit({ runs: batch.map((r) => r.body) })]).then(([settled]) => {
            if (!settled.ok) throw settled.error;
            settledIds = settled.value.body.ids;
            done = true;
          });
          await waitFor("a writer waiting for a stripe", async () => {
            const waiting = await knex.raw(
              "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = ?::int::oid",
              [STRIPE_LOCK_CLASS],
            );
            return Number(waiting.rows[0].n) === 1;
          });
          expect(done).toBe(false);
          await holder.query("SELECT pg_advisory_unlock_all()");
          await written;
          runs.push(...stored(batch, settledIds));
          await expectRollupMatchesRuns(knex);
          await expectReadsMatch(server, runs, [{ start: HOT_MINUTES[1], end: HOT_MINUTES[1] + MINUTE_MS - 1 }]);
        } finally {
          await holder.end();
        }
      }, 300_000);

      it("two groups with the same Idempotency-Keys in opposite orders claim them in key order: no deadlock", async () => {
        const db = other as Knex;
        const rand = seededRandom(91);
        const nowMs = Date.now();
        const generated = { k1: generateRun(rand, HOT_MINUTES[2]), k2: generateRun(rand, HOT_MINUTES[2] + 1) };
        const unit = (key: "k1" | "k2") => ingestUnit({ runs: [generated[key].body] }, { idempotencyKey: key, nowMs });
        const waiters = async () =>
          Number(
            (
              await knex.raw(
                `SELECT count(*) AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE NOT l.granted AND a.datname = current_database()`,
              )
            ).rows[0].n,
          );
        // A third transaction holds k1 (claimed, not committed) until it is released, then rolls back.
        let release: () => void = () => undefined;
        const released = new Promise<void>((r) => (release = r));
        let holding = false;
        const holder = knex
          .transaction(async (trx) => {
            await claimKey(trx, unit("k1").request);
            holding = true;
            await released;
            throw new Error("rolled back on purpose");
          })
          .catch(() => undefined);
        try {
          await waitFor("k1 held", () => holding);
          // Group A (k1, k2) waits for k1. Group B arrived as (k2, k1): in arrival order it would hold
          // k2 and wait for k1, and whichever of A and B got k1 after the holder's rollback could
          // then wait for the other (a deadlock whenever A wins); in key order it waits for k1 holding nothing.
          const a = db.transaction((trx) => writeUnits(trx, [unit("k1"), unit("k2")]));
          await waitFor("group A waiting", async () => (await waiters()) === 1);
          const b = db.transaction((trx) => writeUnits(trx, [unit("k2"), unit("k1")]));
          await waitFor("group B waiting", async () => (await waiters()) === 2);
          release();
          const [settledA, settledB] = await Promise.all([a, b]);
          const outcomes = { k1: [settledA[0], settledB[1]], k2: [settledA[1], settledB[0]] };
          for (const key of ["k1", "k2"] as const) {
            const pair = outcomes[key];
            const values = pair.map((s) => {
              if (!s.ok) throw s.error;
              return s.value;
            });
            // One request of each key wrote its run; the other replays that answer.
            expect({ key, replayed: values.map((v) => v.replayed).sort() }).toEqual({ key, replayed: [false, true] });
            expect(values[0].body).toEqual(values[1].body);
            const first = values.find((v) => !v.replayed)!;
            runs.push(...stored([generated[key]], first.body.ids));
          }
        } finally {
          release();
          await holder;
        }
        await expectRollupMatchesRuns(knex);
        await expectReadsMatch(server, runs, [{ start: HOT_MINUTES[2], end: HOT_MINUTES[2] + MINUTE_MS - 1 }]);
      }, 300_000);
    }
  });

  describe(`${label}: a store written before migration 012`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterAll(async () => {
      while (cleanups.length > 0) await cleanups.pop()?.();
    });

    it("keeps its rollup rows as they were, in stripe 0; concurrent writes after it; down and up again", async () => {
      const store = await makeStore();
      const dir = tempDir("console-mcp-stripes-");
      const settings = { dbUrl: store.env.CONSOLE_MCP_DB_URL ?? null, dbPath: path.join(dir, "console.db") };
      const k = createKnex(settings);
      const handles = [k];
      cleanups.push(async () => {
        for (const h of handles) await h.destroy();
        await store.drop();
        fs.rmSync(dir, { recursive: true, force: true });
      });
      const migrateBefore = (next: string) => {
        const list = MIGRATIONS.filter(([name]) => name < next);
        return k.migrate.latest({
          migrationSource: {
            getMigrations: async () => list.map(([name]) => name),
            getMigrationName: (name: string) => name,
            getMigration: async (name: string) => list.find(([n]) => n === name)![1],
          },
        });
      };
      // Runs stored before 004, then 004–009 backfill their rollups (one row per key).
      await migrateBefore("004");
      const rand = seededRandom(90);
      const rows = Array.from({ length: 500 }, () => rowFromRun(runInputOf(generateRun(rand, instant(rand))), FIRST_MS));
      for (let i = 0; i < rows.length; i += 50) await k("telemetry_events").insert(rows.slice(i, i + 50));
      await migrateBefore("012");
      expect(await k.schema.hasColumn("telemetry_daily", "stripe")).toBe(false);
      const tables = [...LEVELS.map((l) => l.table), ...LEVELS.map((l) => l.errorsTable)];
      const snapshot = async () => {
        const out: Record<string, unknown[]> = {};
        for (const table of tables) {
          const all = (await k(table).select()) as Record<string, unknown>[];
          out[table] = all
            .map(({ stripe: _s, ...rest }) => ({
              ...rest,
              latency_sketch: rest.latency_sketch === undefined ? undefined : Buffer.from(rest.latency_sketch as Uint8Array).toString("hex"),
            }))
            .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
        }
        return out;
      };
      const counts = await expectRollupMatchesRuns(k);
      expect(counts.every((n) => n > 0)).toBe(true);
      const before012 = await snapshot();

      await migrateToLatest(k);
      expect(await snapshot()).toEqual(before012);
      expect(await stripesInUse(k)).toEqual([0]);
      expect(await expectRollupMatchesRuns(k)).toEqual(counts);

      // Concurrent writers after the migration: on PostgreSQL two store handles, two writers each.
      const second = pg ? createKnex(settings) : k;
      if (second !== k) handles.push(second);
      const writers = [k, k, second, second].map(async (db) => {
        for (const batch of batchesOf(rand, 60, 20)) {
          const [settled] = await writeIngestGroup(db, [ingestUnit({ runs: batch.map((r) => r.body) })]);
          if (!settled.ok) throw settled.error;
        }
      });
      await Promise.all(writers);
      const after = await expectRollupMatchesRuns(k);
      if (pg) expect((await stripesInUse(k)).length).toBeGreaterThan(1);

      await redoMigrationsFrom(k, "012_rollup_stripes", async () => {
        expect(await k.schema.hasColumn("telemetry_daily", "stripe")).toBe(false);
        // One row per key again, the figures recomputed from the runs.
        expect(await expectRollupMatchesRuns(k)).toEqual(after);
        for (const level of LEVELS) {
          const [{ n }] = (await k(level.table).count({ n: "*" })) as { n: unknown }[];
          expect(Number(n)).toBe(after[LEVELS.indexOf(level)]);
        }
      });
      expect(await stripesInUse(k)).toEqual([0]);
      expect(await expectRollupMatchesRuns(k)).toEqual(after);
    }, 300_000);
  });
}
