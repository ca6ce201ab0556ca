/**
 * The server catalog over real HTTP (runtime-contract §17.4): GET/POST/PUT/DELETE /servers and
 * /servers/{id} with their exact status codes and bodies, the catalog order, Part I's answers kept
 * with the example manifest, and sessions and routing reading the same catalog. Shared by SQLite
 * (test/http) and PostgreSQL (test/pg).
 */
import http from "node:http";
import { PROJECT_ROOT } from "../../lib/config";
import { request, startTestServer, TestServer } from "../helpers/server";

const EXAMPLE_IDS = ["gemini", "codex", "glm46", "claude"];

/** GET /providers with the example manifest (Part I §8.3, Appendix A), byte for byte. */
const EXAMPLE_PROVIDERS = {
  providers: [
    {
      id: "gemini",
      name: "Gemini MCP",
      command: "~/.local/bin/gemini-mcp",
      description: "Google Gemini router exposed via local MCP bridge",
      tags: ["llm", "google"],
      capabilities: ["chat", "tools"],
      transport: "stdio",
      is_available: true,
    },
    {
      id: "codex",
      name: "Codex CLI",
      command: "~/.local/bin/codex-mcp",
      description: "OpenAI-compatible MCP CLI optimized for iterative coding",
      tags: ["llm", "openai"],
      capabilities: ["chat", "exec"],
      transport: "stdio",
      is_available: true,
    },
    {
      id: "glm46",
      name: "GLM-4.6",
      command: "~/.local/bin/glm46-mcp",
      description: "Zhipu AI GLM-4.6 stdio MCP server with guardrails",
      tags: ["llm", "zhipu"],
      capabilities: ["chat", "embedding", "token_count"],
      transport: "stdio",
      is_available: true,
    },
    {
      id: "claude",
      name: "Claude MCP",
      command: "~/.local/bin/claude-mcp",
      description: "Claude environment orchestration via CLI",
      tags: ["llm", "anthropic"],
      capabilities: ["chat"],
      transport: "stdio",
      is_available: true,
    },
  ],
};

/** The runtime fields of a server that gives none (§17.2 defaults, §17.3). */
function defaultsOf(id: string) {
  return {
    args: [],
    env: {},
    cwd: PROJECT_ROOT,
    autostart: false,
    startup_timeout_s: 30,
    secret_env: `${id.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_API_KEY`,
    restart: "on-failure",
    max_restarts: 5,
    degraded_latency_ms: 1000,
    tool_timeout_s: 60,
  };
}

/** A raw request (any method, any body bytes), for what fetch will not send. */
function raw(
  url: string,
  method: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string | number> = { ...headers };
    if (body !== undefined) h["content-length"] = Buffer.byteLength(body);
    const req = http.request(url, { method, headers: h }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode as number, headers: res.headers, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

export function catalogHttpSuite(title: string, env: () => Record<string, string>): void {
  describe(`/servers over HTTP (${title})`, () => {
    let server: TestServer;
    const url = (p: string) => `${server.baseUrl}${p}`;
    let initialProviders: string;
    let initialServers: string;

    beforeAll(async () => {
      server = await startTestServer({ SERVICES: "api,providers,sessions,routing", ...env() });
    });
    afterAll(() => server?.stop());

    it("with the example manifest and no API server, GET /providers and GET /servers answer as Part I says", async () => {
      const providers = await request(url("/providers"));
      expect(providers.status).toBe(200);
      expect(providers.body).toEqual(EXAMPLE_PROVIDERS);
      initialProviders = providers.text;
      const servers = await request(url("/servers"));
      expect(servers.status).toBe(200);
      const list = servers.body.servers as Record<string, unknown>[];
      expect(list.map((s) => s.id)).toEqual(EXAMPLE_IDS);
      const instant = list[0].created_at;
      expect(instant).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/);
      list.forEach((s, i) => {
        const { is_available: _a, ...summary } = EXAMPLE_PROVIDERS.providers[i];
        void _a;
        expect(s).toEqual({ ...summary, ...defaultsOf(summary.id), source: "manifest", created_at: instant, updated_at: instant });
      });
      initialServers = servers.text;
    });

    it("GET /servers/{id}: the record; 404 with the contract's text", async () => {
      const one = await request(url("/servers/glm46"));
      expect(one.status).toBe(200);
      expect(one.body).toEqual(JSON.parse(initialServers).servers[2]);
      const missing = await request(url("/servers/nope"));
      expect(missing.status).toBe(404);
      expect(missing.body).toEqual({ detail: "Server 'nope' not found" });
      expect((await request(url("/servers/caf%C3%A9"))).body).toEqual({ detail: "Server 'café' not found" });
      expect((await request(url("/servers/a%00b"))).status).toBe(404);
    });

    it("POST /servers: 201 with the Server; it follows the manifest's, in creation order", async () => {
      const res = await request(url("/servers"), {
        method: "POST",
        json: {
          id: "files",
          name: "Files",
          command: "npx -y @modelcontextprotocol/server-filesystem /tmp",
          tags: ["fs"],
          env: { LOG: "1" },
          autostart: true,
        },
      });
      expect(res.status).toBe(201);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body).toEqual({
        id: "files",
        name: "Files",
        command: "npx -y @modelcontextprotocol/server-filesystem /tmp",
        description: "",
        tags: ["fs"],
        capabilities: [],
        transport: "stdio",
        ...defaultsOf("files"),
        env: { LOG: "1" },
        autostart: true,
        source: "api",
        created_at: res.body.created_at,
        updated_at: res.body.created_at,
      });
      const second = await request(url("/servers"), { method: "POST", json: { id: "A-first-by-name", name: "A", command: "a" } });
      expect(second.status).toBe(201);
      const list = await request(url("/servers"));
      expect(list.body.servers.map((s: { id: string }) => s.id)).toEqual([...EXAMPLE_IDS, "files", "A-first-by-name"]);
      expect((await request(url("/providers"))).body.providers.map((p: { id: string }) => p.id)).toEqual([
        ...EXAMPLE_IDS,
        "files",
        "A-first-by-name",
      ]);
      expect((await request(url("/servers/files"))).body).toEqual(res.body);
    });

    it("POST /servers: 409 for an existing id (the manifest's too), with the contract's text", async () => {
      for (const id of ["files", "gemini"]) {
        const res = await request(url("/servers"), { method: "POST", json: { id, name: "X", command: "x" } });
        expect(res.status).toBe(409);
        expect(res.body).toEqual({ detail: `Server '${id}' already exists` });
      }
    });

    it.each([
      [{ name: "X", command: "x" }, ["body", "id"], "missing"],
      [{ id: "processes", name: "X", command: "x" }, ["body", "id"], "value_error"],
      [{ id: "has space", name: "X", command: "x" }, ["body", "id"], "string_pattern_mismatch"],
      [{ id: "x".repeat(65), name: "X", command: "x" }, ["body", "id"], "too_long"],
      [{ id: "ok", name: "   ", command: "x" }, ["body", "name"], "too_short"],
      [{ id: "ok", name: "X", command: "c".repeat(1025) }, ["body", "command"], "too_long"],
      [{ id: "ok", name: "X", command: "x", transport: "http" }, ["body", "transport"], "literal_error"],
      [{ id: "ok", name: "X", command: "x", tags: "llm" }, ["body", "tags"], "list_type"],
      [{ id: "ok", name: "X", command: "x", max_restarts: 101 }, ["body", "max_restarts"], "less_than_equal"],
      [{ id: "ok", name: "X", command: "x", env: { "A=B": "1" } }, ["body", "env", "A=B"], "string_pattern_mismatch"],
    ])("POST /servers %j → 422 at %j", async (body, loc, type) => {
      const res = await request(url("/servers"), { method: "POST", json: body });
      expect(res.status).toBe(422);
      expect(res.body.detail).toHaveLength(1);
      expect(res.body.detail[0]).toMatchObject({ type, loc });
    });

    it("POST /servers: transport other than stdio says `only stdio is supported`; bodies that are not objects are 422", async () => {
      const res = await request(url("/servers"), { method: "POST", json: { id: "h", name: "H", command: "h", transport: "sse" } });
      expect(res.body.detail[0]).toEqual({
        type: "literal_error",
        loc: ["body", "transport"],
        msg: "only stdio is supported",
        input: "sse",
        ctx: { expected: "'stdio'" },
      });
      for (const body of ["", "[]", '"x"', "{"]) {
        const r = await raw(url("/servers"), "POST", body, { "content-type": "application/json" });
        expect(r.status).toBe(422);
      }
      expect((await request(url("/servers"))).body.servers).toHaveLength(6);
    });

    it("PUT /servers/{id}: the UI's dialog (nine fields) replaces those and keeps the rest; 200 with the Server", async () => {
      const before = (await request(url("/servers/files"))).body;
      const res = await request(url("/servers/files"), {
        method: "PUT",
        json: {
          id: "ignored",
          name: "Files v2",
          command: "npx -y @modelcontextprotocol/server-filesystem /srv",
          description: "d",
          tags: [],
          capabilities: ["tools"],
          transport: "stdio",
        },
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        ...before,
        name: "Files v2",
        command: "npx -y @modelcontextprotocol/server-filesystem /srv",
        description: "d",
        tags: [],
        capabilities: ["tools"],
        updated_at: res.body.updated_at,
      });
      expect(res.body.env).toEqual({ LOG: "1" });
      expect(res.body.autostart).toBe(true);
      expect(Date.parse(res.body.updated_at)).toBeGreaterThanOrEqual(Date.parse(before.updated_at));
      expect((await request(url("/servers/files"))).body).toEqual(res.body);
    });

    it("PUT /servers/{id}: null resets an optional field; null name or command → 422", async () => {
      const res = await request(url("/servers/files"), { method: "PUT", json: { env: null, autostart: null, description: null } });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ env: {}, autostart: false, description: "" });
      const bad = await request(url("/servers/files"), { method: "PUT", json: { name: null } });
      expect(bad.status).toBe(422);
      expect(bad.body.detail).toEqual([
        { type: "string_type", loc: ["body", "name"], msg: "Input should be a valid string (name cannot be reset)", input: null },
      ]);
    });

    it("PUT /servers/{id}: 404 unknown, 409 manifest (exact texts), 422 before both, the body required", async () => {
      const unknown = await request(url("/servers/nope"), { method: "PUT", json: { name: "N" } });
      expect(unknown.status).toBe(404);
      expect(unknown.body).toEqual({ detail: "Server 'nope' not found" });
      const manifest = await request(url("/servers/codex"), { method: "PUT", json: { name: "N" } });
      expect(manifest.status).toBe(409);
      expect(manifest.body).toEqual({ detail: "Server 'codex' is defined in the manifest file; change the file instead" });
      expect((await request(url("/servers/codex"), { method: "PUT", json: { transport: "http" } })).status).toBe(422);
      expect((await request(url("/servers/nope"), { method: "PUT", json: { max_restarts: "x" } })).status).toBe(422);
      const empty = await raw(url("/servers/files"), "PUT", "", { "content-type": "application/json" });
      expect(empty.status).toBe(422);
      expect(JSON.parse(empty.text).detail[0]).toMatchObject({ type: "missing", loc: ["body"] });
    });

    it("sessions and routing read the same catalog", async () => {
      const session = await request(url("/providers/files/sessions"), { method: "POST", json: { reason: "catalog" } });
      expect(session.status).toBe(200);
      expect(session.body.provider).toMatchObject({ id: "files", name: "Files v2", is_available: true });
      const plan = await request(url("/routing/simulate"), { method: "POST", json: {} });
      expect(plan.status).toBe(200);
      expect(plan.body.context.provider_ids).toEqual([...EXAMPLE_IDS, "files", "A-first-by-name"]);
    });

    it("DELETE /servers/{id}: 204 without a body, then 404; 409 for the manifest's", async () => {
      const res = await raw(url("/servers/files"), "DELETE");
      expect(res.status).toBe(204);
      expect(res.text).toBe("");
      expect(res.headers["content-type"]).toBeUndefined();
      expect(res.headers["x-request-id"]).toBeDefined();
      expect((await request(url("/servers/files"))).status).toBe(404);
      const again = await request(url("/servers/files"), { method: "DELETE" });
      expect(again.status).toBe(404);
      expect(again.body).toEqual({ detail: "Server 'files' not found" });
      const manifest = await request(url("/servers/gemini"), { method: "DELETE" });
      expect(manifest.status).toBe(409);
      expect(manifest.body).toEqual({ detail: "Server 'gemini' is defined in the manifest file; change the file instead" });
      const session = await request(url("/providers/files/sessions"), { method: "POST", json: {} });
      expect(session.status).toBe(404);
      expect(session.body).toEqual({ detail: "Provider 'files' not found" });
    });

    it("once the API servers are gone, GET /providers and GET /servers answer exactly as at the start", async () => {
      expect((await raw(url("/servers/A-first-by-name"), "DELETE")).status).toBe(204);
      expect((await request(url("/providers"))).text).toBe(initialProviders);
      expect((await request(url("/servers"))).text).toBe(initialServers);
    });

    it("405 with Allow for the methods a catalog path does not define", async () => {
      for (const [method, p, allow] of [
        ["PATCH", "/servers/x", "GET, PUT, DELETE"],
        ["POST", "/servers/x", "GET, PUT, DELETE"],
        ["PUT", "/servers", "GET, POST"],
      ]) {
        const res = await raw(url(p), method, "{}", { "content-type": "application/json" });
        expect(res.status).toBe(405);
        expect(res.headers.allow).toBe(allow);
        expect(JSON.parse(res.text)).toEqual({ detail: "Method Not Allowed" });
      }
    });

    it("CORS: PUT and DELETE are preflighted and allowed for an allowed origin, with the headers on every answer", async () => {
      const origin = "http://127.0.0.1:5173";
      const preflight = await raw(url("/servers/x"), "OPTIONS", undefined, {
        origin,
        "access-control-request-method": "DELETE",
        "access-control-request-headers": "content-type, x-api-key",
      });
      expect(preflight.status).toBe(200);
      expect(String(preflight.headers["access-control-allow-methods"]).split(", ")).toEqual(expect.arrayContaining(["PUT", "DELETE", "POST"]));
      expect(preflight.headers["access-control-allow-origin"]).toBe(origin);
      const created = await request(url("/servers"), { method: "POST", headers: { origin }, json: { id: "cors", name: "C", command: "c" } });
      expect(created.status).toBe(201);
      expect(created.headers.get("access-control-allow-origin")).toBe(origin);
      const deleted = await raw(url("/servers/cors"), "DELETE", undefined, { origin });
      expect(deleted.status).toBe(204);
      expect(deleted.headers["access-control-allow-origin"]).toBe(origin);
    });
  });
}
