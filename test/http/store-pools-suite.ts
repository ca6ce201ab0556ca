/**
 * The store's connections under concurrency (issue 8, goals 2 and 3), shared by
 * test/http/store-pools.test.ts (SQLite) and test/pg/store-pools.test.ts (PostgreSQL):
 * - reads do not wait behind writes: with a write transaction open on the writer, every read
 *   endpoint answers (from the read pool), without the uncommitted rows;
 * - each read answers from one snapshot: reads running while batches commit see each batch whole or
 *   not at all, also across the several statements of one answer (metrics: totals and errors);
 * - the read pool refuses writes;
 * - ingestion with group commit keeps every request all or nothing: concurrent requests where some
 *   fail in the store (a trigger refuses them) or reuse an Idempotency-Key store the others, each
 *   with its ids in its input order, and nothing of the failed ones;
 * - a closed store closes every connection (writer and read pool), also when the store services
 *   of a broker stop one after the other.
 */
import fs from "node:fs";
import path from "node:path";
import type { Knex } from "knex";
import { Client } from "pg";
import { loadConfig } from "../../lib/config";
import { createBroker } from "../../lib/server";
import { createKnex, dialectOf } from "../../lib/store/knex";
import { migrateToLatest } from "../../lib/store/migrate";
import { insertTelemetryRows } from "../../services/telemetry/store/insert";
import { rowFromRun } from "../../services/telemetry/store/run";
import { INGEST_ROUTE, IngestUnit, ingestUnit, writeIngestGroup } from "../../services/telemetry/ingest";
import { request, startTestServer, tempDir, TestServer } from "../helpers/server";
import { countRuns, StoreFactory } from "./telemetry-ingest-suite";

const PROVIDERS = ["gemini", "codex", "glm46", "claude"];
/** Runs per batch in the snapshot test, and how many of them are errors. */
const N = 31;
const E = 5;

/** The writer and the read pool the store services of a broker share (lib/store/mixin.ts). */
function knexes(server: TestServer): { knex: Knex; readKnex: Knex } {
  return server.broker.getLocalService("telemetry") as unknown as { knex: Knex; readKnex: Knex };
}

/** A batch of N runs on route `route`, spread over 2025-05-01 07:00 .. 2025-05-03 17:00, E of them errors. */
function snapshotBatch(route: string, seed: number): Record<string, unknown>[] {
  const start = Date.parse("2025-05-01T07:00:00Z");
  const span = Date.parse("2025-05-03T17:00:00Z") - start;
  return Array.from({ length: N }, (_, i) => ({
    provider_id: PROVIDERS[(i + seed) % PROVIDERS.length],
    route,
    tokens_in: 10 + i,
    duration_ms: 100 + ((i * 37 + seed) % 900),
    status: i < E ? "error" : "success",
    cost_usd: 0.001 * (i + 1),
    ts: new Date(start + Math.floor((span * ((i * 7919 + seed * 104729) % 1000)) / 1000)).toISOString(),
  }));
}

const WINDOW = `start=2025-05-01T06:00:00Z&end=2025-05-03T18:00:00Z`;

async function get(server: TestServer, pathAndQuery: string): Promise<any> {
  const res = await request(`${server.baseUrl}${pathAndQuery}`);
  if (res.status !== 200) throw new Error(`GET ${pathAndQuery} → ${res.status} ${res.text}`);
  return res.body;
}

/** Creates a trigger that makes the store refuse any run whose tool is `refused-by-store`. */
async function refuseMarkedRuns(knex: Knex): Promise<void> {
  if (dialectOf(knex) === "pg") {
    await knex.raw(`CREATE FUNCTION refuse_marked_runs() RETURNS trigger AS $$
      BEGIN
        IF NEW.tool = 'refused-by-store' THEN RAISE EXCEPTION 'refused by the test trigger'; END IF;
        RETURN NEW;
      END $$ LANGUAGE plpgsql`);
    await knex.raw("CREATE TRIGGER refuse_marked_runs BEFORE INSERT ON telemetry_events FOR EACH ROW EXECUTE FUNCTION refuse_marked_runs()");
  } else {
    await knex.raw(`CREATE TRIGGER refuse_marked_runs BEFORE INSERT ON telemetry_events
      WHEN NEW.tool = 'refused-by-store' BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END`);
  }
}

/** The batch of `tag`: n runs, the i-th with tokens_in = i, the refused ones marked for the trigger. */
function taggedBatch(tag: string, n: number, refusedAt: number[] = []): { runs: Record<string, unknown>[] } {
  return {
    runs: Array.from({ length: n }, (_, i) => ({
      provider_id: PROVIDERS[i % PROVIDERS.length],
      route: tag,
      tokens_in: i,
      tool: refusedAt.includes(i) ? "refused-by-store" : "t",
      ts: `2025-05-0${1 + (i % 3)}T1${i % 10}:00:00Z`,
    })),
  };
}

/** Checks that the ids are the batch's runs in input order (tokens_in = position, route = tag). */
async function expectBatchStored(knex: Knex, tag: string, ids: number[], n: number): Promise<void> {
  expect(ids).toHaveLength(n);
  expect([...ids].sort((a, b) => a - b)).toEqual(ids);
  const rows: { id: number; tokens_in: number; route: string }[] = await knex("telemetry_events")
    .whereIn("id", ids)
    .select("id", "tokens_in", "route");
  const byId = new Map(rows.map((r) => [Number(r.id), r]));
  ids.forEach((id, i) => {
    expect(byId.get(id)).toMatchObject({ tokens_in: i, route: tag });
  });
  expect(await countRoute(knex, tag)).toBe(n);
}

async function countRoute(knex: Knex, route: string): Promise<number> {
  const row = await knex("telemetry_events").where({ route }).count<{ n: number | string }[]>("* as n").first();
  return Number(row?.n ?? 0);
}

export function storePoolsSuite(label: string, makeStore: StoreFactory): void {
  describe(`${label}: reads beside writes`, () => {
    let server: TestServer;
    let drop: () => Promise<void>;

    beforeAll(async () => {
      const store = await makeStore();
      drop = store.drop;
      server = await startTestServer({ ...store.env, CONSOLE_MCP_DB_READ_POOL: "3" });
    });
    afterAll(async () => {
      await server.stop();
      await drop();
    });

    it("answers every read endpoint while a write transaction holds the writer, without its uncommitted rows", async () => {
      const first = await request(`${server.baseUrl}/telemetry/runs`, { method: "POST", json: taggedBatch("before", 8) });
      expect(first.status).toBe(201);
      const { knex } = knexes(server);
      const trx = await knex.transaction();
      try {
        const ids = await insertTelemetryRows(trx, [rowFromRun(ingestUnitRun("uncommitted"), Date.now())]);
        expect(ids).toHaveLength(1);
        // With one connection for everything these requests would wait for the transaction to end.
        const [metrics, runs, heatmap, timeseries, pareto, sessions, sprints, prs] = await Promise.all([
          get(server, `/telemetry/metrics?${WINDOW}`),
          get(server, "/telemetry/runs?limit=100"),
          get(server, `/telemetry/heatmap?${WINDOW}`),
          get(server, `/telemetry/timeseries?provider_id=gemini&${WINDOW}`),
          get(server, `/telemetry/pareto?${WINDOW}`),
          get(server, "/sessions"),
          get(server, "/telemetry/finops/sprints?window_days=14&limit=4"),
          get(server, "/telemetry/finops/pull-requests?window_days=14&limit=4"),
        ]);
        expect(metrics.total_runs).toBe(8);
        expect(runs.items.map((r: { route: string }) => r.route)).not.toContain("uncommitted");
        expect(runs.items).toHaveLength(8);
        expect(heatmap.buckets.reduce((s: number, b: { run_count: number }) => s + b.run_count, 0)).toBe(8);
        expect(timeseries.items.reduce((s: number, b: { run_count: number }) => s + b.run_count, 0)).toBe(2);
        expect(pareto.items.reduce((s: number, b: { run_count: number }) => s + b.run_count, 0)).toBe(8);
        expect(sessions).toEqual({ sessions: [] });
        expect(Array.isArray(sprints.items)).toBe(true);
        expect(prs).toEqual({ items: [] });
      } finally {
        await trx.commit();
      }
      expect((await get(server, `/telemetry/metrics?${WINDOW}`)).total_runs).toBe(9);
    });

    it("refuses writes through the read pool", async () => {
      const { readKnex } = knexes(server);
      const before = await countRuns(readKnex);
      await expect(readKnex("telemetry_events").insert(rowFromRun(ingestUnitRun("via-read-pool"), Date.now()))).rejects.toThrow(/read-?only/i);
      await expect(readKnex("sessions").delete()).rejects.toThrow(/read-?only/i);
      expect(await countRuns(readKnex)).toBe(before);
    });

    it("answers each read from one snapshot while batches commit: every batch whole or absent, across statements", async () => {
      const base = await get(server, `/telemetry/metrics?${WINDOW}`);
      const errorsOf = (m: { extended: { error_breakdown: { count: number }[] } | null }) =>
        (m.extended?.error_breakdown ?? []).reduce((s, e) => s + e.count, 0);
      const baseErrors = errorsOf(base);
      const batches = Array.from({ length: 16 }, (_, k) => `snap-${k}`);
      let done = false;
      const writes = (async () => {
        try {
          // Pairs of concurrent batches, so groups of several requests commit too.
          for (let k = 0; k < batches.length; k += 2) {
            const answers = await Promise.all(
              [k, k + 1].map((j) => request(`${server.baseUrl}/telemetry/runs`, { method: "POST", json: { runs: snapshotBatch(batches[j], j) } })),
            );
            for (const a of answers) expect(a.status).toBe(201);
          }
        } finally {
          done = true;
        }
      })();
      const problems: string[] = [];
      let reads = 0;
      const reader = async (r: number) => {
        for (let i = 0; !done || i === 0; i++) {
          reads += 1;
          const which = (r + i) % 4;
          if (which === 0) {
            const m = await get(server, `/telemetry/metrics?${WINDOW}`);
            const added = m.total_runs - base.total_runs;
            const providerSum = m.providers.reduce((s: number, p: { run_count: number }) => s + p.run_count, 0);
            const errors = errorsOf(m);
            if (added % N !== 0) problems.push(`metrics saw part of a batch: ${added} runs added`);
            if (providerSum !== m.total_runs) problems.push(`metrics providers ${providerSum} ≠ total ${m.total_runs}`);
            if ((errors - baseErrors) * N !== added * E) problems.push(`metrics errors ${errors - baseErrors} for ${added} runs added`);
          } else if (which === 1) {
            const h = await get(server, `/telemetry/heatmap?${WINDOW}`);
            const total = h.buckets.reduce((s: number, b: { run_count: number }) => s + b.run_count, 0);
            if ((total - base.total_runs) % N !== 0) problems.push(`heatmap saw part of a batch: ${total}`);
          } else if (which === 2) {
            // A batch spreads its runs over the providers: its route's counts add up to N.
            const p = await get(server, `/telemetry/pareto?${WINDOW}`);
            const snap = (p.items as { route: string | null; run_count: number }[])
              .filter((item) => item.route?.startsWith("snap-"))
              .reduce((acc, item) => acc.set(item.route as string, (acc.get(item.route as string) ?? 0) + item.run_count), new Map<string, number>());
            for (const [route, count] of snap) if (count !== N) problems.push(`pareto saw ${count} runs of ${route}`);
          } else {
            const tag = batches[(r * 5 + i) % batches.length];
            const runs = await get(server, `/telemetry/runs?route=${tag}&limit=100`);
            if (runs.items.length !== 0 && runs.items.length !== N) problems.push(`runs saw ${runs.items.length} runs of ${tag}`);
          }
        }
      };
      await Promise.all([writes, ...[0, 1, 2, 3, 4, 5].map(reader)]);
      expect(problems).toEqual([]);
      expect(reads).toBeGreaterThan(6);
      const after = await get(server, `/telemetry/metrics?${WINDOW}`);
      expect(after.total_runs).toBe(base.total_runs + batches.length * N);
    });
  });

  describe(`${label}: ingestion stays all or nothing under concurrency`, () => {
    let server: TestServer;
    let drop: () => Promise<void>;

    beforeAll(async () => {
      const store = await makeStore();
      drop = store.drop;
      server = await startTestServer({ SERVICES: "api,providers,telemetry", ...store.env });
      await refuseMarkedRuns(knexes(server).knex);
    });
    afterAll(async () => {
      await server.stop();
      await drop();
    });

    it("stores every concurrent request that the store accepts and nothing of those it refuses", async () => {
      const { knex } = knexes(server);
      const before = await countRuns(knex);
      const refused = new Set([3, 8, 9, 15]);
      const tags = Array.from({ length: 20 }, (_, k) => `group-${k}`);
      // Submitted in one go: the first request takes the writer, the others queue and share groups.
      const answers = await Promise.allSettled(
        tags.map((tag, k) =>
          server.broker.call<{ inserted: number; ids: number[] }, unknown>(
            "telemetry.ingest",
            taggedBatch(tag, 12 + k, refused.has(k) ? [k % 12] : []),
          ),
        ),
      );
      for (const [k, answer] of answers.entries()) {
        if (refused.has(k)) {
          expect(answer.status).toBe("rejected");
          expect(String((answer as PromiseRejectedResult).reason)).toMatch(/refused by the test trigger/);
          expect(await countRoute(knex, tags[k])).toBe(0);
        } else {
          expect(answer.status).toBe("fulfilled");
          const value = (answer as PromiseFulfilledResult<{ inserted: number; ids: number[] }>).value;
          expect(value.inserted).toBe(12 + k);
          await expectBatchStored(knex, tags[k], value.ids, 12 + k);
        }
      }
      const stored = tags.reduce((sum, _, k) => sum + (refused.has(k) ? 0 : 12 + k), 0);
      expect(await countRuns(knex)).toBe(before + stored);
      // The rollup holds exactly the stored runs: whole days of the API equal the raw rows.
      const metrics = await get(server, "/telemetry/metrics?start=2025-05-01T00:00:00Z&end=2025-05-03T23:59:59.999Z");
      expect(metrics.total_runs).toBe(before + stored);
    });

    it("stores text and numbers exactly as sent, whatever characters the text holds (PostgreSQL binds them as arrays)", async () => {
      const { knex } = knexes(server);
      const awkward = ["NULL", "a,b", "{x}", 'say "hi"', "back\\slash", "it's", "tab\tnew\nline", "ünï©ødé 🚀", "\\N", 'a{b"c}d'];
      const runs = awkward.map((text, i) => ({
        provider_id: "gemini",
        tool: text,
        route: `exact-${i}`,
        experiment_cohort: text,
        metadata: { note: text, nested: { list: [text, null, 1.5] } },
        tokens_in: Number.MAX_SAFE_INTEGER - i,
        cost_usd: i === 0 ? null : 1 / (i + 2),
        ts: "2025-05-02T08:00:00.123Z",
      }));
      const res = await request(`${server.baseUrl}/telemetry/runs`, { method: "POST", json: { runs } });
      expect(res.status).toBe(201);
      const rows: Record<string, unknown>[] = await knex("telemetry_events").whereIn("id", res.body.ids).orderBy("id");
      rows.forEach((row, i) => {
        expect(row).toMatchObject({
          tool: runs[i].tool,
          route: `exact-${i}`,
          experiment_cohort: awkward[i],
          tokens_in: Number.MAX_SAFE_INTEGER - i,
          cost_usd: runs[i].cost_usd,
          ts: "2025-05-02T08:00:00.123Z",
        });
        expect(JSON.parse(String(row.metadata))).toEqual(runs[i].metadata);
      });
    });

    it("over HTTP: concurrent batches, one refused by the store, one reusing a key with another body", async () => {
      const { knex } = knexes(server);
      const key = { "Idempotency-Key": "pools-key-1" };
      const posts = [
        ...Array.from({ length: 6 }, (_, k) => ({ json: taggedBatch(`http-${k}`, 25), headers: {} as Record<string, string> })),
        { json: taggedBatch("http-refused", 25, [24]), headers: {} },
        { json: taggedBatch("http-key", 25), headers: key },
        { json: taggedBatch("http-key-other", 25), headers: key },
      ];
      const answers = await Promise.all(
        posts.map((p) => request(`${server.baseUrl}/telemetry/runs`, { method: "POST", json: p.json, headers: p.headers })),
      );
      for (let k = 0; k < 6; k++) {
        expect(answers[k].status).toBe(201);
        await expectBatchStored(knex, `http-${k}`, answers[k].body.ids, 25);
      }
      expect(answers[6].status).toBe(500);
      expect(await countRoute(knex, "http-refused")).toBe(0);
      // One of the two requests with the key stores its batch; the other gets a 422 and stores nothing.
      const keyed = [answers[7], answers[8]];
      expect(keyed.map((a) => a.status).sort()).toEqual([201, 422]);
      const winner = answers[7].status === 201 ? "http-key" : "http-key-other";
      const loser = winner === "http-key" ? "http-key-other" : "http-key";
      await expectBatchStored(knex, winner, keyed.find((a) => a.status === 201)!.body.ids, 25);
      expect(await countRoute(knex, loser)).toBe(0);
    });
  });

  describe(`${label}: a group of ingestion requests in the store`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      while (cleanups.length > 0) await cleanups.pop()?.();
    });

    async function freshKnex(): Promise<Knex> {
      const store = await makeStore();
      const dir = tempDir("console-mcp-pools-");
      const k = createKnex({ dbUrl: store.env.CONSOLE_MCP_DB_URL ?? null, dbPath: path.join(dir, "console.db") });
      cleanups.push(async () => {
        await k.destroy();
        await store.drop();
        fs.rmSync(dir, { recursive: true, force: true });
      });
      await migrateToLatest(k);
      return k;
    }

    it("settles each unit of a group: ids in order per unit, a replayed key, a reused key, a refused unit", async () => {
      const k = await freshKnex();
      await refuseMarkedRuns(k);
      const nowMs = Date.parse("2025-05-04T00:00:00Z");
      const first = ingestUnit(taggedBatch("u-keyed", 4), { idempotencyKey: "k1", nowMs });
      const [settledFirst] = await writeIngestGroup(k, [first]);
      expect(settledFirst.ok).toBe(true);
      const units: IngestUnit[] = [
        ingestUnit(taggedBatch("u-a", 5), { nowMs }),
        ingestUnit(taggedBatch("u-keyed", 4), { idempotencyKey: "k1", nowMs }), // same key, same body: replay
        ingestUnit(taggedBatch("u-b", 7), { idempotencyKey: "k2", nowMs }),
        ingestUnit(taggedBatch("u-other", 4), { idempotencyKey: "k1", nowMs }), // same key, another body: 422
        ingestUnit(taggedBatch("u-c", 3), { nowMs }),
      ];
      expect(units.every((u) => u.request.route === INGEST_ROUTE)).toBe(true);
      const settled = await writeIngestGroup(k, units);
      const value = (i: number) => (settled[i] as { ok: true; value: { status: number; body: { ids: number[] }; replayed: boolean } }).value;
      expect(settled.map((s) => s.ok)).toEqual([true, true, true, false, true]);
      await expectBatchStored(k, "u-a", value(0).body.ids, 5);
      expect(value(1)).toEqual({ ...(settledFirst as { ok: true; value: object }).value, replayed: true });
      await expectBatchStored(k, "u-b", value(2).body.ids, 7);
      expect((settled[3] as { ok: false; error: { code?: number } }).error.code).toBe(422);
      expect(await countRoute(k, "u-other")).toBe(0);
      await expectBatchStored(k, "u-c", value(4).body.ids, 3);
      expect(value(2).body.ids[0]).toBeGreaterThan(value(0).body.ids[4]);
      expect(value(4).body.ids[0]).toBeGreaterThan(value(2).body.ids[6]);
      // k2's answer is recorded: its retry is a replay.
      const [retry] = await writeIngestGroup(k, [ingestUnit(taggedBatch("u-b", 7), { idempotencyKey: "k2", nowMs })]);
      expect(retry).toEqual({ ok: true, value: { ...value(2), replayed: true } });
      expect(await countRoute(k, "u-b")).toBe(7);

      // A unit the store refuses fails alone; the group's other units are written again and stored.
      const withRefused = [
        ingestUnit(taggedBatch("v-a", 6), { nowMs }),
        ingestUnit(taggedBatch("v-refused", 6, [2]), { nowMs }),
        ingestUnit(taggedBatch("v-keyed", 6), { idempotencyKey: "k3", nowMs }),
      ];
      const again = await writeIngestGroup(k, withRefused);
      expect(again.map((s) => s.ok)).toEqual([true, false, true]);
      expect(String((again[1] as { ok: false; error: unknown }).error)).toMatch(/refused by the test trigger/);
      expect(await countRoute(k, "v-refused")).toBe(0);
      await expectBatchStored(k, "v-a", (again[0] as { ok: true; value: { body: { ids: number[] } } }).value.body.ids, 6);
      await expectBatchStored(k, "v-keyed", (again[2] as { ok: true; value: { body: { ids: number[] } } }).value.body.ids, 6);
      // The refused unit's key was never recorded, so k3's record is the stored batch's.
      const [k3] = await writeIngestGroup(k, [ingestUnit(taggedBatch("v-keyed", 6), { idempotencyKey: "k3", nowMs })]);
      expect(k3.ok && (k3.value as { replayed: boolean }).replayed).toBe(true);
    });
  });

  describe(`${label}: closing the store`, () => {
    it("closes the writer and every read connection when the last store service stops", async () => {
      const store = await makeStore();
      const dir = tempDir("console-mcp-close-");
      const dbPath = path.join(dir, "console.db");
      const config = loadConfig(
        {
          CONSOLE_MCP_DB_PATH: dbPath,
          CONSOLE_MCP_SEED: "none",
          CONSOLE_MCP_SERVER_PORT: "0",
          CONSOLE_MCP_SERVER_HOST: "127.0.0.1",
          CONSOLE_MCP_DB_READ_POOL: "4",
          ...store.env,
        },
        "development",
      );
      const broker = createBroker(config, { logger: false });
      await broker.start();
      try {
        // Open several read connections at once, and write.
        await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            i % 4 === 0 ? broker.call("telemetry.ingest", taggedBatch(`close-${i}`, 3)) : broker.call("telemetry.metrics", {}),
          ),
        );
        await broker.call("sessions.list", {});
        // The writer and more than one read connection (eight calls at once on a pool of four).
        expect(await openConnections(config.store.dbUrl, dbPath)).toBeGreaterThanOrEqual(3);
        // One store service stops: the others keep the shared connections.
        await broker.destroyService("telemetry");
        expect(await broker.call("sessions.list", {})).toEqual({ sessions: [] });
        expect(await broker.call("finops.sprints", {})).toHaveProperty("items");
        await broker.stop();
        expect(await waitForNoConnections(config.store.dbUrl, dbPath)).toBe(0);
      } finally {
        await broker.stop().catch(() => undefined);
        await store.drop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

/** A run body in the validated form, for writes that bypass the API. */
function ingestUnitRun(route: string) {
  return {
    provider_id: "gemini",
    tool: "t",
    route,
    tokens_in: 1,
    tokens_out: 1,
    duration_ms: 1,
    status: "success",
    cost_usd: null,
    metadata: {},
    ts_ms: Date.parse("2025-05-02T12:00:00Z"),
    experiment_cohort: null,
    experiment_tag: null,
  };
}

/**
 * Open connections to the store: on PostgreSQL the other sessions of its database; on SQLite the
 * file descriptors of this process open on the database file (each connection holds one; Linux).
 */
async function openConnections(dbUrl: string | null, dbPath: string): Promise<number> {
  if (dbUrl === null) {
    let n = 0;
    for (const fd of fs.readdirSync("/proc/self/fd")) {
      try {
        if (fs.readlinkSync(`/proc/self/fd/${fd}`) === dbPath) n += 1;
      } catch {
        // closed meanwhile
      }
    }
    return n;
  }
  const client = new Client({ connectionString: dbUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    );
    return Number(rows[0].n);
  } finally {
    await client.end();
  }
}

/** Waits (at most 10 s) until the store has no connection left; answers the last count. */
async function waitForNoConnections(dbUrl: string | null, dbPath: string): Promise<number> {
  const deadline = Date.now() + 10000;
  let n = await openConnections(dbUrl, dbPath);
  while (n > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    n = await openConnections(dbUrl, dbPath);
  }
  return n;
}
