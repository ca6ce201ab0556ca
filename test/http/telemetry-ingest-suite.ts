/**
 * The ingestion suite (POST /telemetry/runs, action telemetry.ingest, event telemetry.run.recorded)
 * over real HTTP, shared by the SQLite run (test/http/telemetry-ingest.test.ts) and the PostgreSQL
 * run (test/pg/telemetry-ingest-seed.test.ts).
 */
import type { Knex } from "knex";
import type { Context } from "moleculer";
import { TestServer, request, startTestServer } from "../helpers/server";

/** Extra environment selecting the store (nothing for a temporary SQLite file) and its cleanup. */
export type StoreFactory = () => Promise<{ env: Record<string, string>; drop: () => Promise<void> }>;

export const INGEST_SERVICES = "api,providers,telemetry";

export function storeOf(server: TestServer): Knex {
  return (server.broker.getLocalService("telemetry") as unknown as { knex: Knex }).knex;
}

export async function countRuns(knex: Knex): Promise<number> {
  const row = await knex("telemetry_events").count<{ n: number | string }[]>("* as n").first();
  return Number(row?.n ?? 0);
}

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function postRuns(server: TestServer, body: unknown) {
  return request(`${server.baseUrl}/telemetry/runs`, { method: "POST", json: body });
}

export function ingestSuite(label: string, makeStore: StoreFactory): void {
  describe(`${label}: POST /telemetry/runs (§11)`, () => {
    let server: TestServer;
    let drop: () => Promise<void>;
    let knex: Knex;
    const received: Record<string, unknown>[] = [];

    beforeAll(async () => {
      const store = await makeStore();
      drop = store.drop;
      server = await startTestServer({ SERVICES: INGEST_SERVICES, ...store.env });
      knex = storeOf(server);
      // Another local service listening to the event, as any consumer of the broker would.
      await server.broker.createService({
        name: "run-listener",
        events: {
          "telemetry.run.recorded"(ctx: Context<Record<string, unknown>>) {
            received.push(ctx.params);
          },
        },
      });
      await server.broker.waitForServices(["run-listener"]);
    });
    afterAll(async () => {
      await server.stop();
      await drop();
    });

    it("stores a single run with defaults and derived columns, answering 201 {inserted, ids}", async () => {
      const res = await postRuns(server, {
        provider_id: " glm46 ",
        route: "balanced",
        tokens_in: 1289,
        tokens_out: 972.0,
        duration_ms: 842,
        status: "Rate_Limit",
        cost_usd: 0.082,
        ts: "2025-03-07T21:45:12Z",
        metadata: { error: { code: 429 }, cache: { hit: true, tokens: 150 }, project: "p" },
        unknown_key: 1,
      });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ inserted: 1, ids: [expect.any(Number)] });
      const row = await knex("telemetry_events").where({ id: res.body.ids[0] }).first();
      expect(row).toMatchObject({
        provider_id: "glm46",
        tool: "unknown",
        route: "balanced",
        tokens_in: 1289,
        tokens_out: 972,
        duration_ms: 842,
        status: "rate_limit",
        cost_usd: 0.082,
        ts: "2025-03-07T21:45:12.000Z",
        day: "2025-03-07",
        is_success: 0,
        error_category: "429",
        cache_hit: 1,
        cached_tokens: 150,
        experiment_cohort: null,
        experiment_tag: null,
      });
      expect(JSON.parse(row.metadata)).toEqual({ error: { code: 429 }, cache: { hit: true, tokens: 150 }, project: "p" });
    });

    it("uses the request time when ts is null or absent", async () => {
      const before = Date.now();
      const res = await postRuns(server, { runs: [{ provider_id: "codex" }, { provider_id: "codex", ts: null }] });
      const after = Date.now();
      expect(res.status).toBe(201);
      const rows = await knex("telemetry_events").whereIn("id", res.body.ids).orderBy("id");
      for (const row of rows) {
        expect(Date.parse(row.ts)).toBeGreaterThanOrEqual(before);
        expect(Date.parse(row.ts)).toBeLessThanOrEqual(after);
        expect(row.ts).toBe(row.ingested_at);
      }
    });

    it("answers ids in input order for a batch spanning several insert chunks", async () => {
      const runs = Array.from({ length: 1203 }, (_, i) => ({ provider_id: `p${i % 7}`, tokens_in: i, ts: 1741383912 - i }));
      const res = await postRuns(server, { runs });
      expect(res.status).toBe(201);
      expect(res.body.inserted).toBe(1203);
      expect(res.body.ids).toHaveLength(1203);
      expect(new Set(res.body.ids).size).toBe(1203);
      const rows: { id: number; tokens_in: number; provider_id: string }[] = await knex("telemetry_events")
        .whereIn("id", res.body.ids)
        .select("id", "tokens_in", "provider_id");
      const byId = new Map(rows.map((r) => [Number(r.id), r]));
      res.body.ids.forEach((id: number, i: number) => {
        expect(byId.get(id)?.tokens_in).toBe(i);
        expect(byId.get(id)?.provider_id).toBe(`p${i % 7}`);
      });
    });

    it("keeps each batch's ids in its own order when batches are ingested concurrently", async () => {
      const batch = (tag: string) => Array.from({ length: 450 }, (_, i) => ({ provider_id: tag, tokens_out: i }));
      const answers = await Promise.all(["c1", "c2", "c3"].map((tag) => postRuns(server, { runs: batch(tag) })));
      const all = new Set<number>();
      for (const [k, res] of answers.entries()) {
        expect(res.status).toBe(201);
        const rows: { id: number; tokens_out: number; provider_id: string }[] = await knex("telemetry_events")
          .whereIn("id", res.body.ids)
          .select("id", "tokens_out", "provider_id");
        const byId = new Map(rows.map((r) => [Number(r.id), r]));
        res.body.ids.forEach((id: number, i: number) => {
          expect(byId.get(id)).toMatchObject({ tokens_out: i, provider_id: `c${k + 1}` });
          all.add(id);
        });
      }
      expect(all.size).toBe(1350);
    });

    it("stores nothing when one run of a batch is invalid (422 naming the item)", async () => {
      const before = await countRuns(knex);
      const res = await postRuns(server, {
        runs: [{ provider_id: "gemini" }, { provider_id: "gemini", tokens_in: 5.5 }, { provider_id: "gemini", metadata: [] }],
      });
      expect(res.status).toBe(422);
      expect(res.body.detail.map((d: { loc: unknown }) => d.loc)).toEqual([
        ["body", "runs", 1, "tokens_in"],
        ["body", "runs", 2, "metadata"],
      ]);
      expect(await countRuns(knex)).toBe(before);
    });

    it("names the field of a single invalid run with loc [body, field]", async () => {
      const before = await countRuns(knex);
      const res = await postRuns(server, { provider_id: "gemini", tokens_out: "5", cost_usd: -1, status: 3 });
      expect(res.status).toBe(422);
      expect(res.body.detail.map((d: { loc: unknown }) => d.loc)).toEqual([
        ["body", "tokens_out"],
        ["body", "status"],
        ["body", "cost_usd"],
      ]);
      expect(await countRuns(knex)).toBe(before);
    });

    it("rejects bodies that are not an object and bad runs lists", async () => {
      const before = await countRuns(knex);
      for (const body of [[{ provider_id: "gemini" }], "run", 5]) {
        const res = await postRuns(server, body);
        expect(res.status).toBe(422);
        expect(res.body.detail[0].loc).toEqual(["body"]);
      }
      for (const runs of [[], null, { provider_id: "gemini" }]) {
        const res = await postRuns(server, { runs });
        expect(res.status).toBe(422);
        expect(res.body.detail[0].loc).toEqual(["body", "runs"]);
      }
      expect(await countRuns(knex)).toBe(before);
    });

    it("accepts 5000 runs and rejects 5001 with 422 on [body, runs]", async () => {
      const before = await countRuns(knex);
      const runs = Array.from({ length: 5001 }, () => ({ provider_id: "bulk" }));
      const tooMany = await postRuns(server, { runs });
      expect(tooMany.status).toBe(422);
      expect(tooMany.body.detail).toEqual([expect.objectContaining({ loc: ["body", "runs"] })]);
      expect(await countRuns(knex)).toBe(before);
      const max = await postRuns(server, { runs: runs.slice(1) });
      expect(max.status).toBe(201);
      expect(max.body.inserted).toBe(5000);
      expect(await countRuns(knex)).toBe(before + 5000);
    });

    it("answers 413 to a body over 1 MiB and stores nothing", async () => {
      const before = await countRuns(knex);
      const body = { runs: [{ provider_id: "big", metadata: { blob: "x".repeat(1024 * 1024) } }] };
      const res = await postRuns(server, body);
      expect(res.status).toBe(413);
      expect(res.body).toEqual({ detail: "Request body too large" });
      expect(await countRuns(knex)).toBe(before);
    });

    it("publishes telemetry.run.recorded with the Run item for each stored run, in order", async () => {
      const res = await postRuns(server, {
        runs: [
          {
            provider_id: "gemini",
            route: "chat",
            ts: "2025-03-07T21:45:12.345Z",
            cost_usd: 0.1234567,
            status: "OK",
            tool: "t",
            metadata: { project: "x" },
          },
          { provider_id: "not-in-manifest", experiment_cohort: "a", experiment_tag: "b" },
        ],
      });
      expect(res.status).toBe(201);
      const ids: number[] = res.body.ids;
      const mine = () => received.filter((r) => ids.includes(r.id as number));
      await waitFor(() => mine().length >= 2);
      expect(mine()).toEqual([
        {
          id: ids[0],
          provider_id: "gemini",
          provider_name: "Gemini MCP",
          route: "chat",
          lane: "balanced",
          tool: "t",
          ts: "2025-03-07T21:45:12.345Z",
          tokens_in: 0,
          tokens_out: 0,
          duration_ms: 0,
          status: "success",
          cost_usd: 0.123457,
          metadata: { project: "x" },
          experiment_cohort: null,
          experiment_tag: null,
        },
        expect.objectContaining({
          id: ids[1],
          provider_id: "not-in-manifest",
          provider_name: "not-in-manifest",
          lane: null,
          status: "unknown",
          cost_usd: 0,
          metadata: {},
          experiment_cohort: "a",
          experiment_tag: "b",
        }),
      ]);
    });

    it("publishes nothing for a rejected body", async () => {
      const res = await postRuns(server, { runs: [{ provider_id: "rejected-batch" }, {}] });
      expect(res.status).toBe(422);
      // A valid ingestion afterwards is published; the rejected one never is.
      const ok = await postRuns(server, { provider_id: "accepted-after-reject" });
      expect(ok.status).toBe(201);
      await waitFor(() => received.some((r) => r.id === ok.body.ids[0]));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(received.filter((r) => r.provider_id === "rejected-batch")).toEqual([]);
      expect(received.filter((r) => r.provider_id === "accepted-after-reject")).toHaveLength(1);
    });

    it("serves the same ingestion as the broker action telemetry.ingest", async () => {
      const result = await server.broker.call<{ inserted: number; ids: number[] }, unknown>("telemetry.ingest", {
        runs: [{ provider_id: "claude" }, { provider_id: "claude", tokens_in: 2 }],
      });
      expect(result.inserted).toBe(2);
      expect(result.ids[1]).toBeGreaterThan(result.ids[0]);
      await expect(server.broker.call("telemetry.ingest", { provider_id: "claude", tokens_in: -1 })).rejects.toMatchObject({
        code: 422,
        data: [expect.objectContaining({ loc: ["body", "tokens_in"] })],
      });
    });
  });

  describe(`${label}: ingestion without the providers service`, () => {
    it("still answers 201 and stores the runs when the events cannot be built", async () => {
      const store = await makeStore();
      const server = await startTestServer({ SERVICES: "api,telemetry", REQUEST_TIMEOUT: "3000", ...store.env });
      try {
        const res = await postRuns(server, { runs: [{ provider_id: "gemini" }, { provider_id: "codex" }] });
        expect(res.status).toBe(201);
        expect(res.body.inserted).toBe(2);
        expect(await countRuns(storeOf(server))).toBe(2);
      } finally {
        await server.stop();
        await store.drop();
      }
    });
  });
}
