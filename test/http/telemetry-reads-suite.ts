/**
 * The telemetry read endpoints (§10) over real HTTP, shared by the SQLite run
 * (test/http/telemetry-reads.test.ts) and the PostgreSQL run (test/pg/telemetry-queries.test.ts).
 * Runs are stored through POST /telemetry/runs; every expected number is computed by hand from the
 * table in `sampleRuns` (comments give the arithmetic).
 */
import fs from "node:fs";
import path from "node:path";
import { TestServer, request, tempDir } from "../helpers/server";

/** Starts a server on a fresh, empty store with the given extra environment; `stop` also removes the store. */
export type ReadServerFactory = (env: Record<string, string>) => Promise<{ server: TestServer; stop: () => Promise<void> }>;

/**
 * The manifest of these tests: gemini and claude hash to balanced, glm46 to turbo (§5.1), codex
 * declares economy. `ghost` (in the runs) is not in the manifest.
 */
export function writeReadsManifest(): { file: string; dir: string } {
  const dir = tempDir("console-mcp-reads-manifest-");
  const file = path.join(dir, "servers.json");
  const entry = (id: string, name: string, lane?: string) => ({ id, name, command: `/bin/${id}`, ...(lane ? { lane } : {}) });
  fs.writeFileSync(
    file,
    JSON.stringify({
      providers: [entry("gemini", "Gemini MCP"), entry("codex", "Codex CLI", "economy"), entry("glm46", "GLM-4.6"), entry("claude", "Claude MCP")],
    }),
  );
  return { file, dir };
}

type Run = Record<string, unknown>;

/**
 * Ten runs (ids 1..10 in this order on a fresh store):
 * | # | ts                       | provider | route    | in/out  | ms   | status     | cost | category / cache           |
 * | 1 | 04-01T10:00:00Z          | gemini   | chat     | 100/50  | 1000 | success    | 0.5  | cache hit, 150 tokens      |
 * | 2 | 04-01T12:00:00Z          | gemini   | chat     | 200/100 | 2000 | timeout    | 0.25 | Timeout                    |
 * | 3 | 04-01T23:59:59.999Z      | glm46    | balanced | 300/150 | 1500 | success    | 0.5  | cache miss                 |
 * | 4 | 04-02T00:00:00Z          | gemini   | balanced | 50/50   | 500  | success    | 0.25 | top-level hit, 500 tokens  |
 * | 5 | 04-02T08:00:00Z          | gemini   | —        | 10/10   | 800  | error      | null | Rate Limit                 |
 * | 6 | 04-02T09:00:00Z          | gemini   | default  | 20/20   | 1200 | success    | 0.1  |                            |
 * | 7 | 04-02T10:00:00Z          | codex    | review   | 400/200 | 3000 | failed     | 1.0  | Timeout (metadata.error)   |
 * | 8 | 04-03T05:00:00Z          | ghost    | —        | 5/5     | 100  | success    | 0.2  |                            |
 * | 9 | 04-03T06:00:00Z          | claude   | chat     | 60/40   | 700  | rate_limit | 0.05 | Rate Limit                 |
 * |10 | 04-03T06:00:00Z          | codex    | —        | 1/1     | 900  | blocked    | 0    | Denied                     |
 */
export function sampleRuns(): Run[] {
  const run = (
    ts: string,
    provider_id: string,
    route: string | null,
    tokens_in: number,
    tokens_out: number,
    duration_ms: number,
    status: string,
    cost_usd: number | null,
    metadata: Record<string, unknown> = {},
  ): Run => ({ ts, provider_id, route, tokens_in, tokens_out, duration_ms, status, cost_usd, metadata, tool: "chat.complete" });
  return [
    run("2025-04-01T10:00:00Z", "gemini", "chat", 100, 50, 1000, "success", 0.5, { cache: { hit: true, tokens: 150 }, project: "p1" }),
    run("2025-04-01T12:00:00Z", "gemini", "chat", 200, 100, 2000, "timeout", 0.25),
    run("2025-04-01T23:59:59.999Z", "glm46", "balanced", 300, 150, 1500, "success", 0.5, { cache: { hit: false } }),
    run("2025-04-02T02:00:00+02:00", "gemini", "balanced", 50, 50, 500, "success", 0.25, { cache_hit: true, cached_tokens: 500 }),
    run("2025-04-02T08:00:00Z", "gemini", null, 10, 10, 800, "error", null, { error: { category: "rate_limit" } }),
    run("2025-04-02T09:00:00Z", "gemini", "default", 20, 20, 1200, "success", 0.1),
    run("2025-04-02T10:00:00Z", "codex", "review", 400, 200, 3000, "failed", 1.0, { error: "TIMEOUT" }),
    run("2025-04-03T05:00:00Z", "ghost", null, 5, 5, 100, "success", 0.2),
    run("2025-04-03T06:00:00Z", "claude", "chat", 60, 40, 700, "rate_limit", 0.05),
    run("2025-04-03T06:00:00Z", "codex", null, 1, 1, 900, "blocked", 0),
  ];
}

async function ingest(server: TestServer, runs: Run[]): Promise<number[]> {
  const res = await request(`${server.baseUrl}/telemetry/runs`, { method: "POST", json: { runs } });
  if (res.status !== 201) throw new Error(`ingestion failed: ${res.status} ${res.text}`);
  return res.body.ids as number[];
}

async function get(server: TestServer, endpoint: string, query = "") {
  return request(`${server.baseUrl}/telemetry/${endpoint}${query === "" ? "" : `?${query}`}`);
}

/** The body, after checking the status. */
async function ok(server: TestServer, endpoint: string, query = ""): Promise<any> {
  const res = await get(server, endpoint, query);
  if (res.status !== 200) throw new Error(`GET ${endpoint}?${query} → ${res.status} ${res.text}`);
  return res.body;
}

const EMPTY_METRICS = {
  total_runs: 0,
  total_tokens_in: 0,
  total_tokens_out: 0,
  total_cost_usd: 0,
  avg_latency_ms: 0,
  success_rate: 0,
  providers: [],
  extended: null,
  window_start: null,
  window_end: null,
};

export function telemetryReadsSuite(label: string, start: ReadServerFactory): void {
  describe(`${label}: telemetry reads over a hand-computed sample`, () => {
    let server: TestServer;
    let stop: () => Promise<void>;
    let manifestDir: string;
    let ids: number[];

    beforeAll(async () => {
      const manifest = writeReadsManifest();
      manifestDir = manifest.dir;
      ({ server, stop } = await start({ CONSOLE_MCP_SERVERS_PATH: manifest.file }));
      // Empty store first: every endpoint's empty answer.
      ids = await ingest(server, sampleRuns());
    });
    afterAll(async () => {
      await stop();
      fs.rmSync(manifestDir, { recursive: true, force: true });
    });

    it("stored the sample with ids in input order", () => {
      expect(ids).toHaveLength(10);
      for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1]);
    });

    describe("metrics (§10.2)", () => {
      it("totals, observed bounds and providers", async () => {
        const m = await ok(server, "metrics");
        expect(m.start).toBe("2025-04-01T10:00:00Z");
        expect(m.end).toBe("2025-04-03T06:00:00Z");
        expect(m.total_runs).toBe(10);
        expect(m.total_tokens_in).toBe(1146); // 100+200+300+50+10+20+400+5+60+1
        expect(m.total_tokens_out).toBe(626); // 50+100+150+50+10+20+200+5+40+1
        expect(m.avg_latency_ms).toBe(1170); // 11700 / 10
        expect(m.success_rate).toBe(0.5); // runs 1, 3, 4, 6, 8
        expect(m.total_cost_usd).toBe(2.85); // 1.1 + 1.0 + 0.05 + 0.2 + 0.5
        expect(m.window_start).toBeNull();
        expect(m.window_end).toBeNull();
        expect(m.providers).toEqual([
          // gemini runs 1,2,4,5,6: cost 0.5+0.25+0.25+0+0.1, latency 5500/5, successes 1,4,6
          { provider_id: "gemini", run_count: 5, tokens_in: 380, tokens_out: 230, cost_usd: 1.1, avg_latency_ms: 1100, success_rate: 0.6 },
          { provider_id: "codex", run_count: 2, tokens_in: 401, tokens_out: 201, cost_usd: 1, avg_latency_ms: 1950, success_rate: 0 },
          { provider_id: "claude", run_count: 1, tokens_in: 60, tokens_out: 40, cost_usd: 0.05, avg_latency_ms: 700, success_rate: 0 },
          { provider_id: "ghost", run_count: 1, tokens_in: 5, tokens_out: 5, cost_usd: 0.2, avg_latency_ms: 100, success_rate: 1 },
          { provider_id: "glm46", run_count: 1, tokens_in: 300, tokens_out: 150, cost_usd: 0.5, avg_latency_ms: 1500, success_rate: 1 },
        ]);
        const sum = (k: string) => m.providers.reduce((s: number, p: any) => s + p[k], 0);
        expect(sum("run_count")).toBe(m.total_runs);
        expect(sum("tokens_in")).toBe(m.total_tokens_in);
      });

      it("extended: percentiles, errors, cache and cost breakdown", async () => {
        const x = (await ok(server, "metrics")).extended;
        // Sorted durations 100 500 700 800 900 1000 1200 1500 2000 3000: p95 at 8.55 → 2000 + 0.55 × 1000;
        // p99 at 8.91 → 2000 + 0.91 × 1000.
        expect(x.latency_p95_ms).toBeCloseTo(2550, 6);
        expect(x.latency_p99_ms).toBeCloseTo(2910, 6);
        // Timeout ×2 (first at run 2) and Rate Limit ×2 (first at run 5) tie: first appearance wins.
        expect(x.error_breakdown).toEqual([
          { category: "Timeout", count: 2 },
          { category: "Rate Limit", count: 2 },
          { category: "Denied", count: 1 },
        ]);
        expect(x.error_rate).toBe(0.5);
        // The contract's cache example: hit 150, miss, top-level hit 500.
        expect(x.cache_hit_rate).toBe(0.666667);
        expect(x.cached_tokens).toBe(650);
        expect(x.cost_breakdown).toEqual([
          { id: "codex:review", label: "Review", lane: "economy", provider_id: "codex", cost_usd: 1, run_count: 1 },
          // claude/chat 0.05 + gemini/chat 0.75: two providers, both balanced.
          { id: null, label: "Chat", lane: "balanced", provider_id: null, cost_usd: 0.8, run_count: 3 },
          // gemini/balanced 0.25 + glm46/balanced 0.5: lanes balanced and turbo differ.
          { id: null, label: "Balanced", lane: null, provider_id: null, cost_usd: 0.75, run_count: 2 },
          // ghost has no route and no lane: labelled by its id.
          { id: "ghost", label: "Ghost", lane: null, provider_id: "ghost", cost_usd: 0.2, run_count: 1 },
          { id: "gemini:default", label: "Default", lane: "balanced", provider_id: "gemini", cost_usd: 0.1, run_count: 1 },
        ]);
      });

      it("provider_id and route filters, inclusive bounds, and error ties broken by id at the same ts", async () => {
        const g = await ok(server, "metrics", "provider_id=gemini");
        expect(g.total_runs).toBe(5);
        expect(g.total_cost_usd).toBe(1.1);
        expect(g.start).toBe("2025-04-01T10:00:00Z");
        expect(g.end).toBe("2025-04-02T09:00:00Z");
        expect(g.extended.error_breakdown).toEqual([
          { category: "Timeout", count: 1 },
          { category: "Rate Limit", count: 1 },
        ]);
        expect(g.extended.error_rate).toBe(0.4);
        expect(g.extended.cache_hit_rate).toBe(1);
        // durations 500 800 1000 1200 2000: p95 at 3.8 → 1200 + 0.8 × 800
        expect(g.extended.latency_p95_ms).toBeCloseTo(1840, 6);

        const chat = await ok(server, "metrics", "route=chat");
        expect(chat.providers.map((p: any) => [p.provider_id, p.run_count])).toEqual([
          ["gemini", 2],
          ["claude", 1],
        ]);
        expect(chat.extended.cached_tokens).toBe(150);
        expect(chat.extended.cache_hit_rate).toBe(1);

        // Bounds are inclusive on both sides; +02:00 is converted (run 4 is stored at 04-02T00:00Z).
        const window = await ok(server, "metrics", "start=2025-04-01T23:59:59.999Z&end=2025-04-02T10:00:00%2B02:00");
        expect(window.total_runs).toBe(3); // runs 3, 4, 5
        expect(window.start).toBe("2025-04-01T23:59:59.999Z");
        expect(window.end).toBe("2025-04-02T08:00:00Z");
        expect(window.extended.latency_p99_ms).toBeCloseTo(1486, 6); // 500 800 1500: 800 + 0.98 × 700
        expect(window.extended.cached_tokens).toBe(500);
        expect(window.extended.cache_hit_rate).toBe(0.5);

        // Runs 9 (Rate Limit) and 10 (Denied) share a ts: the smaller id came first.
        const tie = await ok(server, "metrics", "start=2025-04-03T06:00:00Z");
        expect(tie.extended.error_breakdown).toEqual([
          { category: "Rate Limit", count: 1 },
          { category: "Denied", count: 1 },
        ]);
        expect(tie.extended.error_rate).toBe(1);
        expect(tie.extended.cache_hit_rate).toBeNull();
        expect(tie.extended.cached_tokens).toBeNull();
        // codex's run costs 0: no cost_breakdown entry for it.
        expect(tie.extended.cost_breakdown).toEqual([
          { id: "claude:chat", label: "Chat", lane: "balanced", provider_id: "claude", cost_usd: 0.05, run_count: 1 },
        ]);
        expect(tie.extended.latency_p95_ms).toBeCloseTo(890, 6); // 700, 900: 700 + 0.95 × 200

        const one = await ok(server, "metrics", "provider_id=ghost");
        expect(one.extended.latency_p95_ms).toBe(100);
        expect(one.extended.latency_p99_ms).toBe(100);
        expect(one.extended.error_breakdown).toEqual([]);
        expect(one.extended.error_rate).toBe(0);
      });

      it("empty answer with the requested bounds normalised to UTC", async () => {
        expect(await ok(server, "metrics", "start=2030-01-01&end=2030-01-02T03:00:00%2B03:00")).toEqual({
          ...EMPTY_METRICS,
          start: "2030-01-01T00:00:00Z",
          end: "2030-01-02T00:00:00Z",
        });
        expect(await ok(server, "metrics", "provider_id=nobody")).toEqual({ ...EMPTY_METRICS, start: null, end: null });
        expect(await ok(server, "metrics", "end=2000-01-01T00:00:00.5Z")).toEqual({
          ...EMPTY_METRICS,
          start: null,
          end: "2000-01-01T00:00:00.500Z",
        });
      });

      it("ignores lane (not a metrics parameter) and treats empty string filters as not given", async () => {
        expect((await ok(server, "metrics", "lane=nothing")).total_runs).toBe(10);
        expect((await ok(server, "metrics", "provider_id=&route=")).total_runs).toBe(10);
        // Repeated keys: the last one wins.
        expect((await ok(server, "metrics", "provider_id=codex&provider_id=glm46")).total_runs).toBe(1);
      });
    });

    describe("heatmap (§10.3)", () => {
      it("one bucket per UTC day and provider, by day then provider", async () => {
        expect(await ok(server, "heatmap")).toEqual({
          buckets: [
            { day: "2025-04-01", provider_id: "gemini", run_count: 2 },
            { day: "2025-04-01", provider_id: "glm46", run_count: 1 }, // 23:59:59.999 stays on 04-01
            { day: "2025-04-02", provider_id: "codex", run_count: 1 },
            { day: "2025-04-02", provider_id: "gemini", run_count: 3 },
            { day: "2025-04-03", provider_id: "claude", run_count: 1 },
            { day: "2025-04-03", provider_id: "codex", run_count: 1 },
            { day: "2025-04-03", provider_id: "ghost", run_count: 1 },
          ],
        });
      });

      it("route, provider_id and time filters; empty answer", async () => {
        expect(await ok(server, "heatmap", "route=chat")).toEqual({
          buckets: [
            { day: "2025-04-01", provider_id: "gemini", run_count: 2 },
            { day: "2025-04-03", provider_id: "claude", run_count: 1 },
          ],
        });
        expect(await ok(server, "heatmap", "provider_id=gemini&start=2025-04-02T00:00:00Z&end=2025-04-02T08:00:00Z")).toEqual({
          buckets: [{ day: "2025-04-02", provider_id: "gemini", run_count: 2 }],
        });
        expect(await ok(server, "heatmap", "route=nowhere")).toEqual({ buckets: [] });
      });
    });

    describe("timeseries (§10.4)", () => {
      it("one item per UTC day and provider with sums, rounded cost and mean latency", async () => {
        expect(await ok(server, "timeseries")).toEqual({
          items: [
            {
              day: "2025-04-01",
              provider_id: "gemini",
              run_count: 2,
              tokens_in: 300,
              tokens_out: 150,
              cost_usd: 0.75,
              avg_latency_ms: 1500,
              success_count: 1,
            },
            {
              day: "2025-04-01",
              provider_id: "glm46",
              run_count: 1,
              tokens_in: 300,
              tokens_out: 150,
              cost_usd: 0.5,
              avg_latency_ms: 1500,
              success_count: 1,
            },
            {
              day: "2025-04-02",
              provider_id: "codex",
              run_count: 1,
              tokens_in: 400,
              tokens_out: 200,
              cost_usd: 1,
              avg_latency_ms: 3000,
              success_count: 0,
            },
            // runs 4, 5, 6: costs 0.25 + unknown + 0.1; latency 2500 / 3
            {
              day: "2025-04-02",
              provider_id: "gemini",
              run_count: 3,
              tokens_in: 80,
              tokens_out: 80,
              cost_usd: 0.35,
              avg_latency_ms: 2500 / 3,
              success_count: 2,
            },
            {
              day: "2025-04-03",
              provider_id: "claude",
              run_count: 1,
              tokens_in: 60,
              tokens_out: 40,
              cost_usd: 0.05,
              avg_latency_ms: 700,
              success_count: 0,
            },
            {
              day: "2025-04-03",
              provider_id: "codex",
              run_count: 1,
              tokens_in: 1,
              tokens_out: 1,
              cost_usd: 0,
              avg_latency_ms: 900,
              success_count: 0,
            },
            {
              day: "2025-04-03",
              provider_id: "ghost",
              run_count: 1,
              tokens_in: 5,
              tokens_out: 5,
              cost_usd: 0.2,
              avg_latency_ms: 100,
              success_count: 1,
            },
          ],
          next_cursor: null,
        });
      });

      it("lane filter (declared lane, case-insensitive), lane with provider_id, route ignored", async () => {
        const economy = await ok(server, "timeseries", "lane=ECONOMY");
        expect(economy.items.map((i: any) => [i.day, i.provider_id])).toEqual([
          ["2025-04-02", "codex"],
          ["2025-04-03", "codex"],
        ]);
        const turbo = await ok(server, "timeseries", "lane=turbo&provider_id=glm46");
        expect(turbo.items.map((i: any) => [i.day, i.provider_id])).toEqual([["2025-04-01", "glm46"]]);
        expect(await ok(server, "timeseries", "lane=turbo&provider_id=gemini")).toEqual({ items: [], next_cursor: null });
        // ghost is not in the manifest: it never matches a lane, not even the display fallback.
        expect(await ok(server, "timeseries", "lane=balanced&provider_id=ghost")).toEqual({ items: [], next_cursor: null });
        expect(await ok(server, "timeseries", "lane=warp")).toEqual({ items: [], next_cursor: null });
        expect((await ok(server, "timeseries", "route=nowhere")).items).toHaveLength(7);
      });
    });

    describe("pareto (§10.5)", () => {
      it("one entry per provider and route, null and literal default merged, by cost", async () => {
        const base = { tokens_in: 0, tokens_out: 0 };
        expect(await ok(server, "pareto")).toEqual({
          items: [
            {
              ...base,
              id: "codex:review",
              provider_id: "codex",
              provider_name: "Codex CLI",
              route: "review",
              lane: "economy",
              run_count: 1,
              tokens_in: 400,
              tokens_out: 200,
              cost_usd: 1,
              avg_latency_ms: 3000,
              success_rate: 0,
            },
            {
              ...base,
              id: "gemini:chat",
              provider_id: "gemini",
              provider_name: "Gemini MCP",
              route: "chat",
              lane: "balanced",
              run_count: 2,
              tokens_in: 300,
              tokens_out: 150,
              cost_usd: 0.75,
              avg_latency_ms: 1500,
              success_rate: 0.5,
            },
            {
              ...base,
              id: "glm46:balanced",
              provider_id: "glm46",
              provider_name: "GLM-4.6",
              route: "balanced",
              lane: "turbo",
              run_count: 1,
              tokens_in: 300,
              tokens_out: 150,
              cost_usd: 0.5,
              avg_latency_ms: 1500,
              success_rate: 1,
            },
            {
              ...base,
              id: "gemini:balanced",
              provider_id: "gemini",
              provider_name: "Gemini MCP",
              route: "balanced",
              lane: "balanced",
              run_count: 1,
              tokens_in: 50,
              tokens_out: 50,
              cost_usd: 0.25,
              avg_latency_ms: 500,
              success_rate: 1,
            },
            {
              ...base,
              id: "ghost:default",
              provider_id: "ghost",
              provider_name: "ghost",
              route: null,
              lane: "balanced",
              run_count: 1,
              tokens_in: 5,
              tokens_out: 5,
              cost_usd: 0.2,
              avg_latency_ms: 100,
              success_rate: 1,
            },
            // runs 5 (no route, unknown cost) and 6 (route "default"): one entry, route "default"
            {
              ...base,
              id: "gemini:default",
              provider_id: "gemini",
              provider_name: "Gemini MCP",
              route: "default",
              lane: "balanced",
              run_count: 2,
              tokens_in: 30,
              tokens_out: 30,
              cost_usd: 0.1,
              avg_latency_ms: 1000,
              success_rate: 0.5,
            },
            {
              ...base,
              id: "claude:chat",
              provider_id: "claude",
              provider_name: "Claude MCP",
              route: "chat",
              lane: "balanced",
              run_count: 1,
              tokens_in: 60,
              tokens_out: 40,
              cost_usd: 0.05,
              avg_latency_ms: 700,
              success_rate: 0,
            },
            {
              ...base,
              id: "codex:default",
              provider_id: "codex",
              provider_name: "Codex CLI",
              route: null,
              lane: "economy",
              run_count: 1,
              tokens_in: 1,
              tokens_out: 1,
              cost_usd: 0,
              avg_latency_ms: 900,
              success_rate: 0,
            },
          ],
          next_cursor: null,
        });
      });

      it("lane and provider filters; empty answers", async () => {
        const balanced = await ok(server, "pareto", "lane=Balanced");
        expect(balanced.items.map((i: any) => i.id)).toEqual(["gemini:chat", "gemini:balanced", "gemini:default", "claude:chat"]);
        const gemini = await ok(server, "pareto", "provider_id=gemini&end=2025-04-02T08:00:00Z");
        // run 5 alone (before run 6 with the literal route): route stays null.
        expect(gemini.items.map((i: any) => [i.id, i.route, i.run_count])).toEqual([
          ["gemini:chat", "chat", 2],
          ["gemini:balanced", "balanced", 1],
          ["gemini:default", null, 1],
        ]);
        expect(await ok(server, "pareto", "lane=unknown")).toEqual({ items: [], next_cursor: null });
        expect(await ok(server, "pareto", "provider_id=ghost&lane=balanced")).toEqual({ items: [], next_cursor: null });
      });
    });

    describe("runs (§10.6)", () => {
      it("newest first (ts desc, id desc) with the full run item", async () => {
        const page = await ok(server, "runs");
        expect(page.next_cursor).toBeNull();
        // Runs 9 and 10 share a ts: id desc puts 10 first.
        expect(page.items.map((r: any) => r.id)).toEqual([...ids].reverse());
        expect(page.items[0]).toEqual({
          id: ids[9],
          provider_id: "codex",
          provider_name: "Codex CLI",
          route: null,
          lane: "economy",
          tool: "chat.complete",
          ts: "2025-04-03T06:00:00Z",
          tokens_in: 1,
          tokens_out: 1,
          duration_ms: 900,
          status: "denied",
          cost_usd: 0,
          metadata: {},
          experiment_cohort: null,
          experiment_tag: null,
        });
        const ghost = page.items.find((r: any) => r.provider_id === "ghost");
        expect(ghost.lane).toBeNull();
        expect(ghost.provider_name).toBe("ghost");
        const first = page.items[9];
        expect(first.metadata).toEqual({ cache: { hit: true, tokens: 150 }, project: "p1" });
        expect(page.items.find((r: any) => r.id === ids[4]).cost_usd).toBe(0); // unknown cost
        expect(page.items.find((r: any) => r.id === ids[2]).ts).toBe("2025-04-01T23:59:59.999Z");
      });

      it("filters: provider_id, route, lane, bounds; empty answers", async () => {
        const idsOf = async (q: string) => (await ok(server, "runs", q)).items.map((r: any) => r.id);
        expect(await idsOf("provider_id=codex")).toEqual([ids[9], ids[6]]);
        expect(await idsOf("route=chat")).toEqual([ids[8], ids[1], ids[0]]);
        expect(await idsOf("route=chat&provider_id=gemini")).toEqual([ids[1], ids[0]]);
        expect(await idsOf("lane=economy")).toEqual([ids[9], ids[6]]);
        expect(await idsOf("lane=turbo")).toEqual([ids[2]]);
        expect(await idsOf("lane=balanced&route=chat")).toEqual([ids[8], ids[1], ids[0]]);
        expect(await idsOf("start=2025-04-02T00:00:00Z&end=2025-04-02T09:00:00Z")).toEqual([ids[5], ids[4], ids[3]]);
        expect(await ok(server, "runs", "lane=nope")).toEqual({ items: [], next_cursor: null });
        expect(await ok(server, "runs", "provider_id=ghost&lane=balanced")).toEqual({ items: [], next_cursor: null });
        expect(await ok(server, "runs", "route=nowhere")).toEqual({ items: [], next_cursor: null });
      });

      it("pages with limit and a cursor; the cursor is the contract's encoding of the last item", async () => {
        const first = await ok(server, "runs", "limit=3");
        expect(first.items.map((r: any) => r.id)).toEqual([ids[9], ids[8], ids[7]]);
        const decoded = JSON.parse(Buffer.from(first.next_cursor, "base64url").toString("utf8"));
        expect(decoded).toEqual({ ts: "2025-04-03T05:00:00.000Z", id: ids[7] });
        expect(first.next_cursor).not.toMatch(/=/);
        // limit and filters may change between pages.
        const second = await ok(server, "runs", `limit=4&cursor=${first.next_cursor}&provider_id=gemini`);
        expect(second.items.map((r: any) => r.id)).toEqual([ids[5], ids[4], ids[3], ids[1]]);
        const third = await ok(server, "runs", `limit=4&cursor=${second.next_cursor}&provider_id=gemini`);
        expect(third).toEqual({ items: [expect.objectContaining({ id: ids[0] })], next_cursor: null });
        // A client-made cursor in the contract's form (ts without milliseconds) designates the same position.
        const handMade = Buffer.from(JSON.stringify({ ts: "2025-04-03T06:00:00Z", id: ids[9] })).toString("base64url");
        const after = await ok(server, "runs", `limit=2&cursor=${handMade}`);
        expect(after.items.map((r: any) => r.id)).toEqual([ids[8], ids[7]]);
        expect(await ok(server, "runs", "cursor=")).toEqual(await ok(server, "runs"));
      });
    });

    describe("errors (§6.4, §6.5)", () => {
      const expect422 = async (endpoint: string, query: string, loc: string[]) => {
        const res = await get(server, endpoint, query);
        expect(res.status).toBe(422);
        expect(Array.isArray(res.body.detail)).toBe(true);
        expect(res.body.detail.map((d: any) => d.loc)).toContainEqual(loc);
      };

      it.each(["0", "101", "abc", "2.5", "", "-1", "1e2"])("limit=%s → 422", async (limit) => {
        await expect422("runs", `limit=${limit}`, ["query", "limit"]);
      });

      it("accepts limit bounds 1 and 100 and a signed limit", async () => {
        expect((await ok(server, "runs", "limit=1")).items).toHaveLength(1);
        expect((await ok(server, "runs", "limit=100")).items).toHaveLength(10);
        expect((await ok(server, "runs", "limit=%2B2")).items).toHaveLength(2);
      });

      it.each(["metrics", "heatmap", "timeseries", "pareto", "runs"])("%s: bad and empty datetimes → 422", async (endpoint) => {
        for (const value of ["not-a-date", "2025-13-45T00:00:00Z", "2025-02-30T00:00:00Z", "2025-01-01T24:00:00Z", ""]) {
          await expect422(endpoint, `start=${encodeURIComponent(value)}`, ["query", "start"]);
          await expect422(endpoint, `end=${encodeURIComponent(value)}`, ["query", "end"]);
        }
        const both = await get(server, endpoint, "start=x&end=y");
        expect(both.body.detail.map((d: any) => d.loc)).toEqual([
          ["query", "start"],
          ["query", "end"],
        ]);
      });

      it.each(["metrics", "heatmap", "timeseries", "pareto", "runs"])("%s: start > end → 400, start == end allowed", async (endpoint) => {
        const res = await get(server, endpoint, "start=2025-04-02T00:00:00Z&end=2025-04-01T23:59:59.999Z");
        expect(res.status).toBe(400);
        expect(res.body).toEqual({ detail: "start must be before end" });
        expect((await get(server, endpoint, "start=2025-04-02T00:00:00Z&end=2025-04-02T00:00:00Z")).status).toBe(200);
        // start > end is checked whatever the other filters (even a lane matching nothing).
        expect((await get(server, endpoint, "start=2025-04-02&end=2025-04-01&lane=nope&provider_id=x")).status).toBe(400);
      });

      it("malformed cursor → 400 invalid cursor; order 422, then start > end, then cursor", async () => {
        for (const cursor of [
          "!!!",
          "abc=",
          "A".repeat(513),
          Buffer.from('{"ts":"x","id":1}').toString("base64url"),
          Buffer.from('{"ts":"2025-04-01T00:00:00Z","id":-1}').toString("base64url"),
          Buffer.from("[1]").toString("base64url"),
        ]) {
          const res = await get(server, "runs", `cursor=${encodeURIComponent(cursor)}`);
          expect(res.status).toBe(400);
          expect(res.body).toEqual({ detail: "invalid cursor" });
        }
        expect((await get(server, "runs", "cursor=!!!&limit=0")).status).toBe(422);
        const order = await get(server, "runs", "cursor=!!!&start=2025-04-02&end=2025-04-01");
        expect(order.status).toBe(400);
        expect(order.body).toEqual({ detail: "start must be before end" });
        // A cursor on an endpoint without pagination is ignored.
        expect((await get(server, "heatmap", "cursor=!!!")).status).toBe(200);
      });
    });
  });

  describe(`${label}: empty store and keyset walks`, () => {
    let server: TestServer;
    let stop: () => Promise<void>;

    beforeAll(async () => {
      ({ server, stop } = await start({}));
    });
    afterAll(async () => {
      await stop();
    });

    it("every endpoint answers its empty answer on an empty store", async () => {
      expect(await ok(server, "metrics")).toEqual({ ...EMPTY_METRICS, start: null, end: null });
      expect(await ok(server, "heatmap")).toEqual({ buckets: [] });
      expect(await ok(server, "timeseries")).toEqual({ items: [], next_cursor: null });
      expect(await ok(server, "pareto")).toEqual({ items: [], next_cursor: null });
      expect(await ok(server, "runs")).toEqual({ items: [], next_cursor: null });
    });

    /** Walks every page of provider `provider` with `limit`; returns the pages' ids. */
    async function walk(provider: string, limit: number, between?: (cursor: string | null) => Promise<void>): Promise<number[][]> {
      const pages: number[][] = [];
      let cursor: string | null = null;
      do {
        const query: string = `provider_id=${provider}&limit=${limit}${cursor === null ? "" : `&cursor=${cursor}`}`;
        const body = await ok(server, "runs", query);
        pages.push(body.items.map((r: any) => r.id));
        if (body.next_cursor !== null) expect(body.items).toHaveLength(limit); // a page with a cursor is full
        cursor = body.next_cursor;
        if (between !== undefined) await between(cursor);
      } while (cursor !== null && pages.length < 100);
      return pages;
    }

    /** n runs of `provider`, several sharing a ts (so the id breaks ties), inserted out of ts order. */
    function walkRuns(provider: string, n: number, base = Date.UTC(2025, 4, 1)): Run[] {
      const runs: Run[] = [];
      for (let i = 0; i < n; i++) {
        const slot = (i * 7) % 17; // 17 instants, about three runs each, inserted out of ts order
        runs.push({ provider_id: provider, ts: new Date(base + slot * 60_000).toISOString(), duration_ms: i });
      }
      return runs;
    }

    /** The ids of the stored runs of a provider in (ts desc, id desc) order, from the ingestion answer. */
    function expectedOrder(runs: Run[], runIds: number[]): number[] {
      return runs
        .map((r, i) => ({ ts: Date.parse(r.ts as string), id: runIds[i] }))
        .sort((a, b) => b.ts - a.ts || b.id - a.id)
        .map((r) => r.id);
    }

    it("walks 49 runs with limit 7: seven full pages, disjoint and complete, last cursor null", async () => {
      const runs = walkRuns("walker", 49);
      const runIds = await ingest(server, runs);
      const pages = await walk("walker", 7);
      expect(pages).toHaveLength(7);
      for (const page of pages) expect(page).toHaveLength(7);
      expect(pages.flat()).toEqual(expectedOrder(runs, runIds));

      // One more (older) run: an eighth page with one item.
      const older = [{ provider_id: "walker", ts: "2025-04-30T00:00:00Z" }];
      const olderIds = await ingest(server, older);
      const again = await walk("walker", 7);
      expect(again.map((p) => p.length)).toEqual([7, 7, 7, 7, 7, 7, 7, 1]);
      expect(again.flat()).toEqual([...expectedOrder(runs, runIds), olderIds[0]]);
    });

    it("runs ingested during a walk with a newer position never appear and never shift the pages", async () => {
      const runs = walkRuns("stream", 50);
      const runIds = await ingest(server, runs);
      const expected = expectedOrder(runs, runIds);
      const pages = await walk("stream", 7, async (cursor) => {
        if (cursor === null) return;
        // Newer than everything, and exactly at the cursor's ts with a higher id: both sort before the
        // cursor's position, so neither may show up in the rest of the walk.
        const at = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")).ts as string;
        await ingest(server, [
          { provider_id: "stream", ts: "2025-06-01T00:00:00Z" },
          { provider_id: "stream", ts: at },
        ]);
      });
      const seen = pages.flat();
      expect(pages.map((p) => p.length)).toEqual([7, 7, 7, 7, 7, 7, 7, 1]);
      expect(new Set(seen).size).toBe(seen.length); // no duplicates
      expect(seen).toEqual(expected); // nothing skipped, nothing new
      // The newer runs are there for a fresh walk.
      const fresh = (await walk("stream", 100)).flat();
      expect(fresh).toHaveLength(50 + 2 * (pages.length - 1));
    });
  });
}
