/**
 * The console UI's Servers page, replayed (issue 9; runtime-contract §17–§20 **(UI)**). The UI's
 * source is not here to run in a headless browser, so the page's calls are made exactly as a browser
 * makes them from the UI's origin (http://127.0.0.1:5173, allowed by the default CORS list, §14):
 * every call is preflighted (the UI sends `Content-Type: application/json` on every request, GET
 * included, so none is a simple request), then sent with that Origin and that Content-Type and no
 * body. The backend is a real embedded server on the demo manifest (config/console-mcp/servers.demo.json:
 * the official `server-everything`, autostarted, and `server-filesystem` on demo/sandbox).
 *
 * The page: load (GET /servers, GET /servers/processes), start a server, read the state again, poll
 * its log tail with the cursor it holds and follow up with the cursor returned, read its health,
 * ping it, restart it, stop it. Each answer is checked field by field: every field the contract
 * marks (UI) — ProcessState (§18.1), LogEntry (§19), HealthCheck (§20), Server (§17.3) — is there
 * with its exact name and JSON type, and every answer carries the CORS headers. No process is left.
 */
import path from "node:path";
import { GroupWatch, liveMembers, PROJECT_ROOT } from "../helpers/process-groups";
import { request, startTestServer, TestServer } from "../helpers/server";

const UI_ORIGIN = "http://127.0.0.1:5173";
const DEMO_MANIFEST = path.join(PROJECT_ROOT, "config/console-mcp/servers.demo.json");

// ---------------------------------------------------------------------------------------------
// JSON types as the contract writes them

type Kind = "string" | "int" | "bool" | "null" | "datetime" | "decimal" | "array" | "object" | { oneOf: readonly string[] };

/** §1.2 output datetimes: UTC with Z, seconds always, milliseconds only when non-zero. */
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.(?!000)\d{3})?Z$/;

function matches(value: unknown, kind: Kind): boolean {
  if (typeof kind === "object") return typeof value === "string" && kind.oneOf.includes(value);
  switch (kind) {
    case "string":
      return typeof value === "string";
    case "int":
      return typeof value === "number" && Number.isInteger(value);
    case "bool":
      return typeof value === "boolean";
    case "null":
      return value === null;
    case "datetime":
      return typeof value === "string" && DATETIME.test(value) && Number.isFinite(Date.parse(value));
    case "decimal":
      return typeof value === "string" && /^(0|[1-9][0-9]*)$/.test(value);
    case "array":
      return Array.isArray(value);
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
  }
}

/** The fields of `obj` that are missing, extra, or not of one of their kinds (empty when it fits `spec` exactly). */
function misfits(obj: unknown, spec: Record<string, readonly Kind[]>, where: string): string[] {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return [`${where}: not an object: ${JSON.stringify(obj)}`];
  const record = obj as Record<string, unknown>;
  const out: string[] = [];
  for (const key of Object.keys(spec)) {
    if (!(key in record)) out.push(`${where}.${key}: missing`);
    else if (!spec[key].some((k) => matches(record[key], k))) {
      out.push(
        `${where}.${key}: ${JSON.stringify(record[key])} is not ${spec[key].map((k) => (typeof k === "object" ? k.oneOf.join("|") : k)).join(" or ")}`,
      );
    }
  }
  for (const key of Object.keys(record)) if (!(key in spec)) out.push(`${where}.${key}: not in the contract`);
  return out;
}

const STATUS = { oneOf: ["stopped", "starting", "running", "stopping", "backoff", "error"] } as const;

/** §18.1 ProcessState (UI). */
const PROCESS_STATE: Record<string, readonly Kind[]> = {
  server_id: ["string"],
  desired: [{ oneOf: ["running", "stopped"] }],
  status: [STATUS],
  command: ["string", "null"],
  pid: ["int", "null"],
  node_id: ["string", "null"],
  started_at: ["datetime", "null"],
  stopped_at: ["datetime", "null"],
  return_code: ["int", "null"],
  last_error: ["string", "null"],
  restarts: ["int"],
  server_info: ["object", "null"],
  tool_count: ["int", "null"],
  logs: ["array"],
  cursor: ["decimal", "null"],
};

/** §18.1 `server_info`. */
const SERVER_INFO: Record<string, readonly Kind[]> = { name: ["string"], version: ["string"], protocol_version: ["string"] };

/** §19 LogEntry (UI: id, timestamp, level, message). */
const LOG_ENTRY: Record<string, readonly Kind[]> = {
  id: ["decimal"],
  timestamp: ["datetime"],
  level: [{ oneOf: ["debug", "info", "warn", "error"] }],
  source: [{ oneOf: ["supervisor", "stderr"] }],
  message: ["string"],
};

/** §20 HealthCheck (UI). */
const HEALTH_CHECK: Record<string, readonly Kind[]> = {
  status: [{ oneOf: ["healthy", "degraded", "error"] }],
  checked_at: ["datetime"],
  latency_ms: ["int", "null"],
  message: ["string", "null"],
  actor: ["string", "null"],
  plan_id: ["null"],
};

/** §17.3 Server: the (UI) fields, then the runtime's. */
const SERVER_UI_FIELDS: Record<string, readonly Kind[]> = {
  id: ["string"],
  name: ["string"],
  command: ["string"],
  description: ["string"],
  tags: ["array"],
  capabilities: ["array"],
  transport: ["string"],
  created_at: ["datetime"],
  updated_at: ["datetime"],
};

/** Every misfit of a ProcessState, its server_info and each of its log entries (§18.1: the newest 20, oldest first). */
function processMisfits(p: Record<string, unknown>): string[] {
  const out = misfits(p, PROCESS_STATE, `process(${String(p.server_id)})`);
  if (p.server_info !== null && typeof p.server_info === "object") out.push(...misfits(p.server_info, SERVER_INFO, "server_info"));
  const logs = Array.isArray(p.logs) ? (p.logs as unknown[]) : [];
  if (logs.length > 20) out.push(`logs: ${logs.length} entries, more than 20`);
  logs.forEach((l, i) => {
    out.push(...misfits(l, LOG_ENTRY, `logs[${i}]`));
  });
  out.push(...idOrder(logs as { id: string }[], "logs"));
  const last = logs[logs.length - 1] as { id?: string } | undefined;
  if ((p.cursor ?? null) !== (last?.id ?? null)) out.push(`cursor ${String(p.cursor)} is not the newest entry's id ${String(last?.id)}`);
  return out;
}

/** Entries oldest first: ids strictly increasing. */
function idOrder(logs: { id: string }[], where: string): string[] {
  for (let i = 1; i < logs.length; i++) {
    if (!(BigInt(logs[i].id) > BigInt(logs[i - 1].id))) return [`${where}: ids not increasing at ${i} (${logs[i - 1].id}, ${logs[i].id})`];
  }
  return [];
}

// ---------------------------------------------------------------------------------------------

describe("the console UI's Servers page, replayed from its origin against the demo servers", () => {
  let server: TestServer;
  const groups = new GroupWatch();

  beforeAll(async () => {
    server = await startTestServer({ CONSOLE_MCP_SERVERS_PATH: DEMO_MANIFEST, CONSOLE_MCP_HEALTH_INTERVAL_S: "0" });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await groups.expectAllGone();
  }, 60_000);

  /**
   * One call of the page as a browser sends it: the CORS preflight (checked), then the request with
   * the UI's Origin and `Content-Type: application/json`, no body; the answer's CORS headers checked.
   */
  async function ui(method: "GET" | "POST", p: string): Promise<{ status: number; body: any }> {
    const url = `${server.baseUrl}${p}`;
    const preflight = await request(url, {
      method: "OPTIONS",
      headers: { origin: UI_ORIGIN, "access-control-request-method": method, "access-control-request-headers": "content-type" },
    });
    expect({ call: `OPTIONS ${p}`, status: preflight.status, text: preflight.text }).toEqual({ call: `OPTIONS ${p}`, status: 200, text: "OK" });
    expect(preflight.headers.get("access-control-allow-origin")).toBe(UI_ORIGIN);
    expect(preflight.headers.get("access-control-allow-credentials")).toBe("true");
    expect(preflight.headers.get("access-control-allow-methods")?.split(", ")).toContain(method);
    expect(preflight.headers.get("access-control-allow-headers")).toBe("content-type");
    expect(preflight.headers.get("access-control-max-age")).toBe("600");
    expect(preflight.headers.get("vary")).toMatch(/\bOrigin\b/);

    const res = await request(url, { method, headers: { origin: UI_ORIGIN, "content-type": "application/json" } });
    expect(res.headers.get("access-control-allow-origin")).toBe(UI_ORIGIN);
    expect(res.headers.get("access-control-allow-credentials")).toBe("true");
    expect(res.headers.get("vary")).toMatch(/\bOrigin\b/);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    return { status: res.status, body: res.body };
  }

  const watch = (p: { pid: number | null }) => {
    if (p.pid !== null) groups.add(p.pid);
  };

  it("shows every server, starts one, follows its logs, checks its health, restarts and stops it", async () => {
    // `everything` is autostarted: the page is opened once it runs (the UI reads state once per load).
    let autostarted: Record<string, any> = {};
    for (const deadline = Date.now() + 60_000; autostarted.status !== "running"; ) {
      if (Date.now() > deadline) throw new Error(`everything did not start: ${JSON.stringify(autostarted)}`);
      autostarted = (await request(`${server.baseUrl}/servers/everything/process`)).body.process;
      watch(autostarted as { pid: number | null });
      if (autostarted.status === "error") throw new Error(`everything failed to start: ${autostarted.last_error}`);
      if (autostarted.status !== "running") await new Promise((r) => setTimeout(r, 100));
    }

    // --- page load: the catalog and every server's state ------------------------------------
    const catalog = await ui("GET", "/servers");
    expect(catalog.status).toBe(200);
    expect(catalog.body.servers.map((s: { id: string }) => s.id)).toEqual(["everything", "filesystem"]);
    for (const s of catalog.body.servers) {
      const uiFields = Object.fromEntries(Object.keys(SERVER_UI_FIELDS).map((k) => [k, s[k]]));
      expect(misfits(uiFields, SERVER_UI_FIELDS, `server(${s.id})`)).toEqual([]);
      expect([...s.tags, ...s.capabilities].every((t: unknown) => typeof t === "string")).toBe(true);
    }

    const load = await ui("GET", "/servers/processes");
    expect(load.status).toBe(200);
    expect(Object.keys(load.body)).toEqual(["processes"]);
    const processes = load.body.processes as Record<string, any>[];
    // One per catalog server, in catalog order.
    expect(processes.map((p) => p.server_id)).toEqual(["everything", "filesystem"]);
    for (const p of processes) expect(processMisfits(p)).toEqual([]);
    expect(processes[0]).toMatchObject({ desired: "running", status: "running", pid: autostarted.pid, node_id: server.broker.nodeID });
    // Never started: `stopped` with nulls.
    expect(processes[1]).toEqual({
      server_id: "filesystem",
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

    // --- Start: the UI reads only this answer -------------------------------------------------
    const started = await ui("POST", "/servers/filesystem/process/start");
    expect(started.status).toBe(200);
    expect(Object.keys(started.body)).toEqual(["process"]);
    const running = started.body.process;
    watch(running);
    expect(processMisfits(running)).toEqual([]);
    expect(running).toMatchObject({
      server_id: "filesystem",
      desired: "running",
      status: "running",
      node_id: server.broker.nodeID,
      restarts: 0,
      last_error: null,
      stopped_at: null,
      return_code: null,
    });
    expect(running.pid).toBeGreaterThan(1);
    expect(liveMembers(running.pid)).toContain(running.pid);
    expect(running.command).toContain("server-filesystem");
    expect(typeof running.started_at).toBe("string");
    expect(running.tool_count).toBeGreaterThan(0);
    expect(running.server_info.name).not.toBe("");
    expect(running.logs.map((l: { message: string }) => l.message)).toEqual(
      expect.arrayContaining(["start requested", `spawned ${running.command} with pid ${running.pid}`]),
    );
    expect(running.cursor).not.toBeNull();

    // A second start, as a double click sends it: a 409 whose detail the card shows raw.
    const twice = await ui("POST", "/servers/filesystem/process/start");
    expect(twice).toEqual({ status: 409, body: { detail: "Server 'filesystem' is already running" } });

    // --- The state again: online, with the pid ------------------------------------------------
    const reloaded = await ui("GET", "/servers/processes");
    const listed = (reloaded.body.processes as Record<string, any>[]).find((p) => p.server_id === "filesystem")!;
    expect(processMisfits(listed)).toEqual([]);
    expect(listed).toMatchObject({
      status: "running",
      pid: running.pid,
      node_id: running.node_id,
      started_at: running.started_at,
      tool_count: running.tool_count,
    });

    // --- Log tail: a card without a cursor yet sends it empty (= not given, api-contract §1.1) ---
    const first = await ui("GET", "/servers/filesystem/process/logs?cursor=");
    expect(first.status).toBe(200);
    expect((first.body.logs as { message: string }[]).map((l) => l.message)).toContain("start requested");

    // --- Log tail with the cursor the card holds, then with the cursor returned ----------------
    const tail = await ui("GET", `/servers/filesystem/process/logs?cursor=${running.cursor}`);
    expect(tail.status).toBe(200);
    expect(Object.keys(tail.body).sort()).toEqual(["cursor", "logs", "truncated"]);
    expect(matches(tail.body.cursor, "decimal")).toBe(true);
    expect(tail.body.truncated).toBe(false);
    (tail.body.logs as unknown[]).forEach((l, i) => {
      expect(misfits(l, LOG_ENTRY, `tail[${i}]`)).toEqual([]);
    });
    for (const l of tail.body.logs) expect(BigInt(l.id) > BigInt(running.cursor)).toBe(true);
    const tailLast = tail.body.logs[tail.body.logs.length - 1];
    expect(tail.body.cursor).toBe(tailLast === undefined ? running.cursor : tailLast.id);

    // --- Health: none yet, then a ping on the live connection, then the list ------------------
    const never = await ui("GET", "/servers/filesystem/health");
    expect(never).toEqual({ status: 200, body: { checks: [] } });
    const ping = await ui("POST", "/servers/filesystem/health/ping");
    expect(ping.status).toBe(200);
    expect(Object.keys(ping.body)).toEqual(["check"]);
    expect(misfits(ping.body.check, HEALTH_CHECK, "check")).toEqual([]);
    expect(ping.body.check).toMatchObject({ status: "healthy", message: null, actor: null, plan_id: null });
    expect(ping.body.check.latency_ms).toBeGreaterThanOrEqual(0);
    const health = await ui("GET", "/servers/filesystem/health");
    expect(health.status).toBe(200);
    expect(Object.keys(health.body)).toEqual(["checks"]);
    (health.body.checks as unknown[]).forEach((c, i) => {
      expect(misfits(c, HEALTH_CHECK, `checks[${i}]`)).toEqual([]);
    });
    expect(health.body.checks).toEqual([ping.body.check]);

    // --- Restart: answered as a start ----------------------------------------------------------
    const restarted = await ui("POST", "/servers/filesystem/process/restart");
    expect(restarted.status).toBe(200);
    const again = restarted.body.process;
    watch(again);
    expect(processMisfits(again)).toEqual([]);
    expect(again).toMatchObject({ status: "running", desired: "running", restarts: 0, node_id: server.broker.nodeID });
    expect(again.pid).not.toBe(running.pid);
    expect(liveMembers(running.pid)).toEqual([]);

    // The follow-up poll with the cursor the tail returned: the restart's lines, after it.
    const follow = await ui("GET", `/servers/filesystem/process/logs?cursor=${tail.body.cursor}`);
    expect(follow.status).toBe(200);
    expect(follow.body.truncated).toBe(false);
    (follow.body.logs as unknown[]).forEach((l, i) => {
      expect(misfits(l, LOG_ENTRY, `follow[${i}]`)).toEqual([]);
    });
    expect(idOrder(follow.body.logs, "follow")).toEqual([]);
    for (const l of follow.body.logs) expect(BigInt(l.id) > BigInt(tail.body.cursor)).toBe(true);
    const messages = follow.body.logs.map((l: { message: string }) => l.message);
    expect(messages).toEqual(expect.arrayContaining(["restart requested", `spawned ${again.command} with pid ${again.pid}`]));
    expect(follow.body.cursor).toBe(follow.body.logs[follow.body.logs.length - 1].id);
    // It reaches at least the restart answer's cursor (the server may have written stderr lines since).
    expect(BigInt(follow.body.cursor) >= BigInt(again.cursor)).toBe(true);

    // --- Stop: offline, the process gone when the answer comes ----------------------------------
    const stopped = await ui("POST", "/servers/filesystem/process/stop");
    expect(stopped.status).toBe(200);
    const off = stopped.body.process;
    expect(processMisfits(off)).toEqual([]);
    expect(off).toMatchObject({ status: "stopped", desired: "stopped", pid: null, started_at: null, tool_count: null });
    expect(typeof off.stopped_at).toBe("string");
    expect(liveMembers(again.pid)).toEqual([]);
    expect(off.logs.map((l: { message: string }) => l.message)).toContain("stop requested");

    // The page's last view: filesystem offline, everything still online.
    const last = await ui("GET", "/servers/processes");
    expect(last.body.processes.map((p: { server_id: string; status: string }) => [p.server_id, p.status])).toEqual([
      ["everything", "running"],
      ["filesystem", "stopped"],
    ]);
    for (const p of last.body.processes) expect(processMisfits(p)).toEqual([]);

    // Stopping the autostarted one from the page too leaves no process at all.
    const stopEverything = await ui("POST", "/servers/everything/process/stop");
    expect(stopEverything.status).toBe(200);
    expect(stopEverything.body.process).toMatchObject({ status: "stopped", desired: "stopped", pid: null });
    expect(liveMembers(autostarted.pid)).toEqual([]);
    expect(groups.survivors()).toEqual([]);
  }, 120_000);
});
