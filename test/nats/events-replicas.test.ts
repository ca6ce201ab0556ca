/**
 * The event stream over NATS (runtime-contract §23.1), every role in its own process: two gateways
 * that are also the two runtime replicas (A, B) and one node with providers, sessions and telemetry.
 * A server started through gateway A is seen by a client on gateway B, with the runs and sessions
 * made elsewhere; then gateway A is killed with SIGKILL while events flow, and its client reconnects
 * to B with the Last-Event-ID it got from A: it misses nothing B holds after that point (events it
 * already had may come again within the resume overlap; it can tell them by their data). No process
 * is left at the end.
 */
import fs from "node:fs";
import path from "node:path";
import { describeNats, freePort, NatsServer, startNats } from "../helpers/nats";
import { ServerProcess, startServerProcess, stillAlive, waitUntil, clusterNodeEnv, waitForRoutes } from "../helpers/process";
import { CONFIGURABLE_SERVER, GroupWatch } from "../helpers/process-groups";
import { request, tempDir } from "../helpers/server";
import { openSse, SseClient, SseEvent } from "../helpers/sse";

describeNats("the event stream over NATS (two gateways, separate processes)", () => {
  let nats: NatsServer;
  let dir: string;
  const procs: ServerProcess[] = [];
  const clients: SseClient[] = [];
  const groups = new GroupWatch();
  let gwA: string;
  let gwB: string;
  let nodeA: ServerProcess;
  const idA = `ev-a-${process.pid}`;
  const idB = `ev-b-${process.pid}`;

  function start(name: string, nodeId: string, env: Record<string, string>): ServerProcess {
    const p = startServerProcess(name, clusterNodeEnv(nats.url, dir, nodeId, env));
    procs.push(p);
    return p;
  }

  const open = async (base: string, query: string, headers: Record<string, string> = {}) => {
    const c = await openSse(`${base}/events${query}`, headers);
    clients.push(c);
    return c;
  };
  const ingest = async (base: string, n: number, provider = "nats-runs"): Promise<number[]> => {
    const res = await request(`${base}/telemetry/runs`, {
      method: "POST",
      json: { runs: Array.from({ length: n }, () => ({ provider_id: provider })) },
    });
    expect(res.status).toBe(201);
    return res.body.ids;
  };
  const runIds = (events: SseEvent[]) => events.filter((e) => e.event === "run").map((e) => e.data.id as number);

  beforeAll(async () => {
    nats = await startNats();
    dir = tempDir();
    fs.writeFileSync(
      path.join(dir, "servers.json"),
      JSON.stringify({ providers: [{ id: "echo", name: "Echo", command: process.execPath, args: [CONFIGURABLE_SERVER], transport: "stdio" }] }),
    );
    const [pA, pB] = [await freePort(), await freePort()];
    gwA = `http://127.0.0.1:${pA}/api/v1`;
    gwB = `http://127.0.0.1:${pB}/api/v1`;
    start("base", `ev-base-${process.pid}`, { SERVICES: "providers,sessions,telemetry" });
    nodeA = start("a", idA, { SERVICES: "api,runtime", CONSOLE_MCP_SERVER_PORT: String(pA) });
    start("b", idB, { SERVICES: "api,runtime", CONSOLE_MCP_SERVER_PORT: String(pB) });
    try {
      // Each gateway's node must see what the test uses: its runtime, and the base node's catalog,
      // telemetry and sessions (a tool call stores its run through telemetry; discovery over NATS takes a moment).
      await waitForRoutes(request, [gwA, gwB], ["/servers/processes", "/servers", "/telemetry/runs?limit=1", "/sessions"]);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${procs.map((p) => `--- ${p.name}\n${p.output()}`).join("\n")}`);
    }
  }, 90_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(procs.map((p) => p.stop()));
    expect(stillAlive(procs)).toEqual([]);
    await groups.expectAllGone();
    await nats?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("a server started through gateway A, and the runs and sessions made elsewhere, are seen by a client on gateway B", async () => {
    const onB = await open(gwB, "?types=process,run,session&server_id=echo");
    const started = await request(`${gwA}/servers/echo/process/start`, { method: "POST" });
    expect(started.status).toBe(200);
    expect(started.body.process).toMatchObject({ status: "running", node_id: idA });
    groups.add(started.body.process.pid);
    const call = await request(`${gwB}/servers/echo/tools/echo/call`, { method: "POST", json: { arguments: { text: "via B" } } });
    expect({ status: call.status, body: call.body }).toMatchObject({ status: 200 }); // the body says why, if not
    const session = (await request(`${gwA}/providers/echo/sessions`, { method: "POST", json: {} })).body.session;
    const events = await onB.until((es) => es.some((e) => e.event === "session" && e.data.id === session.id), "the session created through A");
    const running = events.find((e) => e.event === "process" && e.data.status === "running");
    expect(running?.data).toMatchObject({ server_id: "echo", node_id: idA, pid: started.body.process.pid });
    expect(runIds(events)).toEqual([call.body.run_id]);
    // Every event of B's stream carries one of B's ids.
    const tags = new Set(events.map((e) => (e.id as string).split("-")[2]));
    expect(tags.size).toBe(1);
  }, 60_000);

  it("gateway A killed with SIGKILL: its client resumes on B with A's Last-Event-ID and misses nothing B holds", async () => {
    const onA = await open(gwA, "?types=run,process");
    const reference = await open(gwB, "?types=run,process");
    const before = await ingest(gwB, 20);
    await onA.until((es) => runIds(es).includes(before[before.length - 1]), "the first runs on A");
    // Runs in flight while A dies: A's client may or may not have them.
    const racing = ingest(gwB, 30);
    await nodeA.kill();
    await racing;
    await onA.closed;
    const seenOnA = new Set(runIds(onA.events));
    const lastOnA = onA.lastId() as string;
    expect(lastOnA).not.toBeNull();
    // Events after A's death: runs, and the echo server (owned by A) failing over to B.
    const after = await ingest(gwB, 25);
    await waitUntil(
      async () => {
        const p = (await request(`${gwB}/servers/echo/process`)).body.process;
        if (p.pid !== null) groups.add(p.pid);
        return p.status === "running" && p.node_id === idB;
      },
      60_000,
      "echo running on B",
    );
    const marker = (await ingest(gwB, 1))[0];
    await reference.until((es) => runIds(es).includes(marker), "the marker on B's own client");

    const resumed = await open(gwB, "?types=run,process", { "last-event-id": lastOnA });
    const got = await resumed.until((es) => runIds(es).includes(marker), "the marker on the resumed stream");
    expect(got[0].event).not.toBe("reset");
    // Everything B's own client received after the last event A's client had, the resumed client has, in B's order.
    const lastSeenIndex = reference.events.reduce((at, e, i) => (e.event === "run" && seenOnA.has(e.data.id) ? i : at), -1);
    const missed = reference.events.slice(lastSeenIndex + 1).map((e) => e.id);
    const resumedIds = got.map((e) => e.id);
    expect(missed.length).toBeGreaterThan(after.length);
    expect(resumedIds.slice(resumedIds.length - missed.length)).toEqual(missed);
    // What comes before that is older than A's client's point (the overlap), each once.
    const extra = got.slice(0, got.length - missed.length);
    const position = new Map(reference.events.map((e, i) => [e.id, i]));
    expect(extra.every((e) => (position.get(e.id) ?? -1) <= lastSeenIndex)).toBe(true);
    expect(new Set(resumedIds).size).toBe(resumedIds.length);
    // The fail-over of echo to B is part of what the client gets.
    expect(got.some((e) => e.event === "process" && e.data.status === "running" && e.data.node_id === idB)).toBe(true);
    expect(runIds(got)).toEqual(expect.arrayContaining([...after, marker]));
  }, 120_000);
});
