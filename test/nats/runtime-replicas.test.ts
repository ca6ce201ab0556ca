/**
 * Two runtime replicas over a real NATS server on one SQLite file (runtime-contract §18.4): a server
 * started through gateway A is owned by A's replica and its tools are called through gateway B (a
 * node-targeted call to the owner); SIGKILL of the owner's process → the server is recorded `error`
 * (`node <id> lost`) and started again on the other replica, the killed replica's process group is
 * gone, and no process is left when the test ends. A call naming a session is counted by the sessions
 * node and its 409s travel back through the owner to gateway B. A DELETE through gateway A of a
 * server running on B answers only once B has ended its process group (§17.4).
 */
import fs from "node:fs";
import path from "node:path";
import { describeNats, freePort, NatsServer, startNats } from "../helpers/nats";
import { ServerProcess, startServerProcess, stillAlive, waitUntil, clusterNodeEnv, waitForRoutes } from "../helpers/process";
import { CONFIGURABLE_SERVER, GroupWatch, liveMembers } from "../helpers/process-groups";
import { request, tempDir } from "../helpers/server";

describeNats("runtime replicas over NATS (separate processes)", () => {
  let nats: NatsServer;
  let dir: string;
  const procs: ServerProcess[] = [];
  const groups = new GroupWatch();
  let gwA: string;
  let gwB: string;
  let nodeA: ServerProcess;
  const idA = `rt-a-${process.pid}`;
  const idB = `rt-b-${process.pid}`;

  function start(name: string, nodeId: string, env: Record<string, string>): ServerProcess {
    const p = startServerProcess(name, clusterNodeEnv(nats.url, dir, nodeId, env));
    procs.push(p);
    return p;
  }

  beforeAll(async () => {
    nats = await startNats();
    dir = tempDir();
    fs.writeFileSync(
      path.join(dir, "servers.json"),
      JSON.stringify({
        providers: [
          { id: "echo", name: "Echo", command: process.execPath, args: [CONFIGURABLE_SERVER, "--name", "replicated"], transport: "stdio" },
          { id: "other", name: "Other", command: process.execPath, args: [CONFIGURABLE_SERVER], transport: "stdio" },
        ],
      }),
    );
    const [pA, pB] = [await freePort(), await freePort()];
    gwA = `http://127.0.0.1:${pA}/api/v1`;
    gwB = `http://127.0.0.1:${pB}/api/v1`;
    start("base", `rt-base-${process.pid}`, { SERVICES: "providers,sessions,telemetry" });
    nodeA = start("a", idA, { SERVICES: "api,runtime", CONSOLE_MCP_SERVER_PORT: String(pA) });
    start("b", idB, { SERVICES: "api,runtime", CONSOLE_MCP_SERVER_PORT: String(pB) });
    try {
      // Each gateway's node must see what the test uses: its runtime, and the base node's catalog,
      // telemetry and sessions (discovery over NATS takes a moment; until then a call answers 503).
      await waitForRoutes(request, [gwA, gwB], ["/servers/processes", "/servers", "/telemetry/runs?limit=1", "/sessions"]);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${procs.map((p) => `--- ${p.name}\n${p.output()}`).join("\n")}`);
    }
  }, 90_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    expect(stillAlive(procs)).toEqual([]);
    await groups.expectAllGone();
    await nats?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("starts through gateway A on A's replica and calls a tool through gateway B", async () => {
    const started = await request(`${gwA}/servers/echo/process/start`, { method: "POST" });
    expect(started.status).toBe(200);
    expect(started.body.process).toMatchObject({ status: "running", node_id: idA });
    groups.add(started.body.process.pid);
    const again = await request(`${gwB}/servers/echo/process/start`, { method: "POST" });
    expect({ status: again.status, body: again.body }).toMatchObject({ status: 409 }); // the body says why, if not
    const call = await request(`${gwB}/servers/echo/tools/echo/call`, { method: "POST", json: { arguments: { text: "via B" } } });
    expect(call.status).toBe(200);
    expect(JSON.stringify(call.body.result.content)).toContain("via B");
    const seen = await request(`${gwB}/servers/echo/process`);
    expect(seen.body.process).toMatchObject({ status: "running", node_id: idA, pid: started.body.process.pid });
  }, 60_000);

  it("a call naming a session crosses three nodes: counted by the sessions node, its 409s reach gateway B unchanged", async () => {
    const session = (await request(`${gwA}/providers/echo/sessions`, { method: "POST", json: { client: "nats" } })).body.session;
    const call = await request(`${gwB}/servers/echo/tools/echo/call`, { method: "POST", json: { arguments: { text: "s" }, session_id: session.id } });
    expect(call.status).toBe(200);
    expect(call.body.session_id).toBe(session.id);
    expect((await request(`${gwB}/sessions/${session.id}`)).body.session).toMatchObject({ status: "active", call_count: 1 });
    expect((await request(`${gwA}/sessions/${session.id}`, { method: "DELETE" })).status).toBe(200);
    const closed = await request(`${gwB}/servers/echo/tools/echo/call`, { method: "POST", json: { session_id: session.id } });
    expect(closed.status).toBe(409);
    expect(closed.body).toEqual({ detail: `Session '${session.id}' is closed` });
    const other = (await request(`${gwB}/providers/other/sessions`, { method: "POST" })).body.session;
    const wrong = await request(`${gwB}/servers/echo/tools/echo/call`, { method: "POST", json: { session_id: other.id } });
    expect(wrong.status).toBe(409);
    expect(wrong.body).toEqual({ detail: `Session '${other.id}' belongs to server 'other', not 'echo'` });
    expect((await request(`${gwA}/sessions/${session.id}`)).body.session.call_count).toBe(1);
  }, 60_000);

  it("DELETE through gateway A of a server running on B: B's process group is gone when the 204 arrives", async () => {
    // The catalog lives on the base node and the process on B: before answering, providers has the
    // runtime stop it on its owner (a broadcast event to B would not be waited for).
    const created = await request(`${gwA}/servers`, {
      method: "POST",
      json: { id: "doomed", name: "Doomed", command: process.execPath, args: [CONFIGURABLE_SERVER, "--grandchild"] },
    });
    expect(created.status).toBe(201);
    const started = await request(`${gwB}/servers/doomed/process/start`, { method: "POST" });
    expect(started.status).toBe(200);
    expect(started.body.process).toMatchObject({ status: "running", node_id: idB });
    const pid: number = started.body.process.pid;
    groups.add(pid);
    // The grandchild ignores SIGTERM: the stop takes the group SIGKILL after the grace period.
    await waitUntil(async () => liveMembers(pid).length >= 2, 10_000, "the grandchild spawned");
    const res = await request(`${gwA}/servers/doomed`, { method: "DELETE" });
    expect(res.status).toBe(204);
    expect(liveMembers(pid)).toEqual([]);
    const listed = (await request(`${gwB}/servers/processes`)).body.processes.map((p: { server_id: string }) => p.server_id);
    expect(listed).toEqual(["echo", "other"]);
    expect((await request(`${gwB}/servers/doomed/process`)).status).toBe(404);
  }, 60_000);

  it("SIGKILL of the owner: error, then started again on the other replica; the old group is gone", async () => {
    const before = (await request(`${gwB}/servers/echo/process`)).body.process;
    await nodeA.kill();
    let seenLost = false;
    await waitUntil(
      async () => {
        const p = (await request(`${gwB}/servers/echo/process`)).body.process;
        if (p.last_error === `node ${idA} lost` || p.node_id === idB) seenLost = true;
        if (p.pid !== null) groups.add(p.pid);
        return p.status === "running" && p.node_id === idB;
      },
      60_000,
      "echo running on B",
    );
    expect(seenLost).toBe(true);
    const after = (await request(`${gwB}/servers/echo/process`)).body.process;
    expect(after.pid).not.toBe(before.pid);
    expect(after.restarts).toBeGreaterThanOrEqual(1);
    await waitUntil(async () => liveMembers(before.pid).length === 0, 20_000, "the killed replica's process group gone");
    const call = await request(`${gwB}/servers/echo/tools/echo/call`, { method: "POST", json: { arguments: { text: "after failover" } } });
    expect(call.status).toBe(200);
  }, 90_000);
});
