/**
 * The gateway with the providers and sessions services over real HTTP: /healthz, /providers,
 * /servers, /secrets and the session endpoints (§8, §9), including their bad inputs (§6.3, §6.5).
 */
import http from "node:http";
import { request, startTestServer, TestServer } from "../helpers/server";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const OUTPUT_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;
const VERSION: string = require("../../package.json").version;

const EXAMPLE_IDS = ["gemini", "codex", "glm46", "claude"];

/** A raw request with node:http, for bodies without a content type. */
function rawPost(url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", headers: { "content-length": Buffer.byteLength(body), ...headers } }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode as number, body: JSON.parse(text) }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ SERVICES: "api,providers,sessions,secrets" });
});
afterAll(async () => {
  await server.stop();
});

const url = (p: string) => `${server.baseUrl}${p}`;
const post = (p: string, body: string, contentType = "application/json") =>
  request(url(p), { method: "POST", body, headers: { "content-type": contentType } });

describe("GET /healthz", () => {
  it("answers liveness with every field", async () => {
    const res = await request(url("/healthz"));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(Object.keys(res.body).sort()).toEqual(["node_id", "status", "timestamp", "uptime_s", "version"]);
    expect(res.body.status).toBe("ok");
    expect(res.body.timestamp).toMatch(OUTPUT_INSTANT);
    expect(Math.abs(Date.parse(res.body.timestamp) - Date.now())).toBeLessThan(60000);
    expect(res.body.version).toBe(VERSION);
    expect(res.body.version).not.toBe("");
    expect(res.body.node_id).toBe(server.broker.nodeID);
    expect(typeof res.body.uptime_s).toBe("number");
    expect(res.body.uptime_s).toBeGreaterThanOrEqual(0);
  });

  it("uptime grows", async () => {
    const a = (await request(url("/healthz"))).body.uptime_s;
    await new Promise((r) => setTimeout(r, 30));
    const b = (await request(url("/healthz"))).body.uptime_s;
    expect(b).toBeGreaterThan(a);
  });

  it("ignores query parameters", async () => {
    expect((await request(url("/healthz?verbose=1&x="))).status).toBe(200);
  });
});

describe("GET /providers, /servers, /secrets", () => {
  it("/providers: ProviderSummary list in manifest order", async () => {
    const res = await request(url("/providers"));
    expect(res.status).toBe(200);
    expect(res.body.providers.map((p: { id: string }) => p.id)).toEqual(EXAMPLE_IDS);
    expect(res.body.providers[2]).toEqual({
      id: "glm46",
      name: "GLM-4.6",
      command: "~/.local/bin/glm46-mcp",
      description: "Zhipu AI GLM-4.6 stdio MCP server with guardrails",
      tags: ["llm", "zhipu"],
      capabilities: ["chat", "embedding", "token_count"],
      transport: "stdio",
      is_available: true,
    });
  });

  it("/servers: the seven fields plus created_at = updated_at, identical for all and stable", async () => {
    const res = await request(url("/servers"));
    expect(res.status).toBe(200);
    const servers = res.body.servers as Record<string, unknown>[];
    expect(servers.map((s) => s.id)).toEqual(EXAMPLE_IDS);
    // Part I's nine fields, exactly; the catalog fields of runtime-contract §17.3 come after them.
    const { id, name, command, description, tags, capabilities, transport, created_at, updated_at } = servers[1];
    expect({ id, name, command, description, tags, capabilities, transport, created_at, updated_at }).toEqual({
      id: "codex",
      name: "Codex CLI",
      command: "~/.local/bin/codex-mcp",
      description: "OpenAI-compatible MCP CLI optimized for iterative coding",
      tags: ["llm", "openai"],
      capabilities: ["chat", "exec"],
      transport: "stdio",
      created_at: expect.stringMatching(OUTPUT_INSTANT),
      updated_at: expect.stringMatching(OUTPUT_INSTANT),
    });
    const instants = new Set(servers.flatMap((s) => [s.created_at, s.updated_at]));
    expect(instants.size).toBe(1);
    await new Promise((r) => setTimeout(r, 20));
    const again = await request(url("/servers"));
    expect(again.body).toEqual(res.body);
  });

  it("/secrets: an empty list", async () => {
    const res = await request(url("/secrets"));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ secrets: [] });
  });
});

describe("sessions", () => {
  const created: string[] = [];

  it("POST /providers/{id}/sessions: 200 {session, provider}", async () => {
    const before = Date.now();
    const res = await request(url("/providers/gemini/sessions"), { method: "POST", json: { reason: "triage", client: "console" } });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(["provider", "session"]);
    expect(res.body.session).toEqual({
      id: expect.stringMatching(UUID_V4),
      provider_id: "gemini",
      created_at: expect.stringMatching(OUTPUT_INSTANT),
      status: "pending",
      reason: "triage",
      client: "console",
      closed_at: null,
      last_call_at: null,
      call_count: 0,
    });
    expect(Date.parse(res.body.session.created_at)).toBeGreaterThanOrEqual(before - 1);
    expect(res.body.provider).toMatchObject({ id: "gemini", name: "Gemini MCP", is_available: true });
    expect(res.body.provider).not.toHaveProperty("lane");
    created.push(res.body.session.id);
  });

  it("accepts an empty body", async () => {
    const res = await request(url("/providers/codex/sessions"), { method: "POST" });
    expect(res.status).toBe(200);
    expect(res.body.session).toMatchObject({ provider_id: "codex", reason: null, client: null, status: "pending" });
    created.push(res.body.session.id);
  });

  it("accepts a whitespace-only body as no body", async () => {
    const res = await post("/providers/codex/sessions", "  \n");
    expect(res.status).toBe(200);
    created.push(res.body.session.id);
  });

  it("accepts the JSON literal null as no body", async () => {
    const res = await post("/providers/glm46/sessions", "null");
    expect(res.status).toBe(200);
    expect(res.body.session).toMatchObject({ provider_id: "glm46", reason: null, client: null });
    created.push(res.body.session.id);
  });

  it("ignores extra keys such as overrides (the UI sends them)", async () => {
    const res = await request(url("/providers/claude/sessions"), {
      method: "POST",
      json: { reason: null, client: "ui", overrides: { model: "x", temperature: 0.3 }, provider_id: "gemini" },
    });
    expect(res.status).toBe(200);
    // The path decides the provider, never a body key.
    expect(res.body.session).toMatchObject({ provider_id: "claude", reason: null, client: "ui" });
    expect(Object.keys(res.body.session).sort()).toEqual([
      "call_count",
      "client",
      "closed_at",
      "created_at",
      "id",
      "last_call_at",
      "provider_id",
      "reason",
      "status",
    ]);
    created.push(res.body.session.id);
  });

  it("parses application/json with parameters, application/*+json and a missing content type", async () => {
    expect((await post("/providers/gemini/sessions", '{"client":"a"}', "application/json; charset=utf-8")).status).toBe(200);
    expect((await post("/providers/gemini/sessions", '{"client":"b"}', "application/vnd.console+json")).status).toBe(200);
    const raw = await rawPost(url("/providers/gemini/sessions"), '{"client":"c"}');
    expect(raw.status).toBe(200);
    expect(raw.body.session.client).toBe("c");
  });

  it("URL-decodes the provider id", async () => {
    const res = await request(url("/providers/gem%69ni/sessions"), { method: "POST" });
    expect(res.status).toBe(200);
    expect(res.body.session.provider_id).toBe("gemini");
    const missing = await request(url("/providers/no%20such%2Fprovider/sessions"), { method: "POST" });
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ detail: "Provider 'no such/provider' not found" });
  });

  it("404 for an unknown provider", async () => {
    const res = await request(url("/providers/nope/sessions"), { method: "POST", json: { reason: "x" } });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: "Provider 'nope' not found" });
  });

  it.each([
    ["reason", { reason: 5 }],
    ["reason", { reason: ["a"] }],
    ["client", { client: true }],
    ["client", { client: { name: "x" } }],
  ])("422 with loc body.%s for a wrong type", async (field, body) => {
    const res = await request(url("/providers/gemini/sessions"), { method: "POST", json: body });
    expect(res.status).toBe(422);
    expect(res.body.detail).toEqual([expect.objectContaining({ loc: ["body", field], type: expect.any(String), msg: expect.any(String) })]);
  });

  it("422 with one item per problem", async () => {
    const res = await request(url("/providers/gemini/sessions"), { method: "POST", json: { reason: 1, client: 2 } });
    expect(res.status).toBe(422);
    expect(res.body.detail.map((i: { loc: unknown }) => i.loc)).toEqual([
      ["body", "reason"],
      ["body", "client"],
    ]);
  });

  it.each([
    ["an array", "[]"],
    ["an array of objects", '[{"reason":"x"}]'],
    ["a number", "42"],
    ["a string", '"hello"'],
    ["a boolean", "true"],
  ])("422 loc body for %s", async (_label, body) => {
    const res = await post("/providers/gemini/sessions", body);
    expect(res.status).toBe(422);
    expect(res.body.detail).toHaveLength(1);
    expect(res.body.detail[0].loc).toEqual(["body"]);
  });

  it.each(['{"reason": ', "{reason: 'x'}", "{'a':1}", '{"a":1}}', "nul"])("422 json_invalid for malformed JSON %j", async (body) => {
    const res = await post("/providers/gemini/sessions", body);
    expect(res.status).toBe(422);
    expect(res.body.detail).toHaveLength(1);
    expect(res.body.detail[0].type).toBe("json_invalid");
    expect(res.body.detail[0].loc[0]).toBe("body");
  });

  it("a malformed body is never quoted in the 422 (a body may be a secret: PUT /secrets)", async () => {
    for (const body of ["sk-RAW-SECRET-VALUE-777", '{"value": sk-RAW-SECRET-VALUE-777}', "sk-RAW-SECRET-VALUE-777}"]) {
      const res = await post("/providers/gemini/sessions", body);
      expect(res.status).toBe(422);
      expect(JSON.stringify(res.body)).not.toMatch(/sk-|RAW|SECRET|VALUE|777/);
      expect(res.body.detail[0].ctx.error).toMatch(/^(Invalid JSON( at position \d+)?|Unexpected end of JSON input)$/);
    }
  });

  it("an invalid body for an unknown provider is 422, not 404", async () => {
    expect((await request(url("/providers/nope/sessions"), { method: "POST", json: { reason: 1 } })).status).toBe(422);
    expect((await post("/providers/nope/sessions", "[1]")).status).toBe(422);
    expect((await post("/providers/nope/sessions", "{oops")).status).toBe(422);
  });

  it.each(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])(
    "422 loc body for a %s body",
    async (contentType) => {
      const res = await post("/providers/gemini/sessions", '{"reason":"x"}', contentType);
      expect(res.status).toBe(422);
      expect(res.body.detail[0].loc).toEqual(["body"]);
    },
  );

  it("a non-JSON content type without a body is no body", async () => {
    const res = await request(url("/providers/gemini/sessions"), { method: "POST", headers: { "content-type": "text/plain" } });
    expect(res.status).toBe(200);
  });

  it.each([
    ["reason", '{"reason":"a\\u0000b"}'],
    ["client", '{"client":"\\u0000"}'],
    ["reason", '{"reason":"lone \\ud800 surrogate"}'],
  ])("422 loc body.%s for text no store can keep verbatim (%s)", async (field, body) => {
    const res = await post("/providers/gemini/sessions", body);
    expect(res.status).toBe(422);
    expect(res.body.detail).toEqual([expect.objectContaining({ loc: ["body", field] })]);
  });

  it("keeps valid astral characters verbatim", async () => {
    const res = await request(url("/providers/gemini/sessions"), { method: "POST", json: { reason: "🚀 launch ção" } });
    expect(res.status).toBe(200);
    expect(res.body.session.reason).toBe("🚀 launch ção");
    expect((await request(url(`/sessions/${res.body.session.id}`))).body.session.reason).toBe("🚀 launch ção");
    created.push(res.body.session.id);
  });

  it("GET /sessions lists every session oldest first", async () => {
    const res = await request(url("/sessions"));
    expect(res.status).toBe(200);
    const ids = res.body.sessions.map((s: { id: string }) => s.id);
    expect(ids.filter((id: string) => created.includes(id))).toEqual(created);
    expect(ids).toHaveLength(created.length + 5);
    const times = res.body.sessions.map((s: { created_at: string }) => Date.parse(s.created_at));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    // parameters the endpoint does not know are ignored (limit, cursor, status and provider_id page and
    // filter since runtime-contract §22: test/http/sessions-limits-suite.ts)
    expect((await request(url("/sessions?page=1&order=desc"))).body).toEqual(res.body);
  });

  it("GET /sessions/{id} answers the stored session", async () => {
    const list = (await request(url("/sessions"))).body.sessions;
    const res = await request(url(`/sessions/${created[0]}`));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ session: list[0] });
  });

  it("GET /sessions/{id} 404 with the id in the detail", async () => {
    const res = await request(url("/sessions/not-a-session"));
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: "Session 'not-a-session' not found" });
    const encoded = await request(url("/sessions/a%20b"));
    expect(encoded.status).toBe(404);
    expect(encoded.body).toEqual({ detail: "Session 'a b' not found" });
    const nul = await request(url("/sessions/a%00b"));
    expect(nul.status).toBe(404);
    expect(nul.body).toEqual({ detail: "Session 'a\u0000b' not found" });
  });
});
