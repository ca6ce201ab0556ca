/**
 * GET /events and GET /notifications over real HTTP (runtime-contract §23), embedded, with real MCP
 * server processes: `process` events for a start and a stop, `run` events for a tool call and an
 * ingestion (a large batch as one `runs` summary), `session` and `servers` events, filters, resume
 * with Last-Event-ID (header and query), `reset` after more than 1,000 events, keep-alive comments,
 * a slow client disconnected while a fast one receives everything, the client cap, CORS, and
 * notifications after a crash loop, a recovery and a degraded health check. No process is left.
 */
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { CONFIGURABLE_SERVER, GroupWatch, eventually } from "../helpers/process-groups";
import { TestServer, request, startTestServer, tempDir } from "../helpers/server";
import { openSse, SseClient, SseEvent } from "../helpers/sse";

const node = process.execPath;

function manifest(dir: string): string {
  const file = path.join(dir, "servers.json");
  const providers = [
    { id: "echo", name: "Echo", command: node, args: [CONFIGURABLE_SERVER, "--name", "echo-events"], transport: "stdio" },
    {
      id: "crashy",
      name: "Crashy",
      command: node,
      args: [CONFIGURABLE_SERVER, "--crash-after-list-ms", "150", "--exit-code", "3"],
      transport: "stdio",
      max_restarts: 2,
    },
    { id: "flaky", name: "Flaky", command: node, args: [CONFIGURABLE_SERVER], transport: "stdio" },
    { id: "slow", name: "Slow", command: node, args: [CONFIGURABLE_SERVER, "--ping-delay-ms", "300"], transport: "stdio", degraded_latency_ms: 50 },
  ];
  fs.writeFileSync(file, JSON.stringify({ providers }));
  return file;
}

const ofType = (events: SseEvent[], type: string) => events.filter((e) => e.event === type);

describe("GET /events and GET /notifications over HTTP (embedded)", () => {
  let server: TestServer;
  let dir: string;
  const groups = new GroupWatch();
  const clients: SseClient[] = [];
  const url = (p: string) => `${server.baseUrl}${p}`;
  const post = (p: string, json?: unknown) => request(url(p), { method: "POST", ...(json === undefined ? {} : { json }) });
  const ingest = async (runs: Record<string, unknown>[]): Promise<number[]> => {
    const res = await post("/telemetry/runs", { runs });
    expect(res.status).toBe(201);
    return res.body.ids;
  };
  const open = async (query = "", headers: Record<string, string> = {}) => {
    const client = await openSse(url(`/events${query}`), headers);
    clients.push(client);
    return client;
  };
  const watch = (p: { pid: number | null }) => {
    if (p.pid !== null) groups.add(p.pid);
  };
  const ensureRunning = async (id: string) => {
    const res = await post(`/servers/${id}/process/start`);
    const p = res.status === 200 ? res.body.process : (await request(url(`/servers/${id}/process`))).body.process;
    watch(p);
    expect(p.status).toBe("running");
  };

  beforeAll(async () => {
    dir = tempDir("console-mcp-events-");
    server = await startTestServer({
      CONSOLE_MCP_SERVERS_PATH: manifest(dir),
      CONSOLE_MCP_HEALTH_INTERVAL_S: "0",
      CONSOLE_MCP_SSE_KEEPALIVE_MS: "200",
    });
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await server?.stop();
    await groups.expectAllGone();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("answers a text/event-stream with CORS as any GET; an unknown type is a 422; other methods 405", async () => {
    const client = await open("", { origin: "http://localhost:5173", "x-request-id": "sse-1" });
    expect(client.status).toBe(200);
    expect(client.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    expect(client.headers["cache-control"]).toContain("no-cache");
    expect(client.headers["access-control-allow-origin"]).toBe("http://localhost:5173");
    expect(client.headers["x-request-id"]).toBe("sse-1");
    client.close();
    const bad = await request(url("/events?types=process,bogus"), { headers: { origin: "http://localhost:5173" } });
    expect(bad.status).toBe(422);
    expect(bad.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    expect(bad.body.detail).toEqual([expect.objectContaining({ loc: ["query", "types"], input: "bogus" })]);
    const preflight = await request(url("/events"), {
      method: "OPTIONS",
      headers: { origin: "http://localhost:5173", "access-control-request-method": "GET" },
    });
    expect(preflight.status).toBe(200);
    const postEvents = await post("/events");
    expect(postEvents.status).toBe(405);
    expect(postEvents.headers.get("allow")).toBe("GET");
  });

  it("sends process events for a start and a stop (the ProcessState without logs)", async () => {
    const client = await open("?types=process&server_id=echo");
    const started = await post("/servers/echo/process/start");
    expect(started.status).toBe(200);
    watch(started.body.process);
    const pid = started.body.process.pid;
    const stopped = await post("/servers/echo/process/stop");
    expect(stopped.body.process.status).toBe("stopped");
    const events = await client.until((es) => es.some((e) => e.data.status === "stopped" && e.data.desired === "stopped"), "echo stopped");
    // Each stored change is an event (a start writes `starting` twice: before the spawn, then with the pid).
    const statuses = events.map((e) => e.data.status).filter((st, i, all) => i === 0 || all[i - 1] !== st);
    expect(statuses).toEqual(["starting", "running", "stopping", "stopped"]);
    expect(events.every((e) => e.event === "process" && e.data.server_id === "echo" && !("logs" in e.data))).toBe(true);
    expect(events.some((e) => e.data.status === "starting" && e.data.pid === pid)).toBe(true);
    const running = events.find((e) => e.data.status === "running")?.data;
    expect(running).toMatchObject({ pid, desired: "running", node_id: server.broker.nodeID, restarts: 0, server_info: { name: "echo-events" } });
    expect(typeof running.cursor).toBe("string");
    expect(running.started_at).toMatch(/Z$/);
    // Ids increase along the stream.
    const seqs = events.map((e) => Number((e.id as string).split("-")[1]));
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);
  }, 60_000);

  it("sends run events for a tool call and for an ingestion, and one runs summary for a large batch", async () => {
    const client = await open("?types=run");
    await ensureRunning("echo");
    const call = await post("/servers/echo/tools/echo/call", { arguments: { text: "live" } });
    expect(call.status).toBe(200);
    const ids = await ingest([
      { provider_id: "p-run", tokens_in: 5, metadata: { k: 1 }, status: "ok" },
      { provider_id: "p-run", status: "failed" },
    ]);
    const big = await ingest(Array.from({ length: 500 }, (_, i) => ({ provider_id: i % 5 === 0 ? "p-a" : "p-b" })));
    const events = await client.until((es) => es.some((e) => e.event === "runs"), "the runs summary");
    const runs = ofType(events, "run");
    expect(runs.map((e) => e.data.id)).toEqual([call.body.run_id, ...ids]);
    expect(runs[0].data).toMatchObject({ provider_id: "echo", tool: "echo", route: "echo", status: "success" });
    expect(runs[1].data).toMatchObject({ provider_id: "p-run", tokens_in: 5, metadata: { k: 1 }, status: "success" });
    expect(runs[2].data.status).toBe("error");
    const summaries = ofType(events, "runs");
    expect(summaries).toHaveLength(1);
    expect(summaries[0].data).toEqual({
      count: 500,
      first_id: big[0],
      last_id: big[499],
      start: expect.any(String),
      end: expect.any(String),
      providers: [
        { provider_id: "p-b", count: 400 },
        { provider_id: "p-a", count: 100 },
      ],
      provider_count: 2,
    });
    expect(events).toHaveLength(4);
    await post("/servers/echo/process/stop");
  }, 60_000);

  it("sends session events (pending, active, closed) and servers events (created, deleted)", async () => {
    const client = await open("?types=session,servers");
    const created = await post("/providers/echo/sessions", { client: "events-test" });
    const sid = created.body.session.id;
    await ensureRunning("echo");
    expect((await post("/servers/echo/tools/echo/call", { arguments: { text: "s" }, session_id: sid })).status).toBe(200);
    expect((await request(url(`/sessions/${sid}`), { method: "DELETE" })).status).toBe(200);
    const made = await post("/servers", { id: "extra", name: "Extra", command: "/bin/true" });
    expect(made.status).toBe(201);
    expect((await request(url("/servers/extra"), { method: "DELETE" })).status).toBe(204);
    const events = await client.until((es) => es.some((e) => e.event === "servers" && e.data.action === "deleted"), "extra deleted");
    const sessions = ofType(events, "session").filter((e) => e.data.id === sid);
    expect(sessions.map((e) => e.data.status)).toEqual(["pending", "active", "closed"]);
    expect(sessions[1].data).toMatchObject({ provider_id: "echo", client: "events-test", call_count: 1 });
    const servers = ofType(events, "servers").filter((e) => e.data.server.id === "extra");
    expect(servers.map((e) => e.data.action)).toEqual(["created", "deleted"]);
    expect(servers[0].data.server).toMatchObject({ id: "extra", name: "Extra", source: "api" });
    expect(events.every((e) => e.event === "session" || e.event === "servers")).toBe(true);
    await post("/servers/echo/process/stop");
  }, 60_000);

  it("filters by types and server_id", async () => {
    const everything = await open();
    const onlyA = await open("?server_id=f-a");
    const onlySessions = await open("?types=session");
    await ingest([{ provider_id: "f-a" }, { provider_id: "f-b" }]);
    await post("/providers/echo/sessions", {});
    const marker = (await ingest([{ provider_id: "f-a", route: "marker" }]))[0];
    const done = (es: SseEvent[]) => es.some((e) => e.event === "run" && e.data.id === marker);
    await everything.until(done, "the marker on the unfiltered stream");
    await onlyA.until(done, "the marker on the server_id stream");
    const all = everything.events.filter((e) => e.event === "run" || e.event === "session");
    expect(all.map((e) => e.event)).toEqual(["run", "run", "session", "run"]);
    expect(onlyA.events.map((e) => [e.event, e.data.provider_id])).toEqual([
      ["run", "f-a"],
      ["run", "f-a"],
    ]);
    await onlySessions.until((es) => es.length >= 1, "the session");
    expect(onlySessions.events.map((e) => e.event)).toEqual(["session"]);
  }, 30_000);

  it("resumes with Last-Event-ID (header, or last_event_id query): the events in between, in order, none twice", async () => {
    const first = await open("?types=run,session");
    const [r1] = await ingest([{ provider_id: "resume" }]);
    await first.until((es) => es.some((e) => e.data.id === r1), "r1");
    const last = first.lastId() as string;
    first.close();
    const between = await ingest([{ provider_id: "resume" }, { provider_id: "resume" }]);
    const session = (await post("/providers/echo/sessions", {})).body.session.id;
    const between2 = await ingest([{ provider_id: "resume" }]);
    for (const [query, headers] of [
      ["?types=run,session", { "last-event-id": last }],
      [`?types=run,session&last_event_id=${last}`, {}],
    ] as const) {
      const again = await open(query, headers);
      const live = (await ingest([{ provider_id: "resume" }]))[0];
      const events = await again.until((es) => es.some((e) => e.data.id === live), "the live run");
      expect(events.map((e) => e.data.id)).toEqual([...between, session, ...between2, live]);
      expect(events.every((e) => e.event !== "reset")).toBe(true);
      again.close();
      between2.push(live);
    }
  }, 30_000);

  it("sends reset first when more than 1,000 events passed since the resume point", async () => {
    const client = await open("?types=run");
    const [r0] = await ingest([{ provider_id: "reset" }]);
    await client.until((es) => es.some((e) => e.data.id === r0), "r0");
    const old = client.lastId() as string;
    client.close();
    const ids: number[] = [];
    for (let i = 0; i < 11; i++) ids.push(...(await ingest(Array.from({ length: 100 }, () => ({ provider_id: "reset" })))));
    const back = await open("?types=run", { "last-event-id": old });
    const events = await back.until((es) => es.some((e) => e.data.id === ids[ids.length - 1]), "the newest run");
    expect(events[0].event).toBe("reset");
    expect(events[0].id).not.toBeNull();
    const replayed = events.slice(1).map((e) => e.data.id);
    expect(replayed).toEqual(ids.slice(ids.length - replayed.length));
    expect(replayed.length).toBeGreaterThan(900);
    expect(replayed.length).toBeLessThanOrEqual(1000);
    // The reset's id is a valid resume point: the same events again, no reset.
    const fromReset = await open("?types=run", { "last-event-id": events[0].id as string });
    const again = await fromReset.until((es) => es.length >= replayed.length, "the replay");
    expect(again.map((e) => e.data.id)).toEqual(replayed);
  }, 60_000);

  it("writes keep-alive comments", async () => {
    const quiet = await open("?types=log&server_id=nothing-here");
    await eventually(() => quiet.comments() >= 2, 20_000, "two keep-alive comments");
    expect(quiet.events).toEqual([]);
  }, 30_000);

  it("disconnects a client that reads nothing once 1 MiB is unsent; a fast client keeps receiving every event", async () => {
    const api = server.broker.getLocalService("api") as unknown as { eventStreamStats(): { slowDisconnects: number; clients: number } };
    const before = api.eventStreamStats().slowDisconnects;
    const origin = new URL(server.baseUrl);
    const slow = net.connect(Number(origin.port), origin.hostname);
    await new Promise<void>((resolve) => slow.once("connect", () => resolve()));
    slow.pause();
    slow.write(`GET /api/v1/events?types=run HTTP/1.1\r\nHost: ${origin.host}\r\nAccept: text/event-stream\r\n\r\n`);
    const slowClosed = new Promise<void>((resolve) => slow.once("close", () => resolve()));
    slow.on("error", () => undefined);
    const fast = await open("?types=run");
    // 100 runs of ~2.4 KB each: ~240 KB of run events per request (below the size where a transaction is summarised).
    const pad = "x".repeat(2400);
    const sent: number[] = [];
    for (let i = 0; i < 400 && api.eventStreamStats().slowDisconnects === before; i++) {
      sent.push(...(await ingest(Array.from({ length: 100 }, (_, j) => ({ provider_id: "bulk", metadata: { n: i * 100 + j, pad } })))));
    }
    expect(api.eventStreamStats().slowDisconnects).toBe(before + 1);
    slow.resume();
    await slowClosed;
    const last = (await ingest([{ provider_id: "bulk" }]))[0];
    sent.push(last);
    const received = await fast.until((es) => es.some((e) => e.data.id === last), "the fast client's last run", 60_000);
    expect(received.map((e) => e.data.id)).toEqual(sent);
  }, 180_000);

  it("notifications: a crash loop, a recovery and a degraded health check, newest first, stable ids", async () => {
    const health = await open("?types=health&server_id=slow");
    // A crash loop: dies after each start; gives up after max_restarts (2).
    const crashy = await post("/servers/crashy/process/start");
    watch(crashy.body.process);
    await eventually(
      async () => {
        const p = (await request(url("/servers/crashy/process"))).body.process;
        watch(p);
        return p.status === "error";
      },
      60_000,
      "crashy in error",
    );
    // A recovery: the process dies during a call and is restarted.
    const flaky = await post("/servers/flaky/process/start");
    watch(flaky.body.process);
    expect((await post("/servers/flaky/tools/exit/call", { arguments: { code: 1 } })).status).toBe(502);
    await eventually(
      async () => {
        const p = (await request(url("/servers/flaky/process"))).body.process;
        watch(p);
        return p.status === "running" && p.restarts === 1;
      },
      60_000,
      "flaky running again",
    );
    // A degraded health check.
    const slow = await post("/servers/slow/process/start");
    watch(slow.body.process);
    const ping = await post("/servers/slow/health/ping");
    expect(ping.body.check.status).toBe("degraded");
    await health.until((es) => es.some((e) => e.data.check?.status === "degraded"), "the degraded check");
    expect(health.events[0].data).toMatchObject({ server_id: "slow", check: { status: "degraded", actor: null } });

    const res = await request(url("/notifications"));
    expect(res.status).toBe(200);
    const list = res.body.notifications as any[];
    const titles = list.map((n) => `${n.severity} ${n.title}`);
    expect(titles).toEqual(
      expect.arrayContaining([
        "critical Server 'crashy' failed",
        "warning Server 'crashy' restarted after a failure",
        "warning Server 'flaky' restarted after a failure",
        "success Server 'flaky' recovered",
        "warning Server 'slow' is degraded",
      ]),
    );
    expect(titles.filter((t) => t === "warning Server 'crashy' restarted after a failure")).toHaveLength(2);
    for (const n of list) {
      expect(Object.keys(n).sort()).toEqual(["category", "id", "message", "severity", "tags", "timestamp", "title"]);
      expect(n.category).toBe("operations");
      expect(n.timestamp).toMatch(/Z$/);
    }
    const times = list.map((n) => Date.parse(n.timestamp));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(list.findIndex((n) => n.title === "Server 'slow' is degraded")).toBeLessThan(list.findIndex((n) => n.title === "Server 'crashy' failed"));
    expect(list.length).toBeLessThanOrEqual(50);
    expect(new Set(list.map((n) => n.id)).size).toBe(list.length);
    const again = await request(url("/notifications"));
    expect(again.body.notifications.map((n: any) => n.id)).toEqual(list.map((n) => n.id));
    for (const id of ["flaky", "slow"]) await post(`/servers/${id}/process/stop`);
  }, 120_000);
});

describe("GET /events: the client cap and a gateway that stops", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ CONSOLE_MCP_SSE_MAX_CLIENTS: "2" });
  });
  afterAll(() => server?.stop());

  it("answers 503 beyond CONSOLE_MCP_SSE_MAX_CLIENTS; a closed stream frees its place", async () => {
    const a = await openSse(`${server.baseUrl}/events`);
    const b = await openSse(`${server.baseUrl}/events`);
    const refused = await request(`${server.baseUrl}/events`);
    expect(refused.status).toBe(503);
    expect(refused.body.detail).toMatch(/Too many event streams on this gateway \(limit 2\)/);
    a.close();
    await eventually(
      async () =>
        (await openSse(`${server.baseUrl}/events`).then((c) => {
          c.close();
          return c.status;
        })) === 200,
      10_000,
      "a place freed",
    );
    b.close();
  });

  it("ends every stream when the gateway drains, so its clients reconnect elsewhere", async () => {
    const client = await openSse(`${server.baseUrl}/events`);
    const gateway = server.broker.getLocalService("api") as unknown as { drain(ms: number): Promise<{ abandoned: number }> };
    const result = await gateway.drain(5000);
    await client.closed;
    expect(result.abandoned).toBe(0);
  });
});
