/**
 * CORS over real HTTP (§14): preflights, actual requests, the default allow-list and explicit lists.
 */
import { request, startTestServer, TestServer } from "../helpers/server";

const ALLOWED = "http://127.0.0.1:5173";
const ALLOWED_TOO = "http://localhost:5173";
const STRANGER = "https://evil.example";

function preflight(url: string, origin: string, requestHeaders?: string) {
  const headers: Record<string, string> = { origin, "access-control-request-method": "POST" };
  if (requestHeaders !== undefined) headers["access-control-request-headers"] = requestHeaders;
  return request(url, { method: "OPTIONS", headers });
}

function expectNoCors(headers: Headers): void {
  expect(headers.get("access-control-allow-origin")).toBeNull();
  expect(headers.get("access-control-allow-methods")).toBeNull();
}

describe("default allow-list", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ SERVICES: "api,providers,sessions" });
  });
  afterAll(async () => {
    await server.stop();
  });
  const url = (p: string) => `${server.baseUrl}${p}`;

  it.each([ALLOWED, ALLOWED_TOO])("preflight from %s: 200 OK with every header", async (origin) => {
    const res = await preflight(url("/providers/gemini/sessions"), origin, "content-type,x-api-key");
    expect(res.status).toBe(200);
    expect(res.text).toBe("OK");
    expect(res.headers.get("access-control-allow-origin")).toBe(origin);
    expect(res.headers.get("access-control-allow-credentials")).toBe("true");
    expect(res.headers.get("access-control-allow-methods")).toBe("DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT");
    expect(res.headers.get("access-control-allow-headers")).toBe("content-type,x-api-key");
    expect(res.headers.get("access-control-max-age")).toBe("600");
    expect(res.headers.get("vary")).toMatch(/\bOrigin\b/);
  });

  it("preflight echoes whatever headers are requested", async () => {
    const res = await preflight(url("/sessions"), ALLOWED, "X-API-Key, Content-Type, X-Custom");
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-headers")).toBe("X-API-Key, Content-Type, X-Custom");
  });

  it("preflight on an unknown path is answered too", async () => {
    const res = await preflight(url("/does/not/exist"), ALLOWED, "content-type");
    expect(res.status).toBe(200);
    expect(res.text).toBe("OK");
    expect(res.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    const outside = await preflight(url("/../../elsewhere"), ALLOWED);
    expect(outside.status).toBe(200);
  });

  it.each([STRANGER, "http://127.0.0.1:5174", "http://127.0.0.1:5173/", "null"])(
    "preflight from %s: 400 text, no Access-Control-Allow-Origin",
    async (origin) => {
      const res = await preflight(url("/sessions"), origin, "content-type");
      expect(res.status).toBe(400);
      expect(res.text).toBe("Disallowed CORS origin");
      expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
      expectNoCors(res.headers);
    },
  );

  it("actual request with an allowed origin carries the headers", async () => {
    const res = await request(url("/providers"), { headers: { origin: ALLOWED, "content-type": "application/json" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    expect(res.headers.get("access-control-allow-credentials")).toBe("true");
    expect(res.headers.get("vary")).toMatch(/\bOrigin\b/);
    expect(res.body.providers).toHaveLength(4);
  });

  it.each([
    ["404 unknown path", "GET", "/nope", undefined, 404],
    ["404 unknown session", "GET", "/sessions/x", undefined, 404],
    ["404 unknown provider", "POST", "/providers/nope/sessions", undefined, 404],
    ["422 bad body", "POST", "/providers/gemini/sessions", "[1]", 422],
    ["405 wrong method", "DELETE", "/sessions", undefined, 405],
  ])("actual request with an allowed origin on an error (%s)", async (_label, method, p, body, status) => {
    const res = await request(url(p), {
      method,
      body,
      headers: { origin: ALLOWED_TOO, "content-type": "application/json" },
    });
    expect(res.status).toBe(status);
    expect(res.body).toHaveProperty("detail");
    expect(res.headers.get("access-control-allow-origin")).toBe(ALLOWED_TOO);
    expect(res.headers.get("access-control-allow-credentials")).toBe("true");
    expect(res.headers.get("vary")).toMatch(/\bOrigin\b/);
  });

  it("actual request from a disallowed origin: a read gets its normal answer without Access-Control-Allow-Origin; a write is refused (runtime-contract §25.1)", async () => {
    const res = await request(url("/providers"), { headers: { origin: STRANGER } });
    expect(res.status).toBe(200);
    expect(res.body.providers).toHaveLength(4);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    const before = (await request(url("/sessions"))).body.sessions.length;
    const created = await request(url("/providers/gemini/sessions"), { method: "POST", headers: { origin: STRANGER } });
    expect(created.status).toBe(403);
    expect(created.body).toEqual({ detail: "Origin not allowed" });
    expect(created.headers.get("access-control-allow-origin")).toBeNull();
    expect((await request(url("/sessions"))).body.sessions).toHaveLength(before);
  });

  it("no Origin: no CORS headers", async () => {
    const res = await request(url("/providers"));
    expect(res.status).toBe(200);
    expectNoCors(res.headers);
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    const err = await request(url("/nope"));
    expect(err.status).toBe(404);
    expectNoCors(err.headers);
  });

  it("an OPTIONS request without Access-Control-Request-Method is not a preflight: 405 on a known path", async () => {
    const res = await request(url("/sessions"), { method: "OPTIONS", headers: { origin: ALLOWED } });
    expect(res.status).toBe(405);
    expect(res.body).toEqual({ detail: "Method Not Allowed" });
    expect(res.headers.get("allow")).toBe("GET");
    expect(res.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    const noOrigin = await request(url("/providers/gemini/sessions"), { method: "OPTIONS" });
    expect(noOrigin.status).toBe(405);
    expect(noOrigin.headers.get("allow")).toBe("POST");
  });

  it("an OPTIONS request with Access-Control-Request-Method but no Origin is routed normally", async () => {
    const res = await request(url("/sessions"), { method: "OPTIONS", headers: { "access-control-request-method": "GET" } });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET");
    expectNoCors(res.headers);
    // It must not run the action of the requested method either.
    const before = (await request(url("/sessions"))).body.sessions.length;
    const post = await request(url("/providers/gemini/sessions"), { method: "OPTIONS", headers: { "access-control-request-method": "POST" } });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("POST");
    expect((await request(url("/sessions"))).body.sessions.length).toBe(before);
    const unknown = await request(url("/nope"), { method: "OPTIONS" });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ detail: "Not Found" });
  });
});

describe("CONSOLE_MCP_CORS_ORIGINS", () => {
  it("an explicit list replaces the defaults", async () => {
    const server = await startTestServer({
      SERVICES: "api,providers",
      CONSOLE_MCP_CORS_ORIGINS: " https://console.example , http://10.0.0.5:8080",
    });
    try {
      const ok = await preflight(`${server.baseUrl}/providers`, "https://console.example", "content-type");
      expect(ok.status).toBe(200);
      expect(ok.headers.get("access-control-allow-origin")).toBe("https://console.example");
      const second = await request(`${server.baseUrl}/providers`, { headers: { origin: "http://10.0.0.5:8080" } });
      expect(second.headers.get("access-control-allow-origin")).toBe("http://10.0.0.5:8080");
      const dflt = await preflight(`${server.baseUrl}/providers`, ALLOWED);
      expect(dflt.status).toBe(400);
      expectNoCors(dflt.headers);
      const actual = await request(`${server.baseUrl}/providers`, { headers: { origin: ALLOWED } });
      expect(actual.status).toBe(200);
      expect(actual.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      await server.stop();
    }
  });

  it("* allows every origin and echoes it (never *)", async () => {
    const server = await startTestServer({ SERVICES: "api,providers", CONSOLE_MCP_CORS_ORIGINS: "*" });
    try {
      const res = await preflight(`${server.baseUrl}/providers`, STRANGER, "x-api-key");
      expect(res.status).toBe(200);
      expect(res.headers.get("access-control-allow-origin")).toBe(STRANGER);
      expect(res.headers.get("access-control-allow-credentials")).toBe("true");
      const actual = await request(`${server.baseUrl}/servers`, { headers: { origin: "http://any.example:1234" } });
      expect(actual.status).toBe(200);
      expect(actual.headers.get("access-control-allow-origin")).toBe("http://any.example:1234");
    } finally {
      await server.stop();
    }
  });

  it('" , " allows no origin at all', async () => {
    const server = await startTestServer({ SERVICES: "api,providers", CONSOLE_MCP_CORS_ORIGINS: " , " });
    try {
      for (const origin of [ALLOWED, ALLOWED_TOO, STRANGER]) {
        const res = await preflight(`${server.baseUrl}/providers`, origin);
        expect(res.status).toBe(400);
        expectNoCors(res.headers);
      }
    } finally {
      await server.stop();
    }
  });

  it("the default list follows CONSOLE_MCP_FRONTEND_HOST / PORT", async () => {
    const server = await startTestServer({
      SERVICES: "api,providers",
      CONSOLE_MCP_FRONTEND_HOST: "localhost",
      CONSOLE_MCP_FRONTEND_PORT: "3000",
    });
    try {
      expect((await preflight(`${server.baseUrl}/providers`, "http://localhost:3000")).status).toBe(200);
      expect((await preflight(`${server.baseUrl}/providers`, "http://127.0.0.1:3000")).status).toBe(200);
      expect((await preflight(`${server.baseUrl}/providers`, ALLOWED)).status).toBe(400);
    } finally {
      await server.stop();
    }
  });
});
