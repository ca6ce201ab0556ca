/**
 * Gateway, providers and sessions as separate processes over a real NATS server, sharing one
 * SQLite file: what one gateway writes, the other reads; killing one of two sessions processes
 * with SIGKILL does not fail later calls.
 */
import path from "node:path";
import fs from "node:fs";
import { describeNats, freePort, NatsServer, startNats } from "../helpers/nats";
import { ServerProcess, startServerProcess, stillAlive, waitUntil } from "../helpers/process";
import { request, tempDir } from "../helpers/server";

describeNats("sessions over NATS (separate processes)", () => {
  let nats: NatsServer;
  let dir: string;
  const procs: ServerProcess[] = [];
  let gw1: string;
  let gw2: string;
  let sessionsA: ServerProcess;

  function start(name: string, env: Record<string, string>): ServerProcess {
    const p = startServerProcess(name, {
      TRANSPORTER: nats.url,
      NODE_ID: `${name}-${process.pid}`,
      CONSOLE_MCP_DB_PATH: path.join(dir, "console.db"),
      CONSOLE_MCP_SEED: "none",
      CONSOLE_MCP_SERVER_HOST: "127.0.0.1",
      ...env,
    });
    procs.push(p);
    return p;
  }

  beforeAll(async () => {
    nats = await startNats();
    dir = tempDir();
    const [p1, p2] = [await freePort(), await freePort()];
    gw1 = `http://127.0.0.1:${p1}/api/v1`;
    gw2 = `http://127.0.0.1:${p2}/api/v1`;
    start("gw1", { SERVICES: "api", CONSOLE_MCP_SERVER_PORT: String(p1) });
    start("gw2", { SERVICES: "api", CONSOLE_MCP_SERVER_PORT: String(p2) });
    start("providers", { SERVICES: "providers" });
    sessionsA = start("sessions-a", { SERVICES: "sessions" });
    start("sessions-b", { SERVICES: "sessions" });
    const bothSessionNodesKnown = async (base: string) => {
      const res = await request(`${base}/readyz`);
      return res.body?.checks?.sessions === "ok" && res.body?.checks?.providers === "ok" && res.body?.checks?.store === "ok";
    };
    try {
      await waitUntil(async () => (await bothSessionNodesKnown(gw1)) && (await bothSessionNodesKnown(gw2)), 40000, "the cluster");
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${procs.map((p) => `--- ${p.name}\n${p.output()}`).join("\n")}`);
    }
  }, 60000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    expect(stillAlive(procs)).toEqual([]);
    await nats?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 30000);

  it("lists through one gateway the session created through the other", async () => {
    const created = await request(`${gw1}/providers/codex/sessions`, { method: "POST", json: { reason: "over nats", client: "jest" } });
    expect(created.status).toBe(200);
    expect(created.body.provider.id).toBe("codex");
    const listed = await request(`${gw2}/sessions`);
    expect(listed.status).toBe(200);
    expect(listed.body.sessions.map((s: { id: string }) => s.id)).toContain(created.body.session.id);
    const one = await request(`${gw2}/sessions/${created.body.session.id}`);
    expect(one.status).toBe(200);
    expect(one.body.session).toEqual(created.body.session);
  });

  it("answers contract errors from remote services unchanged", async () => {
    const missing = await request(`${gw2}/providers/nope/sessions`, { method: "POST", json: {} });
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ detail: "Provider 'nope' not found" });
    const invalid = await request(`${gw1}/providers/nope/sessions`, { method: "POST", json: { client: 5 } });
    expect(invalid.status).toBe(422);
    expect(invalid.body.detail[0].loc).toEqual(["body", "client"]);
  });

  it("keeps answering when one of two sessions processes is killed mid-way", async () => {
    const ids: string[] = [];
    // Calls in flight while the node dies, and calls right after it.
    const inFlight = Array.from({ length: 6 }, (_, i) =>
      request(`${i % 2 ? gw1 : gw2}/providers/gemini/sessions`, { method: "POST", json: { reason: `before-kill-${i}` } }),
    );
    await sessionsA.kill();
    for (const res of await Promise.all(inFlight)) {
      expect(res.status).toBe(200);
      ids.push(res.body.session.id);
    }
    for (let i = 0; i < 8; i++) {
      const gw = i % 2 ? gw1 : gw2;
      const created = await request(`${gw}/providers/claude/sessions`, { method: "POST", json: { reason: `after-kill-${i}` } });
      expect(created.status).toBe(200);
      ids.push(created.body.session.id);
      const listed = await request(`${gw}/sessions`);
      expect(listed.status).toBe(200);
    }
    const all = await request(`${gw1}/sessions`);
    const listedIds = all.body.sessions.map((s: { id: string }) => s.id);
    for (const id of ids) expect(listedIds).toContain(id);
  }, 90000);
});
