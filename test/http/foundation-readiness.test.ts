/**
 * GET /readyz (§8.2): 503 with the failed checks when services are absent, 200 when every contract
 * service runs.
 */
import { request, startTestServer, TestServer } from "../helpers/server";

async function readyz(server: TestServer) {
  return request(`${server.baseUrl}/readyz`);
}

describe("GET /readyz with some services absent", () => {
  it("SERVICES=api,providers,sessions: 503, store ok, the three missing services listed in check order", async () => {
    const server = await startTestServer({ SERVICES: "api,providers,sessions" });
    try {
      const res = await readyz(server);
      expect(res.status).toBe(503);
      expect(res.body).toEqual({
        status: "not_ready",
        checks: { store: "ok", providers: "ok", sessions: "ok", telemetry: "missing", finops: "missing", routing: "missing" },
        missing: ["telemetry", "finops", "routing"],
      });
      expect(Object.keys(res.body.checks)).toEqual(["store", "providers", "sessions", "telemetry", "finops", "routing"]);
    } finally {
      await server.stop();
    }
  });

  it("SERVICES=api,providers: no store owner → store missing too", async () => {
    const server = await startTestServer({ SERVICES: "api,providers" });
    try {
      const res = await readyz(server);
      expect(res.status).toBe(503);
      expect(res.body.status).toBe("not_ready");
      expect(res.body.checks.store).toBe("missing");
      expect(res.body.checks.providers).toBe("ok");
      expect(res.body.missing).toEqual(["store", "sessions", "telemetry", "finops", "routing"]);
      // Liveness does not depend on anything.
      expect((await request(`${server.baseUrl}/healthz`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});

describe("GET /readyz with every service", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({});
  });
  afterAll(async () => {
    await server.stop();
  });

  it("200 ready, every check ok, no missing list", async () => {
    const res = await readyz(server);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      status: "ready",
      checks: { store: "ok", providers: "ok", sessions: "ok", telemetry: "ok", finops: "ok", routing: "ok" },
    });
  });

  it("turns not ready when a service goes away", async () => {
    const routing = server.broker.getLocalService("routing");
    expect(routing).toBeDefined();
    await server.broker.destroyService(routing as NonNullable<typeof routing>);
    const res = await readyz(server);
    expect(res.status).toBe(503);
    expect(res.body.checks.routing).toBe("missing");
    expect(res.body.missing).toEqual(["routing"]);
  });
});
