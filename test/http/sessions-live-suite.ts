/**
 * Live sessions over HTTP (runtime-contract §22), shared by test/http/sessions-live.test.ts (SQLite)
 * and test/pg/sessions-live-http.test.ts (PostgreSQL): DELETE /sessions/{id} closes (200 with the
 * closed session; again → the same record; 404 unknown; routing 404/405 as for any path), every
 * Session answer carries `closed_at`, `last_call_at` and `call_count`, GET /sessions keeps its Part I
 * shape and filters the closed ones, and with CONSOLE_MCP_SESSION_IDLE_S=1 an idle session is
 * closed by itself. Tool calls naming a session: test/http/runtime-suite.ts.
 */
import { request, startTestServer, TestServer } from "../helpers/server";

const OUTPUT_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

export function sessionsLiveHttpSuite(env: () => Record<string, string>): void {
  describe("DELETE /sessions/{id} and the new Session fields", () => {
    let server: TestServer;
    const url = (path: string) => `${server.baseUrl}${path}`;
    const create = async (provider: string, json: unknown = {}) => {
      const res = await request(url(`/providers/${provider}/sessions`), { method: "POST", json });
      expect(res.status).toBe(200);
      return res.body.session;
    };
    const del = (path: string, init: RequestInit & { json?: unknown } = {}) => request(url(path), { method: "DELETE", ...init });

    beforeAll(async () => {
      server = await startTestServer({ SERVICES: "api,providers,sessions", ...env() });
    });
    afterAll(() => server?.stop());

    it("closes: 200 {session} with status closed and closed_at; GET answers the same", async () => {
      const s = await create("gemini", { reason: "to close", client: "console" });
      expect(s).toMatchObject({ status: "pending", closed_at: null, last_call_at: null, call_count: 0 });
      const res = await del(`/sessions/${s.id}`);
      expect(res.status).toBe(200);
      expect(Object.keys(res.body)).toEqual(["session"]);
      expect(res.body.session).toEqual({ ...s, status: "closed", closed_at: expect.stringMatching(OUTPUT_INSTANT) });
      expect(Date.parse(res.body.session.closed_at)).toBeGreaterThanOrEqual(Date.parse(s.created_at));
      expect((await request(url(`/sessions/${s.id}`))).body).toEqual(res.body);
    });

    it("closing twice is a 200 with the same record", async () => {
      const s = await create("codex");
      const first = await del(`/sessions/${s.id}`);
      const second = await del(`/sessions/${s.id}`);
      expect(second.status).toBe(200);
      expect(second.body).toEqual(first.body);
    });

    it("any body is ignored (the path names the session)", async () => {
      const s = await create("glm46");
      const res = await del(`/sessions/${s.id}`, { json: { status: "pending", id: "other" } });
      expect(res.status).toBe(200);
      expect(res.body.session).toMatchObject({ id: s.id, status: "closed" });
    });

    it.each([
      ["an unknown id", "00000000-0000-4000-8000-000000000000", "Session '00000000-0000-4000-8000-000000000000' not found"],
      ["a free-text id", "not%20a%20session", "Session 'not a session' not found"],
      ["NUL", "a%00b", "Session 'a\u0000b' not found"],
    ])("%s → 404 with the contract body, never a 500", async (_name, id, detail) => {
      expect(await del(`/sessions/${id}`)).toMatchObject({ status: 404, body: { detail } });
    });

    it("a path whose percent-encoding is not UTF-8 (a lone surrogate) → 422 as for GET", async () => {
      const res = await del("/sessions/%ED%A0%80");
      expect(res.status).toBe(422);
      expect(res.body.detail.map((d: { loc: unknown[] }) => d.loc)).toEqual([["path"]]);
    });

    it("routing: DELETE /sessions → 405 (GET allowed), DELETE /sessions/a/b → 404", async () => {
      const collection = await del("/sessions");
      expect(collection.status).toBe(405);
      expect(collection.body).toEqual({ detail: "Method Not Allowed" });
      expect(collection.headers.get("allow")).toContain("GET");
      expect((await request(url("/sessions/abc"), { method: "PUT" })).headers.get("allow")?.split(/,\s*/).sort()).toEqual(["DELETE", "GET"]);
      expect(await del("/sessions/a/b")).toMatchObject({ status: 404, body: { detail: "Not Found" } });
    });

    it("GET /sessions keeps the Part I shape, each session with the new fields; status=closed filters", async () => {
      const open = await create("claude");
      const all = await request(url("/sessions"));
      expect(Object.keys(all.body)).toEqual(["sessions"]);
      for (const s of all.body.sessions) {
        expect(Object.keys(s).sort()).toEqual([
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
        expect(s.status === "closed").toBe(s.closed_at !== null);
      }
      const closed = all.body.sessions.filter((s: { status: string }) => s.status === "closed");
      expect(closed).toHaveLength(3);
      expect((await request(url("/sessions?status=closed"))).body).toEqual({ sessions: closed });
      expect((await request(url("/sessions?status=pending"))).body).toEqual({ sessions: [open] });
      const page = await request(url("/sessions?status=closed&limit=2"));
      expect(page.body.sessions).toEqual(closed.slice(0, 2));
      const rest = await request(url(`/sessions?status=closed&limit=2&cursor=${page.body.next_cursor}`));
      expect(rest.body).toEqual({ sessions: closed.slice(2), next_cursor: null });
    });
  });

  describe("idle expiry over HTTP (CONSOLE_MCP_SESSION_IDLE_S=1)", () => {
    let server: TestServer;
    const url = (path: string) => `${server.baseUrl}${path}`;

    beforeAll(async () => {
      server = await startTestServer({ SERVICES: "api,providers,sessions", CONSOLE_MCP_SESSION_IDLE_S: "1", ...env() });
    });
    afterAll(() => server?.stop());

    it("a session nobody calls is closed by the backend itself", async () => {
      const created = (await request(url("/providers/gemini/sessions"), { method: "POST" })).body.session;
      const deadline = Date.now() + 30_000;
      let now = created;
      while (now.status !== "closed" && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        now = (await request(url(`/sessions/${created.id}`))).body.session;
      }
      expect(now).toEqual({ ...created, status: "closed", closed_at: expect.stringMatching(OUTPUT_INSTANT) });
      expect(Date.parse(now.closed_at) - Date.parse(created.created_at)).toBeGreaterThanOrEqual(1000);
      // Closing it again answers the same record.
      expect((await request(url(`/sessions/${created.id}`), { method: "DELETE" })).body).toEqual({ session: now });
    });
  });
}
