/**
 * The FinOps report and registration suite over real HTTP, shared by the SQLite run
 * (test/http/finops.test.ts) and the PostgreSQL run (test/pg/finops.test.ts). Runs are stored through
 * the telemetry ingestion endpoint (POST /telemetry/runs), pull requests through the FinOps one.
 */
import { TestServer, request } from "../helpers/server";

/** Starts a server on a fresh, empty store; `stop` also removes the store. */
export type ServerFactory = () => Promise<{ server: TestServer; stop: () => Promise<void> }>;

const EN_DASH = "\u2013";
const DAY = 86_400_000;

export async function ingestRuns(server: TestServer, runs: Record<string, unknown>[]): Promise<void> {
  const res = await request(`${server.baseUrl}/telemetry/runs`, { method: "POST", json: { runs } });
  if (res.status !== 201) throw new Error(`ingestion failed: ${res.status} ${res.text}`);
}

export async function registerPr(server: TestServer, body: unknown) {
  return request(`${server.baseUrl}/telemetry/finops/pull-requests`, { method: "POST", json: body });
}

export async function getReport(server: TestServer, kind: "sprints" | "pull-requests", query: string) {
  return request(`${server.baseUrl}/telemetry/finops/${kind}${query === "" ? "" : `?${query}`}`);
}

/** The §12.1 worked example runs, on the given provider (its only route). */
export function sprintExampleRuns(providerId: string): Record<string, unknown>[] {
  const run = (ts: string, cost: number | null, tin: number, tout: number, dur: number, status: string) => ({
    provider_id: providerId,
    route: "chat",
    ts,
    cost_usd: cost,
    tokens_in: tin,
    tokens_out: tout,
    duration_ms: dur,
    status,
  });
  return [
    run("2025-04-08T10:00:00Z", 1.0, 1000, 500, 800, "success"),
    run("2025-04-09T13:00:00Z", 1.1, 1000, 500, 800, "success"),
    run("2025-04-10T10:00:00Z", 1.75, 1200, 600, 1000, "success"),
    run("2025-04-10T11:00:00Z", null, 1500, 700, 900, "error"),
    run("2025-04-11T09:00:00Z", null, 1700, 700, 900, "error"),
  ];
}

export function finopsSuite(label: string, start: ServerFactory): void {
  describe(`${label}: sprints (§12.1)`, () => {
    let server: TestServer;
    let stop: () => Promise<void>;
    beforeAll(async () => {
      ({ server, stop } = await start());
    });
    afterAll(async () => {
      await stop();
    });

    it("answers the empty answer on an empty store", async () => {
      const res = await getReport(server, "sprints", "");
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ items: [] });
    });

    it("reproduces worked example 1 (window_days=2, limit=3)", async () => {
      await ingestRuns(server, sprintExampleRuns("gemini"));
      const res = await getReport(server, "sprints", "window_days=2&limit=3");
      expect(res.status).toBe(200);
      const items = res.body.items;
      expect(items).toHaveLength(2);
      expect(items[0]).toMatchObject({
        id: "sprint-2025-15-1",
        name: "Sprint 2025-15",
        period_start: "2025-04-10",
        period_end: "2025-04-11",
        total_cost_usd: 1.75,
        total_tokens_in: 4400,
        total_tokens_out: 2000,
        status: "on_track",
        summary: `Queda de 16.7% no custo versus sprint anterior e 0.01 mi tokens no período 2025-04-10 ${EN_DASH} 2025-04-11.`,
      });
      expect(items[0].avg_latency_ms).toBeCloseTo(2800 / 3, 9);
      expect(items[0].success_rate).toBeCloseTo(1 / 3, 12);
      expect(items[0].cost_delta).toBeCloseTo(-1 / 6, 12);
      expect(items[1]).toEqual({
        id: "sprint-2025-15-2",
        name: "Sprint 2025-15",
        period_start: "2025-04-08",
        period_end: "2025-04-09",
        total_cost_usd: 2.1,
        total_tokens_in: 2000,
        total_tokens_out: 1000,
        avg_latency_ms: 800,
        success_rate: 1,
        cost_delta: 0,
        status: "on_track",
        summary: `Custo estável no período 2025-04-08 ${EN_DASH} 2025-04-09 com 0.00 mi tokens processados.`,
      });
    });

    it("reproduces worked example 2 (start/end, window_days=3, limit=2)", async () => {
      const res = await getReport(server, "sprints", "start=2025-04-09T12:00:00Z&end=2025-04-11T12:00:00Z&window_days=3&limit=2");
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        items: [
          {
            id: "sprint-2025-15-1",
            name: "Sprint 2025-15",
            period_start: "2025-04-09",
            period_end: "2025-04-11",
            total_cost_usd: 2.85,
            total_tokens_in: 5400,
            total_tokens_out: 2500,
            avg_latency_ms: 900,
            success_rate: 0.5,
            cost_delta: 0,
            status: "on_track",
            summary: `Custo estável no período 2025-04-09 ${EN_DASH} 2025-04-11 com 0.01 mi tokens processados.`,
          },
        ],
      });
    });

    it("reproduces worked example 3 (window_days=1, limit=12)", async () => {
      const res = await getReport(server, "sprints", "window_days=1&limit=12");
      expect(res.status).toBe(200);
      const items = res.body.items;
      expect(items.map((i: { period_start: string }) => i.period_start)).toEqual(["2025-04-11", "2025-04-10", "2025-04-09", "2025-04-08"]);
      expect(items[0].total_cost_usd).toBe(0);
      expect(items[0].cost_delta).toBe(-1);
      expect(items[1].cost_delta).toBeCloseTo(0.65 / 1.1, 12);
      expect(items[2].cost_delta).toBeCloseTo(0.1, 12);
      expect(items[3].cost_delta).toBe(0);
      expect(items.map((i: { status: string }) => i.status)).toEqual(["on_track", "regression", "regression", "on_track"]);
      expect(items[0].summary).toBe(`Queda de 100.0% no custo versus sprint anterior e 0.00 mi tokens no período 2025-04-11 ${EN_DASH} 2025-04-11.`);
      expect(items[1].summary).toBe(`Alta de 59.1% no custo versus sprint anterior e 0.00 mi tokens no período 2025-04-10 ${EN_DASH} 2025-04-10.`);
      expect(items[2].summary.startsWith("Alta de 10.0% ")).toBe(true);
      expect(items.map((i: { id: string }) => i.id)).toEqual(["sprint-2025-15-1", "sprint-2025-15-2", "sprint-2025-15-3", "sprint-2025-15-4"]);
    });

    it("defaults window_days to 7 and limit to 4", async () => {
      const res = await getReport(server, "sprints", "");
      expect(res.body.items).toHaveLength(1);
      expect(res.body.items[0]).toMatchObject({ period_start: "2025-04-08", period_end: "2025-04-11", total_cost_usd: 3.85 });
    });

    it("filters by provider_id and lane, sums providers per day from their rounded costs", async () => {
      // glm46 is turbo in the example manifest; 'ghost' is not in the manifest.
      await ingestRuns(server, [
        { provider_id: "glm46", route: "r", ts: "2025-04-10T05:00:00Z", cost_usd: 0.0000004, tokens_in: 10, tokens_out: 0, status: "ok" },
        { provider_id: "glm46", route: "r", ts: "2025-04-11T05:00:00Z", cost_usd: 3, tokens_in: 10, tokens_out: 0, status: "ok" },
        { provider_id: "ghost", route: "r", ts: "2025-04-11T06:00:00Z", cost_usd: 0.0000004, tokens_in: 5, tokens_out: 0, status: "ok" },
      ]);
      const only = await getReport(server, "sprints", "provider_id=gemini&window_days=2&limit=3");
      expect(only.body.items.map((i: { total_cost_usd: number }) => i.total_cost_usd)).toEqual([1.75, 2.1]);

      const balanced = await getReport(server, "sprints", "lane=BALANCED&window_days=2&limit=3");
      expect(balanced.status).toBe(200);
      expect(balanced.body).toEqual(only.body);

      const turbo = await getReport(server, "sprints", "lane=turbo&window_days=2");
      expect(turbo.body.items).toHaveLength(1);
      expect(turbo.body.items[0]).toMatchObject({
        period_start: "2025-04-10",
        period_end: "2025-04-11",
        total_cost_usd: 3,
        total_tokens_in: 20,
        success_rate: 1,
      });

      for (const q of ["lane=economy", "lane=nonsense", "provider_id=gemini&lane=turbo", "provider_id=nobody", "provider_id=ghost&lane=balanced"]) {
        const res = await getReport(server, "sprints", q);
        expect([q, res.status, res.body]).toEqual([q, 200, { items: [] }]);
      }
      const ghost = await getReport(server, "sprints", "provider_id=ghost");
      expect(ghost.body.items).toHaveLength(1);
      expect(ghost.body.items[0]).toMatchObject({ total_cost_usd: 0, total_tokens_in: 5, cost_delta: 0 });

      // Every provider on 04-11: gemini 0 + glm46 3 + ghost round(0.0000004, 6) = 0.
      const all = await getReport(server, "sprints", "window_days=1&limit=1");
      expect(all.body.items[0]).toMatchObject({ period_start: "2025-04-11", total_cost_usd: 3, total_tokens_in: 1700 + 10 + 5 });
    });

    it("answers empty for a range without runs", async () => {
      const res = await getReport(server, "sprints", "start=2030-01-01&end=2030-02-01");
      expect(res.body).toEqual({ items: [] });
    });
  });

  describe(`${label}: pull-request reports (§12.2)`, () => {
    let server: TestServer;
    let stop: () => Promise<void>;
    beforeAll(async () => {
      ({ server, stop } = await start());
    });
    afterAll(async () => {
      await stop();
    });

    it("answers the empty answer without pull requests", async () => {
      const res = await getReport(server, "pull-requests", "");
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ items: [] });
    });

    it("reproduces the pr-42 worked example", async () => {
      const chat = (ts: string, cost: number, tin: number, tout: number) => ({
        provider_id: "gemini",
        route: "chat",
        ts,
        cost_usd: cost,
        tokens_in: tin,
        tokens_out: tout,
        status: "success",
      });
      await ingestRuns(server, [
        chat("2025-04-02T12:00:00Z", 9.99, 1, 1),
        chat("2025-04-05T12:00:00Z", 2.0, 1000, 1000),
        chat("2025-04-08T12:00:00Z", 2.0, 1000, 1000),
        chat("2025-04-10T00:00:00Z", 1.5, 800, 700),
        chat("2025-04-12T12:00:00Z", 1.5, 800, 700),
        chat("2025-04-20T12:00:00Z", 9.99, 1, 1),
        { provider_id: "gemini", route: "other", ts: "2025-04-09T12:00:00Z", cost_usd: 50, tokens_in: 5, tokens_out: 5 },
      ]);
      const created = await registerPr(server, {
        id: "pr-42",
        title: "Cache de prompts",
        owner: "ana",
        merged_at: "2025-04-10T00:00:00Z",
        provider_id: "gemini",
        route: "chat",
      });
      expect(created.status).toBe(201);
      const res = await getReport(server, "pull-requests", "start=2025-04-01T00:00:00Z&end=2025-04-30T00:00:00Z&window_days=7");
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        items: [
          {
            id: "pr-42",
            provider_id: "gemini",
            provider_name: "Gemini MCP",
            route: "chat",
            lane: "balanced",
            title: "Cache de prompts",
            owner: "ana",
            merged_at: "2025-04-10T00:00:00Z",
            cost_impact_usd: -1,
            cost_delta: -0.25,
            tokens_impact: -1000,
            status: "on_track",
            summary: "Queda de 25.0% no custo da rota chat (Gemini MCP) frente ao período anterior.",
          },
        ],
      });
    });

    it("counts every route of the provider when the PR has no route; unknown providers have no lane", async () => {
      await ingestRuns(server, [
        { provider_id: "ghost", route: "a", ts: "2025-04-14T12:00:00Z", cost_usd: 1, tokens_in: 10, tokens_out: 0 },
        { provider_id: "ghost", ts: "2025-04-16T12:00:00Z", cost_usd: 0.5, tokens_in: 10, tokens_out: 0 },
        { provider_id: "ghost", route: "b", ts: "2025-04-15T12:00:00Z", cost_usd: 1.1, tokens_in: 20, tokens_out: 5 },
      ]);
      expect(
        (await registerPr(server, { id: "pr-7", title: "t", merged_at: "2025-04-15T00:00:00Z", provider_id: "ghost", route: "  " })).status,
      ).toBe(201);
      const res = await getReport(server, "pull-requests", "start=2025-04-15&end=2025-04-15&window_days=3");
      expect(res.body.items).toEqual([
        {
          id: "pr-7",
          provider_id: "ghost",
          provider_name: "ghost",
          route: null,
          lane: null,
          title: "t",
          owner: "\u2014",
          merged_at: "2025-04-15T00:00:00Z",
          cost_impact_usd: 0.6,
          cost_delta: expect.any(Number),
          tokens_impact: 25,
          status: "regression",
          summary: "Alta de 60.0% no custo da rota default (ghost) em relação ao período anterior.",
        },
      ]);
      expect(res.body.items[0].cost_delta).toBeCloseTo(0.6, 12);
    });

    it("selects by merged_at within [start, end], newest first then id, at most limit; filters provider and lane", async () => {
      for (const [id, merged, provider] of [
        ["pr-b", "2025-04-12T00:00:00Z", "glm46"],
        ["pr-a", "2025-04-12T00:00:00Z", "codex"],
        ["pr-c", "2025-03-01T00:00:00Z", "codex"],
      ]) {
        expect((await registerPr(server, { id, title: id, merged_at: merged, provider_id: provider })).status).toBe(201);
      }
      const ids = async (q: string) => (await getReport(server, "pull-requests", q)).body.items.map((i: { id: string }) => i.id);
      const window = "start=2025-04-01T00:00:00Z&end=2025-04-30T00:00:00Z";
      expect(await ids(`${window}&limit=12`)).toEqual(["pr-7", "pr-a", "pr-b", "pr-42"]);
      expect(await ids(`${window}&limit=2`)).toEqual(["pr-7", "pr-a"]);
      expect(await ids(`${window}&provider_id=codex`)).toEqual(["pr-a"]);
      expect(await ids(`${window}&lane=turbo`)).toEqual(["pr-b"]);
      expect(await ids(`${window}&lane=Balanced`)).toEqual(["pr-a", "pr-42"]);
      expect(await ids(`${window}&lane=economy`)).toEqual([]);
      expect(await ids(`${window}&provider_id=ghost&lane=balanced`)).toEqual([]);
      expect(await ids(`start=2025-04-12T00:00:00Z&end=2025-04-12T00:00:00Z`)).toEqual(["pr-a", "pr-b"]);
      expect(await ids(`start=2025-04-12T00:00:00.001Z&end=2025-04-14T00:00:00Z`)).toEqual([]);
      // Default selection start: end − window_days × limit days.
      expect(await ids(`end=2025-04-16T00:00:00Z&window_days=1&limit=4`)).toEqual(["pr-7", "pr-a", "pr-b"]);
      expect(await ids(`end=2025-04-16T00:00:00Z&window_days=1&limit=3`)).toEqual(["pr-7"]);
      // pr-c's windows hold no runs: delta 0, stable.
      const c = (await getReport(server, "pull-requests", "provider_id=codex&start=2025-02-01&end=2025-03-02")).body.items;
      expect(c).toEqual([
        expect.objectContaining({
          id: "pr-c",
          cost_impact_usd: 0,
          cost_delta: 0,
          tokens_impact: 0,
          status: "on_track",
          summary: "Custo estável para a rota default (Codex CLI) quando comparado ao período anterior.",
        }),
      ]);
    });

    it("orders PRs merged at the same instant by id in binary (UTF-16 code unit) order", async () => {
      const ids = ["m-a", "m-B", "\uFF5E", "\u{1F600}", "m-10", "m-9"];
      for (const id of ids) {
        expect((await registerPr(server, { id, title: id, merged_at: "2025-05-20T08:00:00Z", provider_id: "mistral" })).status).toBe(201);
      }
      const order = async (limit: number) =>
        (await getReport(server, "pull-requests", `provider_id=mistral&start=2025-05-20&end=2025-05-21&limit=${limit}`)).body.items.map(
          (i: { id: string }) => i.id,
        );
      expect(await order(12)).toEqual(["m-10", "m-9", "m-B", "m-a", "\u{1F600}", "\uFF5E"]);
      expect(await order(3)).toEqual(["m-10", "m-9", "m-B"]);
    });

    it("defaults the selection to the last window_days × limit days and clips after at now", async () => {
      const now = Date.now();
      const iso = (ms: number) => new Date(ms).toISOString();
      await ingestRuns(server, [
        { provider_id: "claude", route: "live", ts: iso(now - 2 * DAY), cost_usd: 1, tokens_in: 100, tokens_out: 0 },
        { provider_id: "claude", route: "live", ts: iso(now - 3_600_000), cost_usd: 2, tokens_in: 300, tokens_out: 0 },
        { provider_id: "claude", route: "live", ts: iso(now + 3_600_000), cost_usd: 100, tokens_in: 9999, tokens_out: 0 },
      ]);
      expect((await registerPr(server, { id: "pr-live", title: "t", merged_at: iso(now - DAY), provider_id: "claude", route: "live" })).status).toBe(
        201,
      );
      expect(
        (await registerPr(server, { id: "pr-old", title: "t", merged_at: iso(now - 29 * DAY), provider_id: "claude", route: "live" })).status,
      ).toBe(201);
      expect(
        (await registerPr(server, { id: "pr-future", title: "t", merged_at: iso(now + DAY), provider_id: "claude", route: "live" })).status,
      ).toBe(201);

      const res = await getReport(server, "pull-requests", "provider_id=claude");
      expect(res.body.items.map((i: { id: string }) => i.id)).toEqual(["pr-live"]);
      expect(res.body.items[0]).toMatchObject({
        cost_impact_usd: 1,
        cost_delta: 1,
        tokens_impact: 200,
        status: "regression",
        lane: "balanced",
        provider_name: "Claude MCP",
      });
      expect(res.body.items[0].summary).toBe("Alta de 100.0% no custo da rota live (Claude MCP) em relação ao período anterior.");

      const wider = await getReport(server, "pull-requests", "provider_id=claude&window_days=8");
      expect(wider.body.items.map((i: { id: string }) => i.id)).toEqual(["pr-live", "pr-old"]);
    });
  });

  describe(`${label}: pull-request registration (§12.3)`, () => {
    let server: TestServer;
    let stop: () => Promise<void>;
    beforeAll(async () => {
      ({ server, stop } = await start());
    });
    afterAll(async () => {
      await stop();
    });

    it("stores a record and answers 201 with it, normalised", async () => {
      const res = await registerPr(server, {
        id: "  pr-1298 ",
        title: " Optimize prompt caching ",
        owner: null,
        merged_at: "2025-03-01T12:22:04.5-03:00",
        provider_id: " glm46 ",
        route: " balanced ",
        extra: "ignored",
      });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({
        id: "pr-1298",
        title: "Optimize prompt caching",
        owner: "\u2014",
        merged_at: "2025-03-01T15:22:04.500Z",
        provider_id: "glm46",
        route: "balanced",
      });
      const report = await getReport(server, "pull-requests", "start=2025-03-01&end=2025-03-02");
      expect(report.body.items).toEqual([
        expect.objectContaining({ id: "pr-1298", owner: "\u2014", route: "balanced", lane: "turbo", provider_name: "GLM-4.6" }),
      ]);
    });

    it("answers 409 for an existing id, also after trimming", async () => {
      const res = await registerPr(server, { id: "pr-1298", title: "again", merged_at: "2025-03-02", provider_id: "codex" });
      expect(res.status).toBe(409);
      expect(res.body).toEqual({ detail: "Pull request 'pr-1298' already exists" });
      const trimmed = await registerPr(server, { id: " pr-1298\t", title: "again", merged_at: "2025-03-02", provider_id: "codex" });
      expect(trimmed.status).toBe(409);
      const report = await getReport(server, "pull-requests", "start=2025-03-01&end=2025-03-03");
      expect(report.body.items.map((i: { title: string }) => i.title)).toEqual(["Optimize prompt caching"]);
    });

    it("lets exactly one of 10 concurrent registrations of one id win", async () => {
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          registerPr(server, { id: "pr-race", title: `racer ${i}`, merged_at: "2025-03-05T00:00:00Z", provider_id: "codex" }),
        ),
      );
      const statuses = answers.map((a) => a.status).sort();
      expect(statuses).toEqual([201, ...Array(9).fill(409)]);
      for (const a of answers.filter((x) => x.status === 409)) expect(a.body).toEqual({ detail: "Pull request 'pr-race' already exists" });
      const winner = answers.find((a) => a.status === 201)?.body;
      const stored = await getReport(server, "pull-requests", "provider_id=codex&start=2025-03-05&end=2025-03-05");
      expect(stored.body.items).toEqual([expect.objectContaining({ id: "pr-race", title: winner.title })]);
    });

    it("rejects invalid bodies with 422 naming each field", async () => {
      const locs = async (body: unknown) => {
        const res = await registerPr(server, body);
        expect(res.status).toBe(422);
        return res.body.detail.map((d: { loc: unknown[] }) => d.loc);
      };
      expect(await locs({})).toEqual([
        ["body", "id"],
        ["body", "title"],
        ["body", "merged_at"],
        ["body", "provider_id"],
      ]);
      expect(await locs({ id: 5, title: true, merged_at: "not-a-date", provider_id: [], owner: 3, route: {} })).toEqual([
        ["body", "id"],
        ["body", "title"],
        ["body", "owner"],
        ["body", "merged_at"],
        ["body", "provider_id"],
        ["body", "route"],
      ]);
      expect(await locs({ id: "   ", title: "t", merged_at: "2025-02-30T00:00:00Z", provider_id: "p" })).toEqual([
        ["body", "id"],
        ["body", "merged_at"],
      ]);
      expect(
        await locs({
          id: "x".repeat(101),
          title: "y".repeat(301),
          merged_at: "2025-01-01",
          provider_id: "p".repeat(201),
          owner: "o".repeat(201),
          route: "r".repeat(201),
        }),
      ).toEqual([
        ["body", "id"],
        ["body", "title"],
        ["body", "owner"],
        ["body", "provider_id"],
        ["body", "route"],
      ]);
      expect(await locs({ id: "ok", title: "t", merged_at: null, provider_id: "p" })).toEqual([["body", "merged_at"]]);
      expect(await locs({ id: "ok", title: "t", merged_at: true, provider_id: "p" })).toEqual([["body", "merged_at"]]);
      // Nothing was stored by the rejected bodies.
      expect((await registerPr(server, { id: "ok", title: "t", merged_at: 1743465600, provider_id: "p" })).body).toEqual({
        id: "ok",
        title: "t",
        owner: "\u2014",
        merged_at: "2025-04-01T00:00:00Z",
        provider_id: "p",
        route: null,
      });
    });

    it("handles merges and bounds at the ends of the datetime range", async () => {
      for (const [id, merged] of [
        ["pr-first", "0001-01-01T00:00:00Z"],
        ["pr-last", "9999-12-31T23:59:59Z"],
      ]) {
        expect((await registerPr(server, { id, title: id, merged_at: merged, provider_id: "edge" })).status).toBe(201);
      }
      await ingestRuns(server, [
        { provider_id: "edge", ts: "0001-01-01T00:00:00Z", cost_usd: 1, tokens_in: 1 },
        { provider_id: "edge", ts: "9999-12-31T23:59:59.999Z", cost_usd: 1, tokens_in: 1 },
      ]);
      const all = "provider_id=edge&start=0001-01-01T00:00:00Z&end=9999-12-31T23:59:59.999Z&window_days=90&limit=12";
      const prs = await getReport(server, "pull-requests", all);
      expect(prs.status).toBe(200);
      // pr-last's after window starts in the future (clipped at now): empty; pr-first's before window is empty.
      expect(prs.body.items.map((i: { id: string; cost_impact_usd: number }) => [i.id, i.cost_impact_usd])).toEqual([
        ["pr-last", 0],
        ["pr-first", 1],
      ]);
      const sprints = await getReport(server, "sprints", all.replace("window_days=90", "window_days=1"));
      expect(sprints.status).toBe(200);
      expect(sprints.body.items.map((i: { id: string; period_end: string }) => [i.id, i.period_end])).toEqual([
        ["sprint-9999-52-1", "9999-12-31"],
        ["sprint-0001-01-2", "0001-01-01"],
      ]);
    });

    it("accepts limits exactly at the bounds (characters, not UTF-16 units)", async () => {
      const id = "\u{1F680}".repeat(100); // 100 characters, 200 UTF-16 code units
      const res = await registerPr(server, {
        id,
        title: "x".repeat(300),
        merged_at: "2025-01-01",
        provider_id: "p".repeat(200),
        owner: "o".repeat(200),
        route: "r".repeat(200),
      });
      expect(res.status).toBe(201);
      expect(res.body.id).toBe(id);
    });
  });
}
