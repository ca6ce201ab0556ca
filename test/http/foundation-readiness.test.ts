/**
 * GET /readyz (§8.2): 503 with the failed checks when services are absent, 200 when every contract
 * service runs; on a node whose SERVICES include the runtime, its `runtime` check too (its start
 * not yet complete is covered by test/http/runtime-reaping.test.ts).
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

  it("200 ready, every check ok (the runtime's last: this node runs it), no missing list", async () => {
    const res = await readyz(server);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      status: "ready",
      checks: { store: "ok", providers: "ok", sessions: "ok", telemetry: "ok", finops: "ok", routing: "ok", runtime: "ok" },
    });
    expect(Object.keys(res.body.checks)).toEqual(["store", "providers", "sessions", "telemetry", "finops", "routing", "runtime"]);
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

  it("turns not ready when this node's runtime goes away", async () => {
    const runtime = server.broker.getLocalService("runtime");
    expect(runtime).toBeDefined();
    await server.broker.destroyService(runtime as NonNullable<typeof runtime>);
    const res = await readyz(server);
    expect(res.status).toBe(503);
    expect(res.body.checks.runtime).toBe("missing");
    expect(res.body.missing).toEqual(["routing", "runtime"]);
  });
});

describe("GET /readyz and the runtime", () => {
  it("a node whose SERVICES include the runtime checks it: ok once its start is complete", async () => {
    const server = await startTestServer({ SERVICES: "api,providers,sessions,runtime" });
    try {
      const res = await readyz(server);
      expect(res.status).toBe(503);
      expect(res.body).toEqual({
        status: "not_ready",
        checks: { store: "ok", providers: "ok", sessions: "ok", telemetry: "missing", finops: "missing", routing: "missing", runtime: "ok" },
        missing: ["telemetry", "finops", "routing"],
      });
      // What the check asks the runtime of this node.
      expect(await server.broker.call("runtime.ready", {}, { nodeID: server.broker.nodeID })).toEqual({ status: "ready" });
    } finally {
      await server.stop();
    }
  });

  it("a node without the runtime in its SERVICES has no runtime check (a deployment without it is ready)", async () => {
    const server = await startTestServer({ SERVICES: "api,providers,sessions,telemetry,finops,routing" });
    try {
      const res = await readyz(server);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        status: "ready",
        checks: { store: "ok", providers: "ok", sessions: "ok", telemetry: "ok", finops: "ok", routing: "ok" },
      });
    } finally {
      await server.stop();
    }
  });
});
