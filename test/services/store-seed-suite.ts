/**
 * The store seeding suite (§4), shared by the SQLite run (test/services/store-seed.test.ts) and the
 * PostgreSQL run (test/pg/telemetry-ingest-seed.test.ts). Brokers start with the real services on a
 * shared store; fixtures are written to temporary directories (and the shipped ones are used too).
 */
import fs from "node:fs";
import path from "node:path";
import type { Knex } from "knex";
import type { Context, ServiceBroker } from "moleculer";
import { loadConfig, PROJECT_ROOT } from "../../lib/config";
import { createBroker } from "../../lib/server";
import { createKnex } from "../../lib/store/knex";
import { migrateToLatest } from "../../lib/store/migrate";
import { seedStore } from "../../lib/store/seed";
import { TestServer, startTestServer, tempDir } from "../helpers/server";
import type { StoreFactory } from "../http/telemetry-ingest-suite";
import { countRuns, storeOf } from "../http/telemetry-ingest-suite";

const SERVICES = "providers,sessions,telemetry";
const SHIPPED_FIXTURES = path.join(PROJECT_ROOT, "fixtures");

function writeFixtures(files: Record<string, unknown>): string {
  const dir = tempDir("console-mcp-fixtures-");
  for (const [name, content] of Object.entries(files)) {
    fs.writeFileSync(path.join(dir, name), typeof content === "string" ? content : JSON.stringify(content));
  }
  return dir;
}

async function countRows(knex: Knex, table: string): Promise<number> {
  const row = await knex(table).count<{ n: number | string }[]>("* as n").first();
  return Number(row?.n ?? 0);
}

async function markers(knex: Knex): Promise<{ key: string; applied_at: string }[]> {
  return knex("seed_state").select("key", "applied_at");
}

function shippedRunCount(): number {
  return JSON.parse(fs.readFileSync(path.join(SHIPPED_FIXTURES, "telemetry_runs.json"), "utf8")).runs.length;
}

const SHIFT_RUNS = {
  runs: [
    {
      provider_id: "codex",
      route: "economy",
      ts: "2025-03-07T20:15:12.250Z",
      tokens_in: 1,
      status: "tool_error",
      metadata: { error: "Missing repo permissions" },
      id: 99,
      provider_name: "ignored",
      lane: "turbo",
    },
    { provider_id: "glm46", route: "balanced", ts: "2025-03-07T21:45:12Z", tokens_in: 2, cost_usd: 0.082 },
    { provider_id: "claude", route: "turbo", ts: "2025-03-05T21:43:48.001+02:00", tokens_in: 3, cost_usd: null },
  ],
};
const SHIFT_PRS = {
  items: [
    {
      id: "pr-1298",
      title: "Optimize prompt caching",
      owner: "joana.santos",
      merged_at: "2025-03-01T15:22:04Z",
      provider_id: "glm46",
      route: "balanced",
      cost_impact_usd: 3,
      status: "regression",
      summary: "ignored",
    },
    { id: "pr-1291", title: "Failover", owner: null, merged_at: "2025-02-27T11:04:44.5Z", provider_id: "codex", route: " " },
  ],
};

export function seedSuite(label: string, makeStore: StoreFactory): void {
  describe(`${label}: store seeding (§4)`, () => {
    const cleanups: (() => Promise<void> | void)[] = [];
    afterEach(async () => {
      while (cleanups.length > 0) await cleanups.pop()?.();
    });

    /** A fresh, empty store; its env for every broker of the test. */
    async function freshStore(): Promise<Record<string, string>> {
      const store = await makeStore();
      const dir = tempDir("console-mcp-store-");
      cleanups.push(async () => {
        await store.drop();
        fs.rmSync(dir, { recursive: true, force: true });
      });
      return { CONSOLE_MCP_DB_PATH: path.join(dir, "shared.db"), ...store.env };
    }

    async function start(storeEnv: Record<string, string>, env: Record<string, string> = {}): Promise<TestServer> {
      return startTestServer({ SERVICES, CONSOLE_MCP_SEED: "fixtures", ...storeEnv, ...env });
    }

    it("seeds the shipped fixtures: every run and pull request, the newest run at the seeding instant", async () => {
      const storeEnv = await freshStore();
      const server = await start(storeEnv, { CONSOLE_MCP_FIXTURES_DIR: SHIPPED_FIXTURES });
      try {
        const knex = storeOf(server);
        expect(await countRuns(knex)).toBe(shippedRunCount());
        expect(await countRows(knex, "pull_requests")).toBeGreaterThanOrEqual(6);
        const [marker] = await markers(knex);
        const newest = await knex("telemetry_events").max<{ ts: string }[]>("ts as ts").first();
        expect(newest?.ts).toBe(marker.applied_at);
        expect(Math.abs(Date.parse(marker.applied_at) - Date.now())).toBeLessThan(60000);
      } finally {
        await server.stop();
      }
    });

    it("moves runs and merges by T − N, keeping spacing, file order, and ignoring extra keys", async () => {
      const storeEnv = await freshStore();
      const fixtures = writeFixtures({ "telemetry_runs.json": SHIFT_RUNS, "finops_pull_requests.json": SHIFT_PRS });
      cleanups.push(() => fs.rmSync(fixtures, { recursive: true, force: true }));
      const server = await start(storeEnv, { CONSOLE_MCP_FIXTURES_DIR: fixtures });
      try {
        const knex = storeOf(server);
        const [marker] = await markers(knex);
        expect(marker.key).toBe("fixtures");
        const T = Date.parse(marker.applied_at);
        const offset = T - Date.parse("2025-03-07T21:45:12Z");
        const runs = await knex("telemetry_events").orderBy("id", "asc");
        expect(runs.map((r) => Number(r.tokens_in))).toEqual([1, 2, 3]); // file order = id order
        expect(runs.map((r) => r.ts)).toEqual([
          new Date(Date.parse("2025-03-07T20:15:12.250Z") + offset).toISOString(),
          marker.applied_at,
          new Date(Date.parse("2025-03-05T19:43:48.001Z") + offset).toISOString(),
        ]);
        expect(runs.map((r) => r.day)).toEqual(runs.map((r) => r.ts.slice(0, 10)));
        expect(runs[0]).toMatchObject({ provider_id: "codex", status: "tool_error", error_category: "Missing Repo Permissions" });
        expect(runs.every((r) => r.ingested_at === marker.applied_at)).toBe(true);
        const prs = await knex("pull_requests").orderBy("id", "desc");
        expect(prs).toEqual([
          {
            id: "pr-1298",
            title: "Optimize prompt caching",
            owner: "joana.santos",
            provider_id: "glm46",
            route: "balanced",
            merged_at: new Date(Date.parse("2025-03-01T15:22:04Z") + offset).toISOString(),
            created_at: marker.applied_at,
          },
          {
            id: "pr-1291",
            title: "Failover",
            owner: "\u2014",
            provider_id: "codex",
            route: null,
            merged_at: new Date(Date.parse("2025-02-27T11:04:44.500Z") + offset).toISOString(),
            created_at: marker.applied_at,
          },
        ]);
      } finally {
        await server.stop();
      }
    });

    it("shifts by the newest merge when there are no seed runs", async () => {
      const storeEnv = await freshStore();
      const fixtures = writeFixtures({ "finops_pull_requests.json": SHIFT_PRS });
      cleanups.push(() => fs.rmSync(fixtures, { recursive: true, force: true }));
      const server = await start(storeEnv, { CONSOLE_MCP_FIXTURES_DIR: fixtures });
      try {
        const knex = storeOf(server);
        const [marker] = await markers(knex);
        expect(await countRuns(knex)).toBe(0);
        const prs = await knex("pull_requests").orderBy("merged_at", "desc");
        expect(prs.map((p) => p.merged_at)).toEqual([
          marker.applied_at,
          new Date(Date.parse(marker.applied_at) - (Date.parse("2025-03-01T15:22:04Z") - Date.parse("2025-02-27T11:04:44.5Z"))).toISOString(),
        ]);
      } finally {
        await server.stop();
      }
    });

    it("seeds once: a restart after the data was removed seeds nothing again", async () => {
      const storeEnv = await freshStore();
      const fixtures = writeFixtures({ "telemetry_runs.json": SHIFT_RUNS, "finops_pull_requests.json": SHIFT_PRS });
      cleanups.push(() => fs.rmSync(fixtures, { recursive: true, force: true }));
      const first = await start(storeEnv, { CONSOLE_MCP_FIXTURES_DIR: fixtures });
      const firstMarkers = await markers(storeOf(first));
      expect(await countRuns(storeOf(first))).toBe(3);
      await storeOf(first)("telemetry_events").delete();
      await storeOf(first)("pull_requests").delete();
      await first.stop();
      for (let restart = 0; restart < 2; restart++) {
        const again = await start(storeEnv, { CONSOLE_MCP_FIXTURES_DIR: fixtures });
        try {
          expect(await countRuns(storeOf(again))).toBe(0);
          expect(await countRows(storeOf(again), "pull_requests")).toBe(0);
          expect(await markers(storeOf(again))).toEqual(firstMarkers);
        } finally {
          await again.stop();
        }
      }
    });

    it("writes the marker only when the store already has runs", async () => {
      const storeEnv = await freshStore();
      const plain = await start(storeEnv, { CONSOLE_MCP_SEED: "none" });
      try {
        await plain.broker.call("telemetry.ingest", { provider_id: "existing", ts: "2024-01-01T00:00:00Z" });
        expect(await markers(storeOf(plain))).toEqual([]);
      } finally {
        await plain.stop();
      }
      const seeded = await start(storeEnv, { CONSOLE_MCP_FIXTURES_DIR: SHIPPED_FIXTURES });
      try {
        const knex = storeOf(seeded);
        expect(await knex("telemetry_events").select("provider_id")).toEqual([{ provider_id: "existing" }]);
        expect(await countRows(knex, "pull_requests")).toBe(0);
        expect((await markers(knex)).map((m) => m.key)).toEqual(["fixtures"]);
      } finally {
        await seeded.stop();
      }
    });

    it("writes the marker only when the store already has pull requests", async () => {
      const storeEnv = await freshStore();
      const plain = await start(storeEnv, { CONSOLE_MCP_SEED: "none" });
      try {
        await storeOf(plain)("pull_requests").insert({
          id: "pr-1",
          title: "t",
          owner: "o",
          merged_at: "2024-01-01T00:00:00.000Z",
          provider_id: "p",
          route: null,
          created_at: "2024-01-01T00:00:00.000Z",
        });
      } finally {
        await plain.stop();
      }
      const seeded = await start(storeEnv, { CONSOLE_MCP_FIXTURES_DIR: SHIPPED_FIXTURES });
      try {
        expect(await countRuns(storeOf(seeded))).toBe(0);
        expect(await countRows(storeOf(seeded), "pull_requests")).toBe(1);
        expect(await markers(storeOf(seeded))).toHaveLength(1);
      } finally {
        await seeded.stop();
      }
    });

    it("seeds nothing and writes no marker with CONSOLE_MCP_SEED=none", async () => {
      const storeEnv = await freshStore();
      const server = await start(storeEnv, { CONSOLE_MCP_SEED: "none", CONSOLE_MCP_FIXTURES_DIR: SHIPPED_FIXTURES });
      try {
        expect(await countRuns(storeOf(server))).toBe(0);
        expect(await countRows(storeOf(server), "pull_requests")).toBe(0);
        expect(await markers(storeOf(server))).toEqual([]);
      } finally {
        await server.stop();
      }
    });

    it("treats a missing fixtures directory as nothing to seed (the marker is written)", async () => {
      const storeEnv = await freshStore();
      const parent = tempDir();
      cleanups.push(() => fs.rmSync(parent, { recursive: true, force: true }));
      const server = await start(storeEnv, { CONSOLE_MCP_FIXTURES_DIR: path.join(parent, "does-not-exist") });
      try {
        expect(await countRuns(storeOf(server))).toBe(0);
        expect(await markers(storeOf(server))).toHaveLength(1);
      } finally {
        await server.stop();
      }
    });

    /** Starts a broker that is expected to fail; returns the error and the store config. */
    async function startupFailure(storeEnv: Record<string, string>, fixtures: string) {
      const config = loadConfig(
        { SERVICES, CONSOLE_MCP_SEED: "fixtures", CONSOLE_MCP_FIXTURES_DIR: fixtures, CONSOLE_MCP_SERVER_PORT: "0", ...storeEnv },
        "development",
      );
      const broker = createBroker(config, { logger: false });
      let failure: unknown;
      try {
        await broker.start();
      } catch (err) {
        failure = err;
      } finally {
        await broker.stop().catch(() => undefined);
      }
      expect(failure).toBeInstanceOf(Error);
      return { message: (failure as Error).message, config };
    }

    it.each([
      ["telemetry_runs.json", { runs: [SHIFT_RUNS.runs[0], SHIFT_RUNS.runs[1], { provider_id: "p" }] }, 2, "ts"],
      ["telemetry_runs.json", { items: [SHIFT_RUNS.runs[0], { provider_id: "p", ts: "2025-01-01", tokens_in: 1.5 }] }, 1, "tokens_in"],
      ["finops_pull_requests.json", { pull_requests: [SHIFT_PRS.items[0], { id: "x", title: "t", provider_id: "p" }] }, 1, "merged_at"],
      ["finops_pull_requests.json", { items: [SHIFT_PRS.items[0], SHIFT_PRS.items[0]] }, 1, "id"],
    ])("fails startup on an invalid element of %s, naming the file and the index", async (file, content, index, field) => {
      const storeEnv = await freshStore();
      const fixtures = writeFixtures({ [file]: content });
      cleanups.push(() => fs.rmSync(fixtures, { recursive: true, force: true }));
      const { message, config } = await startupFailure(storeEnv, fixtures);
      expect(message).toContain(path.join(fixtures, file));
      expect(message).toContain(`element ${index}`);
      expect(message).toContain(field);
      // Nothing was decided: the store holds no marker and no row.
      const knex = createKnex(config.store);
      try {
        expect(await markers(knex)).toEqual([]);
        expect(await countRuns(knex)).toBe(0);
      } finally {
        await knex.destroy();
      }
    });

    it("fails startup on a fixture file that is not JSON or has no runs/items array", async () => {
      for (const content of ['{"runs": [', { data: [] }, [{ provider_id: "p", ts: "2025-01-01" }]]) {
        const storeEnv = await freshStore();
        const fixtures = writeFixtures({ "telemetry_runs.json": content });
        cleanups.push(() => fs.rmSync(fixtures, { recursive: true, force: true }));
        const { message } = await startupFailure(storeEnv, fixtures);
        expect(message).toContain(path.join(fixtures, "telemetry_runs.json"));
      }
    });

    it("rolls everything back when seeding fails midway", async () => {
      const storeEnv = await freshStore();
      const config = loadConfig({ CONSOLE_MCP_SERVER_PORT: "0", ...storeEnv }, "development");
      const knex = createKnex(config.store);
      try {
        await migrateToLatest(knex);
        // The pull requests insert (after the runs) fails: its table is gone.
        await knex.schema.renameTable("pull_requests", "pull_requests_away");
        await expect(seedStore(knex, SHIPPED_FIXTURES)).rejects.toThrow();
        await knex.schema.renameTable("pull_requests_away", "pull_requests");
        expect(await countRuns(knex)).toBe(0);
        expect(await markers(knex)).toEqual([]);
        // A later attempt seeds normally, at the instant given by its clock.
        const T = Date.parse("2030-06-01T12:00:00.123Z");
        expect(await seedStore(knex, SHIPPED_FIXTURES, () => T)).toBe("seeded");
        expect(await countRuns(knex)).toBe(shippedRunCount());
        const newest = await knex("telemetry_events").max<{ ts: string }[]>("ts as ts").first();
        expect(newest?.ts).toBe("2030-06-01T12:00:00.123Z");
        expect(await seedStore(knex, SHIPPED_FIXTURES, () => T)).toBe("already-decided");
      } finally {
        await knex.destroy();
      }
    });

    it("does not publish seeded runs as telemetry.run.recorded", async () => {
      const storeEnv = await freshStore();
      const config = loadConfig(
        { SERVICES, CONSOLE_MCP_SEED: "fixtures", CONSOLE_MCP_FIXTURES_DIR: SHIPPED_FIXTURES, CONSOLE_MCP_SERVER_PORT: "0", ...storeEnv },
        "development",
      );
      const broker: ServiceBroker = createBroker(config, { logger: false });
      const received: unknown[] = [];
      broker.createService({
        name: "run-listener",
        events: {
          "telemetry.run.recorded"(ctx: Context) {
            received.push(ctx.params);
          },
        },
      });
      await broker.start();
      try {
        const knex = (broker.getLocalService("telemetry") as unknown as { knex: Knex }).knex;
        expect(await countRuns(knex)).toBe(shippedRunCount());
        // An ingested run is published, so the listener works; the seeded ones never were.
        await broker.call("telemetry.ingest", { provider_id: "gemini" });
        const deadline = Date.now() + 5000;
        while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        await new Promise((r) => setTimeout(r, 100));
        expect(received).toHaveLength(1);
      } finally {
        await broker.stop();
      }
    });

    it("seeds exactly once when two brokers start together on one empty store", async () => {
      const storeEnv = await freshStore();
      const env = { CONSOLE_MCP_FIXTURES_DIR: SHIPPED_FIXTURES };
      // Each broker runs two store-owning services, so four seeders race for the same store.
      const servers = await Promise.all([start(storeEnv, env), start(storeEnv, env)]);
      try {
        for (const server of servers) {
          const knex = storeOf(server);
          expect(await countRuns(knex)).toBe(shippedRunCount());
          expect(await markers(knex)).toHaveLength(1);
        }
        const prCount = JSON.parse(fs.readFileSync(path.join(SHIPPED_FIXTURES, "finops_pull_requests.json"), "utf8")).pull_requests.length;
        expect(await countRows(storeOf(servers[0]), "pull_requests")).toBe(prCount);
      } finally {
        for (const server of servers) await server.stop();
      }
    });
  });
}
