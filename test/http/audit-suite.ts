/**
 * The audit log over HTTP (runtime-contract §25.2), shared by SQLite (test/http/audit.test.ts) and
 * PostgreSQL (test/pg/audit.test.ts): one entry per write, per tool call and per denial — with the
 * actor, role, action, target, outcome, status and the request's id — failed writes included; none
 * missing under 50 concurrent writers of each kind; GET /audit/logs newest first with its filters
 * and keyset cursor (every page once, nothing twice), and its errors; no secret and no tool argument
 * in any entry.
 */
import fs from "node:fs";
import path from "node:path";
import { CONFIGURABLE_SERVER, eventually, liveChildren } from "../helpers/process-groups";
import { request, startTestServer, tempDir, TestServer } from "../helpers/server";

export type AuditStoreFactory = () => Promise<{ env: Record<string, string>; drop: () => Promise<void> }>;

const ADMIN = "audit-admin-key-0123456789";

export function auditSuite(label: string, makeStore: AuditStoreFactory): void {
  describe(`${label}: the audit log (§25.2)`, () => {
    let server: TestServer;
    let dir: string;
    let drop: () => Promise<void>;
    let operator: string;
    let viewer: string;
    const url = (p: string) => `${server.baseUrl}${p}`;
    let n = 0;
    /** A request with a key and its own X-Request-ID (answered with it). */
    const send = async (key: string | null, method: string, p: string, json?: unknown) => {
      const id = `req-${label}-${++n}`;
      const headers: Record<string, string> = { "x-request-id": id };
      if (key !== null) headers["x-api-key"] = key;
      const res = await request(url(p), { method, headers, ...(json === undefined ? {} : { json }) });
      return { ...res, id };
    };
    const entries = async (query = "") => {
      const res = await send(ADMIN, "GET", `/audit/logs?limit=1000${query}`);
      expect(res.status).toBe(200);
      return res.body.items as any[];
    };
    const byRequest = async (id: string) => (await entries()).filter((e) => e.request_id === id);

    beforeAll(async () => {
      dir = tempDir("console-mcp-audit-");
      const store = await makeStore();
      drop = store.drop;
      const manifest = path.join(dir, "servers.json");
      fs.writeFileSync(
        manifest,
        JSON.stringify({
          providers: [
            { id: "gemini", name: "Gemini", command: "gemini-mcp" },
            { id: "echo", name: "Echo", transport: "stdio", command: process.execPath, args: [CONFIGURABLE_SERVER] },
          ],
        }),
      );
      server = await startTestServer({
        CONSOLE_MCP_ADMIN_KEY: ADMIN,
        CONSOLE_MCP_SERVERS_PATH: manifest,
        CONSOLE_MCP_HEALTH_INTERVAL_S: "0",
        ...store.env,
      });
      operator = (await send(ADMIN, "POST", "/security/api-keys", { name: "ops", role: "operator" })).body.secret;
      viewer = (await send(ADMIN, "POST", "/security/api-keys", { name: "watcher", role: "viewer" })).body.secret;
    }, 60_000);

    afterAll(async () => {
      await server?.stop();
      await eventually(() => liveChildren(process.pid).length === 0, 15_000, "no server process left");
      await drop?.();
      fs.rmSync(dir, { recursive: true, force: true });
    }, 60_000);

    it("each write is one entry with who, what, on what, how it ended and the request's id", async () => {
      const cases: { res: Awaited<ReturnType<typeof send>>; want: Record<string, unknown> }[] = [];
      const add = async (key: string, method: string, p: string, json: unknown, want: Record<string, unknown>) =>
        cases.push({ res: await send(key, method, p, json), want });
      await add(
        ADMIN,
        "POST",
        "/servers",
        { id: "files", name: "Files", command: "files-mcp" },
        { actor: "bootstrap", role: "admin", action: "server.create", target: "server:files", outcome: "ok", status: 201 },
      );
      await add(
        ADMIN,
        "PUT",
        "/servers/files",
        { name: "Files 2" },
        { action: "server.update", target: "server:files", status: 200, details: { fields: ["name"] } },
      );
      await add(ADMIN, "PUT", "/servers/files", { name: "Files 2" }, { action: "server.update", outcome: "ok", status: 200 });
      await add(
        ADMIN,
        "PUT",
        "/secrets/files",
        { value: "sk-audit-secret-value" },
        { action: "secret.put", target: "server:files", details: { chars: 21 } },
      );
      await add(ADMIN, "DELETE", "/secrets/files", undefined, { action: "secret.delete", target: "server:files", status: 204 });
      await add(ADMIN, "DELETE", "/servers/files", undefined, { action: "server.delete", target: "server:files", status: 204 });
      await add(
        operator,
        "POST",
        "/providers/gemini/sessions",
        {},
        { actor: "ops", role: "operator", action: "session.create", outcome: "ok", status: 200 },
      );
      const session = cases[cases.length - 1].res.body.session.id;
      await add(operator, "DELETE", `/sessions/${session}`, undefined, { action: "session.close", target: `session:${session}` });
      await add(
        operator,
        "POST",
        "/telemetry/runs",
        { runs: [{ provider_id: "gemini" }, { provider_id: "gemini" }] },
        { action: "telemetry.ingest", status: 201, details: { runs: 2 } },
      );
      await add(
        operator,
        "POST",
        "/telemetry/finops/pull-requests",
        { id: "pr-audit", title: "t", merged_at: "2025-04-15T00:00:00Z", provider_id: "gemini", route: "chat" },
        { action: "pull_request.create", target: "pull_request:pr-audit", status: 201 },
      );
      await add(operator, "POST", "/routing/simulate", {}, { action: "routing.simulate", status: 200 });
      // Failed writes: an error entry with the answer's status.
      await add(ADMIN, "POST", "/servers", { id: "bad" }, { action: "server.create", outcome: "error", status: 422 });
      await add(ADMIN, "DELETE", "/servers/nope", undefined, { action: "server.delete", target: "server:nope", outcome: "error", status: 404 });
      // Denials: below the role, and without a valid key.
      await add(viewer, "POST", "/servers/echo/process/start", undefined, {
        actor: "watcher",
        role: "viewer",
        action: "process.start",
        outcome: "denied",
        status: 403,
      });
      await add("cmk_wrong", "DELETE", "/sessions/x", undefined, {
        actor: "anonymous@127.0.0.1",
        role: null,
        action: "session.close",
        outcome: "denied",
        status: 401,
      });
      await add("cmk_wrong", "GET", "/audit/logs", undefined, { action: "audit.read", outcome: "denied", status: 401 });

      const all = await entries();
      for (const { res, want } of cases) {
        const mine = all.filter((e) => e.request_id === res.id);
        expect({ id: res.id, count: mine.length }).toEqual({ id: res.id, count: 1 });
        expect(mine[0]).toMatchObject({ actor: want.actor ?? mine[0].actor, outcome: "ok", ...want, request_id: res.id });
        expect(mine[0].timestamp).toMatch(/Z$/);
      }
      // Reads are not writes: none of the admin's GETs is in the log.
      expect(all.filter((e) => e.action === "audit.read" && e.outcome === "ok")).toEqual([]);
      expect(JSON.stringify(all)).not.toContain("sk-audit-secret-value");
    });

    it("a tool call is one entry written with its run: the tool and the run's status, never its arguments", async () => {
      const start = await send(operator, "POST", "/servers/echo/process/start");
      expect(start.status).toBe(200);
      const call = await send(operator, "POST", "/servers/echo/tools/echo/call", { arguments: { text: "confidential-argument-text" } });
      expect(call.status).toBe(200);
      const failed = await send(operator, "POST", "/servers/echo/tools/sleep/call", { arguments: { ms: 5000 }, timeout_ms: 100 });
      expect(failed.status).toBe(504);
      const missing = await send(operator, "POST", "/servers/echo/tools/nope/call", {});
      expect(missing.status).toBe(404);
      expect(await byRequest(call.id)).toEqual([
        expect.objectContaining({
          actor: "ops",
          action: "tool.call",
          target: "server:echo",
          outcome: "ok",
          status: 200,
          details: { tool: "echo", run_status: "success", runs: 1, first_run_id: call.body.run_id },
        }),
      ]);
      expect(await byRequest(failed.id)).toEqual([
        expect.objectContaining({
          action: "tool.call",
          outcome: "error",
          status: 504,
          details: expect.objectContaining({ tool: "sleep", run_status: "timeout" }),
        }),
      ]);
      // Not sent (unknown tool): no run, an error entry all the same.
      expect(await byRequest(missing.id)).toEqual([expect.objectContaining({ action: "tool.call", outcome: "error", status: 404 })]);
      expect(await byRequest(start.id)).toEqual([
        expect.objectContaining({ action: "process.start", target: "server:echo", outcome: "ok", status: 200 }),
      ]);
      expect((await send(operator, "POST", "/servers/echo/process/stop")).status).toBe(200);
      expect(JSON.stringify(await entries())).not.toContain("confidential-argument-text");
    }, 60_000);

    it("none missing under 50 concurrent writers of each kind", async () => {
      const writes = await Promise.all([
        ...Array.from({ length: 50 }, (_, i) => send(operator, "POST", "/telemetry/runs", { runs: [{ provider_id: "gemini", route: `r${i}` }] })),
        ...Array.from({ length: 50 }, () => send(operator, "POST", "/providers/gemini/sessions", {})),
        ...Array.from({ length: 50 }, (_, i) => send(ADMIN, "POST", "/servers", { id: `many-${i}`, name: "M", command: "m" })),
      ]);
      expect(writes.map((w) => w.status).sort()).toEqual([...Array(50).fill(200), ...Array(100).fill(201)].sort());
      const all = await entries();
      const ids = new Set(all.map((e) => e.request_id));
      expect(writes.filter((w) => !ids.has(w.id)).map((w) => w.id)).toEqual([]);
      for (const w of writes) expect(all.filter((e) => e.request_id === w.id)).toHaveLength(1);
    }, 120_000);

    it("GET /audit/logs: newest first, filters, a keyset cursor over every page, and its errors", async () => {
      const all = await entries();
      expect(all.length).toBeGreaterThan(150);
      const ids = all.map((e) => e.id);
      expect([...ids].sort((a, b) => b - a)).toEqual(ids);
      // Pages of 7 from the newest: every entry exactly once, in the same order.
      const paged: number[] = [];
      let cursor: string | null = null;
      do {
        const res: any = await send(ADMIN, "GET", `/audit/logs?limit=7${cursor === null ? "" : `&cursor=${cursor}`}`);
        expect(res.status).toBe(200);
        paged.push(...res.body.items.map((e: any) => e.id));
        cursor = res.body.next_cursor;
      } while (cursor !== null);
      // Entries written meanwhile (the page reads are reads: none) do not change the pages.
      expect(paged).toEqual(ids.slice(0, paged.length));
      expect(paged.length).toBe(ids.length);

      const ops = await entries("&actor=ops");
      expect(ops.length).toBeGreaterThan(100);
      expect(ops.every((e) => e.actor === "ops")).toBe(true);
      expect((await entries("&action=server.create&actor=bootstrap")).every((e) => e.action === "server.create")).toBe(true);
      expect((await entries("&target=server:echo")).map((e) => e.action).sort()).toEqual(
        expect.arrayContaining(["process.start", "process.stop", "tool.call"]),
      );
      const newest = all[0].timestamp;
      expect((await entries(`&start=${encodeURIComponent(newest)}`)).every((e) => e.timestamp >= newest)).toBe(true);
      expect(await entries("&end=2000-01-01T00:00:00Z")).toEqual([]);
      expect(await entries("&actor=nobody")).toEqual([]);

      expect((await send(ADMIN, "GET", "/audit/logs?limit=0")).status).toBe(422);
      expect((await send(ADMIN, "GET", "/audit/logs?start=nope")).body.detail[0].loc).toEqual(["query", "start"]);
      expect(await send(ADMIN, "GET", "/audit/logs?start=2025-02-01&end=2025-01-01")).toMatchObject({
        status: 400,
        body: { detail: "start must be before end" },
      });
      expect(await send(ADMIN, "GET", "/audit/logs?cursor=abc")).toMatchObject({ status: 400, body: { detail: "invalid cursor" } });
      expect((await send(operator, "GET", "/audit/logs")).status).toBe(403);
    }, 60_000);
  });
}
