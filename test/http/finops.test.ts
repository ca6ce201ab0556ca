/**
 * FinOps over real HTTP on a SQLite store: the shared report/registration suite, plus the query
 * parameter validation of both report endpoints.
 */
import fs from "node:fs";
import path from "node:path";
import { TestServer, request, startTestServer, tempDir } from "../helpers/server";
import { finopsSuite, getReport, ingestRuns, registerPr } from "./finops-suite";

finopsSuite("sqlite", async () => {
  const server = await startTestServer();
  return { server, stop: () => server.stop() };
});

describe("finops report parameters (§12, §6)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.stop();
  });

  const kinds = ["sprints", "pull-requests"] as const;

  it.each(kinds)("%s: 422 for out-of-range or malformed parameters", async (kind) => {
    const cases: [string, string, string][] = [
      ["window_days=0", "window_days", "greater_than_equal"],
      ["window_days=91", "window_days", "less_than_equal"],
      ["window_days=2.5", "window_days", "int_parsing"],
      ["window_days=", "window_days", "int_parsing"],
      ["limit=0", "limit", "greater_than_equal"],
      ["limit=13", "limit", "less_than_equal"],
      ["limit=abc", "limit", "int_parsing"],
      ["start=not-a-date", "start", "datetime_parsing"],
      ["start=", "start", "datetime_parsing"],
      ["end=2025-02-30T00:00:00Z", "end", "datetime_parsing"],
    ];
    for (const [query, field, type] of cases) {
      const res = await getReport(server, kind, query);
      expect([query, res.status]).toEqual([query, 422]);
      expect(res.body.detail).toEqual([expect.objectContaining({ loc: ["query", field], type })]);
    }
    const several = await getReport(server, kind, "limit=99&window_days=-1&start=x");
    expect(several.status).toBe(422);
    expect(several.body.detail.map((d: { loc: string[] }) => d.loc[1]).sort()).toEqual(["limit", "start", "window_days"]);
  });

  it.each(kinds)("%s: accepts the bounds and the last of repeated keys", async (kind) => {
    for (const query of ["window_days=1&limit=1", "window_days=90&limit=12", "window_days=%2B7", "limit=0&limit=3", "provider_id=&lane="]) {
      const res = await getReport(server, kind, query);
      expect([query, res.status, res.body]).toEqual([query, 200, { items: [] }]);
    }
  });

  it.each(kinds)("%s: 400 when start > end, checked before the filters; 422 comes first", async (kind) => {
    for (const query of [
      "start=2025-04-02&end=2025-04-01",
      "start=2025-04-01T00:00:00.001Z&end=2025-04-01T00:00:00Z&lane=economy&provider_id=nobody",
    ]) {
      const res = await getReport(server, kind, query);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ detail: "start must be before end" });
    }
    const equal = await getReport(server, kind, "start=2025-04-01&end=2025-04-01T00:00:00Z");
    expect(equal.status).toBe(200);
    const invalid = await getReport(server, kind, "start=2025-04-02&end=2025-04-01&limit=0");
    expect(invalid.status).toBe(422);
  });

  it("405 for methods the report paths do not define", async () => {
    const res = await request(`${server.baseUrl}/telemetry/finops/sprints`, { method: "POST", json: {} });
    expect(res.status).toBe(405);
  });
});

describe("finops lane filter follows manifest changes (providers.changed)", () => {
  let server: TestServer;
  let dir: string;
  let manifestPath: string;
  const manifest = (lane?: string) =>
    JSON.stringify({ providers: [{ id: "gemini", name: "Gemini MCP", command: "gemini-mcp", ...(lane ? { lane } : {}) }] });

  beforeAll(async () => {
    dir = tempDir("console-mcp-finops-manifest-");
    manifestPath = path.join(dir, "servers.json");
    fs.writeFileSync(manifestPath, manifest());
    server = await startTestServer({ CONSOLE_MCP_SERVERS_PATH: manifestPath });
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("re-reads the lanes after the manifest is reloaded", async () => {
    await ingestRuns(server, [{ provider_id: "gemini", route: "chat", ts: "2025-04-08T10:00:00Z", cost_usd: 1 }]);
    expect((await registerPr(server, { id: "pr-1", title: "t", merged_at: "2025-04-08T00:00:00Z", provider_id: "gemini" })).status).toBe(201);
    const q = "lane=economy&start=2025-04-01&end=2025-04-30";
    // Warm the caches with the hash-derived lane (balanced).
    expect((await getReport(server, "sprints", q)).body.items).toEqual([]);
    expect((await getReport(server, "pull-requests", q)).body.items).toEqual([]);

    fs.writeFileSync(manifestPath, manifest("economy"));
    const deadline = Date.now() + 15_000;
    let sprints: unknown[] = [];
    while (Date.now() < deadline) {
      sprints = (await getReport(server, "sprints", q)).body.items;
      if (sprints.length > 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(sprints).toHaveLength(1);
    const prs = (await getReport(server, "pull-requests", q)).body.items;
    expect(prs).toEqual([expect.objectContaining({ id: "pr-1", lane: "economy", cost_impact_usd: 1 })]);
  });
});
