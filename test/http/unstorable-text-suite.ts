/**
 * Text no store can keep verbatim (NUL, lone surrogates): a 422 where it would be stored, an empty
 * answer where it only filters — on SQLite and PostgreSQL alike (PostgreSQL rejects NUL in text, so
 * an unguarded value there is a 500).
 */
import { request, startTestServer, TestServer } from "../helpers/server";

/** What a 422 for unstorable text says: both kinds of text, whichever the input holds. */
const MESSAGE = /NUL.*lone .*surrogates|text that cannot be stored/;

export function unstorableTextSuite(env: () => Record<string, string>): void {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(env());
    const seeded = await request(`${server.baseUrl}/telemetry/runs`, {
      method: "POST",
      json: { runs: [{ provider_id: "gemini", route: "chat", cost_usd: 1, tokens_in: 10, status: "error" }] },
    });
    expect(seeded.status).toBe(201);
    const pr = await request(`${server.baseUrl}/telemetry/finops/pull-requests`, {
      method: "POST",
      json: { id: "pr-1", title: "t", merged_at: new Date().toISOString(), provider_id: "gemini" },
    });
    expect(pr.status).toBe(201);
  });
  afterAll(() => server?.stop());

  const filters: [string, unknown][] = [
    ["telemetry/metrics?provider_id=gemini%00", { total_runs: 0, extended: null, providers: [] }],
    ["telemetry/metrics?route=chat%00", { total_runs: 0 }],
    ["telemetry/heatmap?provider_id=%00", { buckets: [] }],
    ["telemetry/timeseries?provider_id=gemini%00x", { items: [], next_cursor: null }],
    ["telemetry/pareto?provider_id=%00", { items: [], next_cursor: null }],
    ["telemetry/runs?route=chat%00", { items: [], next_cursor: null }],
    ["telemetry/finops/sprints?provider_id=gemini%00", { items: [] }],
    ["telemetry/finops/pull-requests?provider_id=gemini%00", { items: [] }],
  ];

  it.each(filters)("GET %s answers the empty answer", async (path, expected) => {
    const res = await request(`${server.baseUrl}/${path}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject(expected as object);
  });

  it("a surrogate percent-encoded as bytes (%ED%A0%80 is not UTF-8) is a 422 for that parameter, not a guess", async () => {
    const res = await request(`${server.baseUrl}/telemetry/heatmap?route=%ED%A0%80`);
    expect(res.status).toBe(422);
    expect(res.body.detail.map((d: { loc: unknown[] }) => d.loc)).toEqual([["query", "route"]]);
  });

  it("still finds the data without the NUL (the filters above are what emptied the answers)", async () => {
    const metrics = await request(`${server.baseUrl}/telemetry/metrics?provider_id=gemini&route=chat`);
    expect(metrics.body.total_runs).toBe(1);
    const prs = await request(`${server.baseUrl}/telemetry/finops/pull-requests?provider_id=gemini`);
    expect(prs.body.items.map((i: { id: string }) => i.id)).toEqual(["pr-1"]);
  });

  it.each([
    ["provider_id", { provider_id: "gem\u0000ini" }],
    ["tool", { provider_id: "gemini", tool: "x\u0000" }],
    ["route", { provider_id: "gemini", route: "\ud800chat" }],
    ["status", { provider_id: "gemini", status: "ok\u0000" }],
    ["experiment_tag", { provider_id: "gemini", experiment_tag: "\u0000" }],
  ])("POST /telemetry/runs with unstorable text in %s → 422 naming it, nothing stored", async (field, run) => {
    const before = (await request(`${server.baseUrl}/telemetry/metrics`)).body.total_runs;
    const res = await request(`${server.baseUrl}/telemetry/runs`, { method: "POST", json: { runs: [{ provider_id: "ok" }, run] } });
    expect(res.status).toBe(422);
    expect(res.body.detail).toContainEqual(
      expect.objectContaining({ type: "string_unicode", loc: ["body", "runs", 1, field], msg: expect.stringMatching(MESSAGE) }),
    );
    expect((await request(`${server.baseUrl}/telemetry/metrics`)).body.total_runs).toBe(before);
  });

  it("keeps NUL inside metadata (stored as escaped JSON text)", async () => {
    const res = await request(`${server.baseUrl}/telemetry/runs`, {
      method: "POST",
      json: { provider_id: "nul-meta", metadata: { note: "a\u0000b" } },
    });
    expect(res.status).toBe(201);
    const runs = await request(`${server.baseUrl}/telemetry/runs?provider_id=nul-meta`);
    expect(runs.body.items[0].metadata).toEqual({ note: "a\u0000b" });
  });

  it.each([
    ["id", { id: "pr\u0000", title: "t", merged_at: "2025-01-01", provider_id: "x" }],
    ["title", { id: "pr-2", title: "\ud800", merged_at: "2025-01-01", provider_id: "x" }],
    ["owner", { id: "pr-3", title: "t", owner: "a\u0000", merged_at: "2025-01-01", provider_id: "x" }],
    ["route", { id: "pr-4", title: "t", merged_at: "2025-01-01", provider_id: "x", route: "\u0000" }],
  ])("POST /telemetry/finops/pull-requests with unstorable text in %s → 422", async (field, body) => {
    const res = await request(`${server.baseUrl}/telemetry/finops/pull-requests`, { method: "POST", json: body });
    expect(res.status).toBe(422);
    expect(res.body.detail).toContainEqual(
      expect.objectContaining({ type: "string_unicode", loc: ["body", field], msg: expect.stringMatching(MESSAGE) }),
    );
  });

  it.each([
    ["command", "x\ud800"],
    ["command", "x\u0000"],
    ["name", "\udc00name"],
    ["description", "a\u0000b"],
  ])("POST /servers with unstorable text in %s (%j) → 422 whose message names NUL and lone surrogates, nothing stored", async (field, value) => {
    const body = { id: "unstorable", name: "n", command: "c", [field]: value };
    const res = await request(`${server.baseUrl}/servers`, { method: "POST", json: body });
    expect(res.status).toBe(422);
    expect(res.body.detail).toEqual([{ type: "string_unicode", loc: ["body", field], msg: expect.stringMatching(MESSAGE), input: value }]);
    expect((await request(`${server.baseUrl}/servers/unstorable`)).status).toBe(404);
  });

  it("POST /providers/{id}/sessions with a lone surrogate in reason → the same message", async () => {
    const res = await request(`${server.baseUrl}/providers/gemini/sessions`, { method: "POST", json: { reason: "r\ud800" } });
    expect(res.status).toBe(422);
    expect(res.body.detail).toEqual([expect.objectContaining({ loc: ["body", "reason"], msg: expect.stringMatching(MESSAGE) })]);
  });
}
