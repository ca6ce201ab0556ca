/**
 * The cross-site and DNS-rebinding guard over real HTTP (runtime-contract §25.1), in open mode (the
 * mode a console on localhost runs in): a write carrying a foreign Origin — with no content type,
 * text/plain, or JSON — is refused before anything is read or stored, reads are not; a request whose
 * Host names something else than this console (a rebound name) is refused whatever it asks; clients
 * that send no Origin (curl, scripts) and the console UI's origin work as before; every refusal is in
 * the audit log with the header that caused it.
 */
import http from "node:http";
import { request, startTestServer, TestServer } from "../helpers/server";

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}

/** A request with any headers (Host included, which fetch cannot set). */
function raw(base: string, method: string, p: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const h: Record<string, string | number> = { ...headers };
    if (body !== undefined) h["content-length"] = Buffer.byteLength(body);
    const req = http.request(
      { host: url.hostname, port: url.port, method, path: `/api/v1${p}`, headers: h, setHost: headers.host === undefined },
      (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode as number, headers: res.headers, body: text === "" ? null : JSON.parse(text) }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const EVIL = "https://evil.example";
const SERVER = JSON.stringify({ id: "pwned", name: "Pwned", command: "touch /tmp/console-mcp-pwned" });

describe("the guard in open mode", () => {
  let server: TestServer;
  let port: string;
  beforeAll(async () => {
    server = await startTestServer({});
    port = new URL(server.baseUrl).port;
  }, 60_000);
  afterAll(() => server?.stop());

  const catalogIds = async () => (await request(`${server.baseUrl}/servers`)).body.servers.map((s: any) => s.id);

  it("a write from a foreign origin is refused whatever its content type, and stores nothing", async () => {
    const before = await catalogIds();
    for (const headers of [{}, { "content-type": "text/plain;charset=UTF-8" }, { "content-type": "application/json" }] as Record<string, string>[]) {
      const res = await raw(server.baseUrl, "POST", "/servers", { origin: EVIL, ...headers }, SERVER);
      expect({ status: res.status, body: res.body }).toEqual({ status: 403, body: { detail: "Origin not allowed" } });
      expect(res.headers["access-control-allow-origin"]).toBeUndefined();
    }
    expect((await raw(server.baseUrl, "POST", "/servers/gemini/process/start", { origin: "null" })).status).toBe(403);
    expect((await raw(server.baseUrl, "DELETE", "/sessions/x", { origin: EVIL })).status).toBe(403);
    expect((await raw(server.baseUrl, "PUT", "/secrets/gemini", { origin: EVIL }, JSON.stringify({ value: "x" }))).status).toBe(403);
    expect(await catalogIds()).toEqual(before);
  });

  it("reads from a foreign origin keep their answer (without CORS headers); no Origin and the UI's origin write as before", async () => {
    const read = await raw(server.baseUrl, "GET", "/servers", { origin: EVIL });
    expect(read.status).toBe(200);
    expect(read.headers["access-control-allow-origin"]).toBeUndefined();
    const ui = await raw(
      server.baseUrl,
      "POST",
      "/providers/gemini/sessions",
      { origin: "http://localhost:5173", "content-type": "application/json" },
      "{}",
    );
    expect(ui.status).toBe(200);
    expect(ui.headers["access-control-allow-origin"]).toBe("http://localhost:5173");
    const script = await raw(
      server.baseUrl,
      "POST",
      "/servers",
      { "content-type": "application/json" },
      JSON.stringify({ id: "scripted", name: "S", command: "s" }),
    );
    expect(script.status).toBe(201);
  });

  it("a Host that does not name this console is refused on every route, reads included", async () => {
    for (const host of [`evil.example:${port}`, `127.0.0.1.nip.io:${port}`, `localhost.evil.example:${port}`, "10.0.0.1"]) {
      for (const [method, p] of [
        ["GET", "/servers"],
        ["GET", "/secrets"],
        ["POST", "/servers/gemini/process/start"],
        ["GET", "/healthz"],
        ["GET", "/nothing"],
      ]) {
        const res = await raw(server.baseUrl, method, p, { host });
        expect({ host, method, p, status: res.status, body: res.body }).toEqual({
          host,
          method,
          p,
          status: 403,
          body: { detail: "Host not allowed" },
        });
      }
    }
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `console.localhost:${port}`]) {
      expect((await raw(server.baseUrl, "GET", "/servers", { host })).status).toBe(200);
    }
  });

  it("every refusal is in the audit log, with the header that caused it", async () => {
    const logs = (await request(`${server.baseUrl}/audit/logs?limit=1000`)).body.items;
    const denied = logs.filter((e: any) => e.outcome === "denied");
    expect(denied.find((e: any) => e.details.origin === EVIL && e.action === "server.create")).toMatchObject({
      actor: "anonymous@127.0.0.1",
      role: null,
      status: 403,
      target: null,
      details: { method: "POST", path: "/servers" },
    });
    expect(denied.find((e: any) => e.details.host === `evil.example:${port}` && e.action === "process.start")).toMatchObject({
      status: 403,
      target: "server:gemini",
    });
    expect(denied.find((e: any) => e.details.host === "10.0.0.1" && e.action === "http.request")).toMatchObject({
      details: { path: "/api/v1/nothing" },
    });
  });
});

describe("CONSOLE_MCP_ALLOWED_HOSTS", () => {
  it("names it lists are this console; * turns the Host check off", async () => {
    const named = await startTestServer({ CONSOLE_MCP_ALLOWED_HOSTS: "console.example" });
    try {
      expect((await raw(named.baseUrl, "GET", "/servers", { host: "console.example:8443" })).status).toBe(200);
      expect((await raw(named.baseUrl, "GET", "/servers", { host: "other.example" })).status).toBe(403);
    } finally {
      await named.stop();
    }
    const any = await startTestServer({ CONSOLE_MCP_ALLOWED_HOSTS: "*", SERVICES: "api,providers" });
    try {
      expect((await raw(any.baseUrl, "GET", "/servers", { host: "whatever.example" })).status).toBe(200);
      // The Origin check stays on.
      expect((await raw(any.baseUrl, "POST", "/servers", { host: "whatever.example", origin: EVIL }, SERVER)).status).toBe(403);
    } finally {
      await any.stop();
    }
  }, 60_000);
});
