/**
 * The MCP runtime over real HTTP with real server processes (runtime-contract §18–§21), shared by
 * the SQLite run (test/http/runtime.test.ts) and the PostgreSQL run (test/pg/runtime.test.ts):
 * process list, start/stop/restart with the UI's request shapes, a start that cannot spawn, crash and
 * restart policy, logs with cursors, health pings, tools and tool calls (success, isError, timeout,
 * death mid-call), each call a telemetry run, calls naming a session (§22: counted, closed or another
 * server's session refused). Every process group it causes is gone at the end.
 */
import fs from "node:fs";
import path from "node:path";
import { CONFIGURABLE_SERVER, EVERYTHING_SERVER, GroupWatch, eventually, liveMembers } from "../helpers/process-groups";
import { TestServer, request, startTestServer, tempDir } from "../helpers/server";

export type RuntimeStoreFactory = () => Promise<{ env: Record<string, string>; drop: () => Promise<void> }>;

const node = process.execPath;
/** The value of a variable of the backend's environment that a server's env references. */
const SET_VALUE = "set-value-4f1c9e";

function manifest(dir: string): string {
  const file = path.join(dir, "servers.json");
  const providers = [
    {
      id: "echo",
      name: "Echo",
      description: "test server",
      command: node,
      args: [CONFIGURABLE_SERVER, "--name", "echo-test", "--stderr-line", "warn: disk almost full", "--stderr-line", "plain line"],
      capabilities: ["tools"],
      tags: ["test"],
      transport: "stdio",
      tool_timeout_s: 20,
    },
    { id: "missing", name: "Missing", command: "/nonexistent/bin/mcp-server --flag", transport: "stdio" },
    {
      id: "crashy",
      name: "Crashy",
      command: node,
      args: [CONFIGURABLE_SERVER, "--crash-after-list-ms", "200", "--exit-code", "3"],
      transport: "stdio",
      max_restarts: 1,
    },
    { id: "everything", name: "Everything", command: node, args: [EVERYTHING_SERVER, "stdio"], transport: "stdio" },
  ];
  fs.writeFileSync(file, JSON.stringify({ providers }));
  return file;
}

export function runtimeSuite(label: string, makeStore: RuntimeStoreFactory): void {
  describe(`${label}: MCP runtime over HTTP`, () => {
    let server: TestServer;
    let dir: string;
    let drop: () => Promise<void>;
    const groups = new GroupWatch();
    const url = (p: string) => `${server.baseUrl}${p}`;
    const post = (p: string, json?: unknown) =>
      request(url(p), { method: "POST", headers: { "content-type": "application/json" }, ...(json === undefined ? {} : { json }) });
    const watch = (process: { pid: number | null }) => {
      if (process.pid !== null) groups.add(process.pid);
    };

    beforeAll(async () => {
      dir = tempDir("console-mcp-runtime-");
      const store = await makeStore();
      drop = store.drop;
      server = await startTestServer({
        CONSOLE_MCP_SERVERS_PATH: manifest(dir),
        CONSOLE_MCP_HEALTH_INTERVAL_S: "0",
        // In the backend's environment: a server's env may reference it (§17.2).
        CONSOLE_MCP_TEST_SET_VAR: SET_VALUE,
        ...store.env,
      });
    }, 60_000);

    afterAll(async () => {
      await server?.stop();
      await groups.expectAllGone();
      await drop?.();
      fs.rmSync(dir, { recursive: true, force: true });
    }, 60_000);

    it("lists every catalog server as stopped with nulls before any start", async () => {
      const res = await request(url("/servers/processes"));
      expect(res.status).toBe(200);
      expect(res.body.processes.map((p: any) => p.server_id)).toEqual(["echo", "missing", "crashy", "everything"]);
      expect(res.body.processes[0]).toEqual({
        server_id: "echo",
        desired: "stopped",
        status: "stopped",
        command: null,
        pid: null,
        node_id: null,
        started_at: null,
        stopped_at: null,
        return_code: null,
        last_error: null,
        restarts: 0,
        server_info: null,
        tool_count: null,
        logs: [],
        cursor: null,
      });
      expect((await request(url("/servers/nope/process"))).status).toBe(404);
    });

    it("starts a server with the UI's request (JSON content type, no body) and answers its final state", async () => {
      const res = await post("/servers/echo/process/start");
      expect(res.status).toBe(200);
      const p = res.body.process;
      watch(p);
      expect(p).toMatchObject({ server_id: "echo", desired: "running", status: "running", node_id: server.broker.nodeID, restarts: 0 });
      expect(p.pid).toBeGreaterThan(1);
      expect(liveMembers(p.pid)).toContain(p.pid);
      expect(p.server_info).toMatchObject({ name: "echo-test" });
      expect(p.tool_count).toBeGreaterThan(0);
      expect(p.command).toContain(CONFIGURABLE_SERVER);
      const messages = p.logs.map((l: any) => `${l.level} ${l.message}`);
      expect(messages).toContain("info start requested");
      expect(messages).toContain("warn warn: disk almost full");
      expect(messages).toContain("info plain line");
      expect(p.cursor).toBe(p.logs[p.logs.length - 1].id);
      const again = await post("/servers/echo/process/start");
      expect(again.status).toBe(409);
      expect(again.body).toEqual({ detail: "Server 'echo' is already running" });
      const listed = (await request(url("/servers/processes"))).body.processes[0];
      expect(listed).toMatchObject({ status: "running", pid: p.pid });
    }, 60_000);

    it("lists tools and calls them; every call is a telemetry run", async () => {
      const tools = await request(url("/servers/echo/tools"));
      expect(tools.status).toBe(200);
      expect(tools.body.tools.map((t: any) => t.name)).toEqual(expect.arrayContaining(["echo", "sleep", "fail", "usage"]));
      expect(typeof tools.body.fetched_at).toBe("string");

      const ok = await post("/servers/echo/tools/echo/call", { arguments: { text: "hi there" } });
      expect(ok.status).toBe(200);
      expect(ok.body.result.isError ?? false).toBe(false);
      expect(JSON.stringify(ok.body.result.content)).toContain("hi there");
      expect(ok.body.session_id).toBeNull();
      expect(Number.isInteger(ok.body.run_id)).toBe(true);

      const failed = await post("/servers/echo/tools/fail/call", {});
      expect(failed.status).toBe(200);
      expect(failed.body.result.isError).toBe(true);

      const usage = await post("/servers/echo/tools/usage/call");
      expect(usage.status).toBe(200);

      const runs = (await request(url("/telemetry/runs?provider_id=echo&limit=50"))).body.items;
      const byId = new Map(runs.map((r: any) => [r.id, r]));
      expect(byId.get(ok.body.run_id)).toMatchObject({ provider_id: "echo", tool: "echo", route: "echo", status: "success" });
      expect(byId.get(failed.body.run_id)).toMatchObject({ tool: "fail", status: "tool_error" });
      const metrics = (await request(url("/telemetry/metrics?provider_id=echo"))).body;
      expect(metrics.total_runs).toBe(3);
    }, 60_000);

    it("answers 504 for a call past its timeout and stays usable; 404 unknown tool; 422 bad body", async () => {
      const slow = await post("/servers/echo/tools/sleep/call", { arguments: { ms: 10_000 }, timeout_ms: 300 });
      expect(slow.status).toBe(504);
      expect(slow.body).toEqual({ detail: "Tool 'sleep' timed out after 300 ms" });
      const after = await post("/servers/echo/tools/echo/call", { arguments: { text: "still here" } });
      expect(after.status).toBe(200);
      const runs = (await request(url("/telemetry/runs?provider_id=echo&limit=50"))).body.items;
      expect(runs.some((r: any) => r.tool === "sleep" && r.status === "timeout")).toBe(true);

      const unknown = await post("/servers/echo/tools/nope/call", {});
      expect(unknown.status).toBe(404);
      expect(unknown.body).toEqual({ detail: "Tool 'nope' not found on server 'echo'" });
      const bad = await post("/servers/echo/tools/echo/call", { arguments: [1], timeout_ms: 0 });
      expect(bad.status).toBe(422);
      expect(bad.body.detail.map((i: any) => i.loc)).toEqual([
        ["body", "arguments"],
        ["body", "timeout_ms"],
      ]);
      expect((await post("/servers/missing/tools/echo/call", {})).status).toBe(409);
    }, 60_000);

    it("a call naming a session records it (§22): active with call_count 1, the run carries the session", async () => {
      const created = await post("/providers/echo/sessions", { client: "console-ui" });
      expect(created.status).toBe(200);
      const session = created.body.session;
      expect(session).toMatchObject({ provider_id: "echo", status: "pending", call_count: 0, last_call_at: null });

      const call = await post("/servers/echo/tools/echo/call", { arguments: { text: "in a session" }, session_id: session.id });
      expect(call.status).toBe(200);
      expect(call.body.session_id).toBe(session.id);
      expect(JSON.stringify(call.body.result.content)).toContain("in a session");
      const after = (await request(url(`/sessions/${session.id}`))).body.session;
      expect(after).toEqual({ ...session, status: "active", call_count: 1, last_call_at: expect.any(String) });
      expect(Date.parse(after.last_call_at)).toBeGreaterThanOrEqual(Date.parse(session.created_at));
      const runs = (await request(url("/telemetry/runs?provider_id=echo&limit=50"))).body.items;
      const run = runs.find((r: any) => r.id === call.body.run_id);
      expect(run).toMatchObject({ tool: "echo", status: "success", metadata: { session_id: session.id, client: "console-ui" } });

      // A call that is not sent (unknown tool) is not counted.
      expect((await post("/servers/echo/tools/nope/call", { session_id: session.id })).status).toBe(404);
      expect((await request(url(`/sessions/${session.id}`))).body.session.call_count).toBe(1);
    }, 60_000);

    it("a closed session, another server's session or an unknown one → 409/404, nothing sent, no run", async () => {
      const runsBefore = (await request(url("/telemetry/metrics?provider_id=echo"))).body.total_runs;
      const mine = (await post("/providers/echo/sessions")).body.session;
      expect((await post("/servers/echo/tools/echo/call", { session_id: mine.id })).status).toBe(200);
      const closed = await request(url(`/sessions/${mine.id}`), { method: "DELETE" });
      expect(closed.status).toBe(200);
      const refused = await post("/servers/echo/tools/echo/call", { arguments: { text: "late" }, session_id: mine.id });
      expect(refused.status).toBe(409);
      expect(refused.body).toEqual({ detail: `Session '${mine.id}' is closed` });
      expect((await request(url(`/sessions/${mine.id}`))).body.session).toEqual(closed.body.session);

      const theirs = (await post("/providers/everything/sessions")).body.session;
      const wrong = await post("/servers/echo/tools/echo/call", { arguments: { text: "x" }, session_id: theirs.id });
      expect(wrong.status).toBe(409);
      expect(wrong.body).toEqual({ detail: `Session '${theirs.id}' belongs to server 'everything', not 'echo'` });
      expect((await request(url(`/sessions/${theirs.id}`))).body.session).toEqual(theirs);

      const unknown = await post("/servers/echo/tools/echo/call", { session_id: "00000000-0000-4000-8000-000000000000" });
      expect(unknown.status).toBe(404);
      expect(unknown.body).toEqual({ detail: "Session '00000000-0000-4000-8000-000000000000' not found" });

      // Only the one call that was sent is a run.
      expect((await request(url("/telemetry/metrics?provider_id=echo"))).body.total_runs).toBe(runsBefore + 1);
    }, 60_000);

    it("pings over the live connection and keeps the checks newest first", async () => {
      const ping = await post("/servers/echo/health/ping");
      expect(ping.status).toBe(200);
      expect(ping.body.check).toMatchObject({ status: "healthy", actor: null, plan_id: null, message: null });
      expect(ping.body.check.latency_ms).toBeGreaterThanOrEqual(0);
      const down = await post("/servers/missing/health/ping");
      expect(down.body.check).toMatchObject({ status: "error", latency_ms: null, message: "not running (status: stopped)" });
      const checks = (await request(url("/servers/echo/health"))).body.checks;
      expect(checks[0]).toEqual(ping.body.check);
      expect((await request(url("/servers/echo/health?limit=0"))).status).toBe(422);
      // The integer rule of every route (api-contract §6): an optional sign, digits, then the bounds.
      expect((await request(url("/servers/echo/health?limit=%2B1"))).body.checks).toEqual([ping.body.check]);
      const negative = await request(url("/servers/echo/health?limit=-1"));
      expect(negative.status).toBe(422);
      expect(negative.body.detail[0]).toMatchObject({ type: "greater_than_equal", loc: ["query", "limit"], ctx: { ge: 1 } });
      const text = await request(url("/servers/echo/process/logs?limit=2.5"));
      expect(text.status).toBe(422);
      expect(text.body.detail[0]).toMatchObject({ type: "int_parsing", loc: ["query", "limit"], input: "2.5" });
    });

    it("reads logs after a cursor, oldest first", async () => {
      const all = (await request(url("/servers/echo/process/logs"))).body;
      expect(all.logs.length).toBeGreaterThan(3);
      expect(all.truncated).toBe(false);
      const ids = all.logs.map((l: any) => Number(l.id));
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      const page = (await request(url(`/servers/echo/process/logs?cursor=${all.logs[1].id}&limit=2`))).body;
      expect(page.logs).toEqual(all.logs.slice(2, 4));
      expect(page.cursor).toBe(all.logs[3].id);
      // An empty cursor is "not given" (api-contract §1.1): the first page, as without the parameter.
      const empty = (await request(url("/servers/echo/process/logs?cursor=&limit=2"))).body;
      expect(empty.logs).toEqual(all.logs.slice(0, 2));
      expect(empty.cursor).toBe(all.logs[1].id);
      const bad = await request(url("/servers/echo/process/logs?cursor=abc"));
      expect(bad.status).toBe(400);
      expect(bad.body).toEqual({ detail: "Cursor must be an integer" });
    });

    it("answers 502 when the process dies during a call, then applies the restart policy", async () => {
      const before = (await request(url("/servers/echo/process"))).body.process;
      const died = await post("/servers/echo/tools/exit/call", { arguments: { code: 7 } });
      expect(died.status).toBe(502);
      expect(died.body).toEqual({ detail: "Server 'echo' closed the connection during the call" });
      // on-failure: back to running with a new pid after the backoff.
      await eventually(
        async () => {
          const p = (await request(url("/servers/echo/process"))).body.process;
          if (p.pid !== null) watch(p);
          return p.status === "running" && p.pid !== before.pid && p.restarts === 1;
        },
        20_000,
        "echo restarted",
      );
      const runs = (await request(url("/telemetry/runs?provider_id=echo&limit=50"))).body.items;
      expect(runs.some((r: any) => r.tool === "exit" && r.status === "error")).toBe(true);
      expect(liveMembers(before.pid)).toEqual([]);
    }, 60_000);

    it("stops a server: its group is gone when the answer comes; a second stop is a 409", async () => {
      const running = (await request(url("/servers/echo/process"))).body.process;
      const res = await post("/servers/echo/process/stop");
      expect(res.status).toBe(200);
      expect(res.body.process).toMatchObject({ status: "stopped", desired: "stopped", pid: null });
      expect(liveMembers(running.pid)).toEqual([]);
      expect(res.body.process.logs.map((l: any) => l.message)).toContain("stop requested");
      const again = await post("/servers/echo/process/stop");
      expect(again.status).toBe(409);
      expect(again.body).toEqual({ detail: "Server 'echo' is not running" });
      expect((await request(url("/servers/echo/tools"))).status).toBe(409);
    }, 60_000);

    it("an env ${VAR} the backend's environment does not set is named in a warn line of the server's log at start, never a value", async () => {
      const created = await request(url("/servers"), {
        method: "POST",
        json: {
          id: "envy",
          name: "Envy",
          command: node,
          args: [CONFIGURABLE_SERVER, "--name", "envy"],
          env: {
            GREETING: "${CONSOLE_MCP_TEST_SET_VAR}-${CONSOLE_MCP_TEST_UNSET_VAR}",
            OTHER: "${CONSOLE_MCP_TEST_UNSET_VAR}",
            PLAIN: "${CONSOLE_MCP_TEST_SET_VAR}",
          },
        },
      });
      expect(created.status).toBe(201);
      const res = await post("/servers/envy/process/start");
      watch(res.body.process);
      expect(res.body.process.status).toBe("running");
      const logs = (await request(url("/servers/envy/process/logs"))).body.logs;
      const warnings = logs.filter((l: any) => l.source === "supervisor" && l.level === "warn").map((l: any) => l.message);
      // Once per variable, however many values reference it; a variable that is set is not named.
      expect(warnings).toEqual([expect.stringContaining("${CONSOLE_MCP_TEST_UNSET_VAR}")]);
      expect(warnings[0]).not.toContain("CONSOLE_MCP_TEST_SET_VAR");
      expect(JSON.stringify(logs)).not.toContain(SET_VALUE);
      const started = logs.findIndex((l: any) => l.message === "start requested");
      expect(logs.findIndex((l: any) => l.message === warnings[0])).toBeGreaterThan(started);
      expect((await post("/servers/envy/process/stop")).body.process.status).toBe("stopped");
      expect((await request(url("/servers/envy"), { method: "DELETE" })).status).toBe(204);
    }, 60_000);

    it("a start that cannot spawn is a 200 with status error and the reason", async () => {
      const res = await post("/servers/missing/process/start");
      expect(res.status).toBe(200);
      expect(res.body.process).toMatchObject({ status: "error", pid: null });
      expect(res.body.process.last_error).toMatch(/nonexistent/);
    }, 60_000);

    it("a server that keeps crashing ends in error after max_restarts", async () => {
      const res = await post("/servers/crashy/process/start");
      expect(res.status).toBe(200);
      watch(res.body.process);
      await eventually(
        async () => {
          const p = (await request(url("/servers/crashy/process"))).body.process;
          if (p.pid !== null) watch(p);
          return p.status === "error";
        },
        30_000,
        "crashy in error",
      );
      const p = (await request(url("/servers/crashy/process"))).body.process;
      expect(p.return_code).toBe(3);
      expect(p.last_error).toMatch(/code 3/);
      const stop = await post("/servers/crashy/process/stop");
      expect(stop.body.process).toMatchObject({ status: "stopped", desired: "stopped" });
    }, 60_000);

    it("runs the official server-everything: wait=false answers 202 starting, then echo works", async () => {
      const res = await post("/servers/everything/process/start?wait=false");
      expect(res.status).toBe(202);
      expect(res.body.process.status).toBe("starting");
      await eventually(
        async () => {
          const p = (await request(url("/servers/everything/process"))).body.process;
          if (p.pid !== null) watch(p);
          return p.status === "running";
        },
        30_000,
        "everything running",
      );
      const call = await post("/servers/everything/tools/echo/call", { arguments: { message: "from the console" } });
      expect(call.status).toBe(200);
      expect(JSON.stringify(call.body.result)).toContain("from the console");
      const restart = await post("/servers/everything/process/restart");
      expect(restart.status).toBe(200);
      watch(restart.body.process);
      expect(restart.body.process.status).toBe("running");
      expect((await post("/servers/everything/process/stop")).status).toBe(200);
    }, 90_000);

    it("concurrent starts, stops and restarts of one server leave desired, state, lease and process in step", async () => {
      const created = await post("/servers", {
        id: "race",
        name: "Race",
        command: node,
        args: [CONFIGURABLE_SERVER, "--name", "race"],
        transport: "stdio",
      });
      expect(created.status).toBe(201);
      const seen = new Set<number>();
      const note = (p: { pid: number | null } | undefined) => {
        if (p?.pid) {
          seen.add(p.pid);
          watch(p as { pid: number });
        }
      };
      const alive = () => [...seen].filter((pid) => liveMembers(pid).length > 0);
      const actions = ["start", "stop", "restart"];
      for (let round = 0; round < 6; round++) {
        // 30 requests at once, in a different order each round; each answers 200, 202 or a 409.
        const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => post(`/servers/race/process/${actions[(i + round) % 3]}`)));
        for (const a of answers) {
          expect([200, 409]).toContain(a.status);
          note(a.body.process);
        }
        let settled: any;
        await eventually(
          async () => {
            settled = (await request(url("/servers/race/process"))).body.process;
            note(settled);
            return !["starting", "stopping", "backoff"].includes(settled.status);
          },
          30_000,
          "race settled",
        );
        if (settled.desired === "running") {
          // Wanted: exactly the process the state names runs, owned by this node.
          expect(settled).toMatchObject({ status: "running", node_id: server.broker.nodeID });
          expect(alive()).toEqual([settled.pid]);
        } else {
          // Not wanted: nothing runs, and a start is accepted (no "already running" ghost).
          expect(settled).toMatchObject({ status: "stopped", pid: null });
          expect(alive()).toEqual([]);
          const start = await post("/servers/race/process/start");
          expect(start.status).toBe(200);
          note(start.body.process);
          expect(start.body.process.status).toBe("running");
        }
        // Then a plain stop really ends it.
        const stop = await post("/servers/race/process/stop");
        expect(stop.body.process).toMatchObject({ status: "stopped", desired: "stopped", pid: null });
        expect(alive()).toEqual([]);
      }
      expect((await request(url("/servers/race"), { method: "DELETE" })).status).toBe(204);
    }, 180_000);
  });
}
