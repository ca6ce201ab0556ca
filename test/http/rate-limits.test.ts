/**
 * Rate limits over HTTP (runtime-contract §25.3). Rates are chosen so the outcome does not depend on
 * how fast the machine answers: at 0.1 requests/s the burst is 0.2 tokens, so the first request is
 * granted and leaves a debt, and every request within the next ~10 s is refused.
 * - the configured default, per client address in open mode: 429 `Rate limit exceeded` with
 *   Retry-After (whole seconds); /healthz and /readyz exempt;
 * - a key's own limit, per key: one key refused while another goes on; `rate_limit_rps: 0` = none;
 * - ingestion counted by runs: a batch of 50 runs at 0.1 runs/s asks for ~500 s before the next
 *   run, while requests that ingest nothing go on; the refused batch stores nothing and is audited.
 */
import { request, startTestServer, TestServer } from "../helpers/server";

const LIMITED = { detail: "Rate limit exceeded" };

describe("the default limit per client address (open mode)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ CONSOLE_MCP_RATE_LIMIT_RPS: "0.1" });
  }, 60_000);
  afterAll(() => server?.stop());

  it("the second request is refused with Retry-After; health and readiness stay exempt", async () => {
    expect((await request(`${server.baseUrl}/servers`)).status).toBe(200);
    const refused = await request(`${server.baseUrl}/providers`);
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual(LIMITED);
    const retry = Number(refused.headers.get("retry-after"));
    expect(Number.isInteger(retry)).toBe(true);
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(10);
    expect((await request(`${server.baseUrl}/servers`, { method: "POST", json: { id: "x", name: "X", command: "x" } })).status).toBe(429);
    for (let i = 0; i < 5; i++) {
      expect((await request(`${server.baseUrl}/healthz`)).status).toBe(200);
      expect((await request(`${server.baseUrl}/readyz`)).status).toBe(200);
    }
  });
});

describe("limits per key, and runs counted by runs", () => {
  let server: TestServer;
  const ADMIN = "rate-admin-key-0123456789";
  const keys: Record<string, string> = {};
  const as = (name: string, init: RequestInit & { json?: unknown } = {}) => ({
    ...init,
    headers: { "x-api-key": keys[name], ...(init.headers as Record<string, string>) },
  });

  beforeAll(async () => {
    server = await startTestServer({ CONSOLE_MCP_ADMIN_KEY: ADMIN, CONSOLE_MCP_RATE_LIMIT_RUNS: "0.1" });
    keys.admin = ADMIN;
    for (const [name, body] of [
      ["slow", { rate_limit_rps: 0.1 }],
      ["free", {}],
      ["ingest", { rate_limit_rps: 0 }],
    ] as const) {
      const res = await request(`${server.baseUrl}/security/api-keys`, as("admin", { method: "POST", json: { name, role: "operator", ...body } }));
      expect(res.status).toBe(201);
      keys[name] = res.body.secret;
    }
  }, 60_000);
  afterAll(() => server?.stop());

  it("a key's own limit applies to it alone; no limit configured means none", async () => {
    expect((await request(`${server.baseUrl}/servers`, as("slow"))).status).toBe(200);
    expect(await request(`${server.baseUrl}/servers`, as("slow"))).toMatchObject({ status: 429, body: LIMITED });
    for (let i = 0; i < 10; i++) expect((await request(`${server.baseUrl}/servers`, as("free"))).status).toBe(200);
  });

  it("ingestion is counted by runs: 50 runs ask for ~500 s before the next; requests without runs go on", async () => {
    const runs = Array.from({ length: 50 }, () => ({ provider_id: "gemini", route: "rate" }));
    expect((await request(`${server.baseUrl}/telemetry/runs`, as("ingest", { method: "POST", json: { runs } }))).status).toBe(201);
    const refused = await request(
      `${server.baseUrl}/telemetry/runs`,
      as("ingest", { method: "POST", json: { provider_id: "gemini", route: "refused" }, headers: { "x-request-id": "rate-refused" } }),
    );
    expect(refused).toMatchObject({ status: 429, body: LIMITED });
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(490);
    // The other key's runs have their own bucket; the key's other requests are not runs.
    expect(
      (await request(`${server.baseUrl}/telemetry/runs`, as("free", { method: "POST", json: { provider_id: "gemini", route: "other" } }))).status,
    ).toBe(201);
    for (let i = 0; i < 5; i++) expect((await request(`${server.baseUrl}/sessions`, as("ingest"))).status).toBe(200);
    const stored = await request(`${server.baseUrl}/telemetry/runs?route=refused&start=2000-01-01`, as("free"));
    expect(stored.body.items).toEqual([]);
    const audit = (await request(`${server.baseUrl}/audit/logs?limit=1000`, as("admin"))).body.items.filter(
      (e: any) => e.request_id === "rate-refused",
    );
    expect(audit).toEqual([expect.objectContaining({ actor: "ingest", action: "telemetry.ingest", outcome: "denied", status: 429 })]);
  });
});
