/**
 * A replica that stalls (SIGSTOP: a long GC pause, a frozen VM) instead of dying, over NATS:
 * - a write that times out on it is not retried elsewhere, so when the replica resumes and stores it,
 *   nothing is stored twice (a read that times out is retried, so reads mostly answer 200 from the
 *   other replica; a retry may land on the frozen one again, which is a 503, never a hang);
 * - a gateway stopped while calls to the stalled replica were lost stops at once and cleanly: the
 *   timed-out calls do not stay tracked (no "Waiting for running contexts", no
 *   GracefulStopTimeoutError after 10 s).
 */
import fs from "node:fs";
import path from "node:path";
import { describeNats, freePort, NatsServer, startNats } from "../helpers/nats";
import { openLoop } from "../helpers/load";
import { ServerProcess, startServerProcess, stillAlive, waitUntil } from "../helpers/process";
import { request, tempDir } from "../helpers/server";

const REQUEST_TIMEOUT_MS = 1500;

describeNats("a stalled replica (SIGSTOP) over NATS", () => {
  let nats: NatsServer;
  let dir: string;
  const procs: ServerProcess[] = [];
  let gw1: string;
  let gw2: string;

  function start(name: string, env: Record<string, string>): ServerProcess {
    const p = startServerProcess(name, {
      TRANSPORTER: nats.url,
      NODE_ID: `${name}-${process.pid}`,
      CONSOLE_MCP_DB_PATH: path.join(dir, "console.db"),
      CONSOLE_MCP_SEED: "none",
      CONSOLE_MCP_SERVER_HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      REQUEST_TIMEOUT: String(REQUEST_TIMEOUT_MS),
      HEARTBEAT_INTERVAL: "2",
      HEARTBEAT_TIMEOUT: "30",
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
    start("gateway-1", { SERVICES: "api", CONSOLE_MCP_SERVER_PORT: String(p1) });
    start("gateway-2", { SERVICES: "api", CONSOLE_MCP_SERVER_PORT: String(p2) });
    start("providers", { SERVICES: "providers" });
    start("sessions-1", { SERVICES: "sessions" });
    start("sessions-2", { SERVICES: "sessions" });
    await waitUntil(
      async () => {
        if (!procs.every((p) => /started successfully/.test(p.output()))) return false;
        const checks = (await request(`${gw1}/readyz`)).body?.checks;
        return checks?.sessions === "ok" && checks?.providers === "ok";
      },
      40000,
      "the cluster",
    );
    await new Promise((r) => setTimeout(r, 500));
  }, 60000);

  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGCONT");
    await Promise.all(procs.map((p) => p.stop()));
    expect(stillAlive(procs)).toEqual([]);
    await nats?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 60000);

  it("stores no write twice, answers reads from the other replica, and the gateway still stops at once", async () => {
    const stalled = procs.find((p) => p.name === "sessions-1")!;
    const gateway1 = procs.find((p) => p.name === "gateway-1")!;
    stalled.child.kill("SIGSTOP");
    // Writes and reads through gateway-1 while sessions-1 is frozen: about half go to it.
    const outcomes = await openLoop(20, 2000, (i) =>
      i % 2 === 0
        ? { method: "POST", url: `${gw1}/providers/codex/sessions`, json: { reason: `stall-${i}` } }
        : { method: "GET", url: `${gw1}/sessions?limit=1` },
    );
    const posts = outcomes.filter((_, i) => i % 2 === 0);
    const gets = outcomes.filter((_, i) => i % 2 === 1);
    // Reads that time out on the frozen replica are retried (mostly on the other one).
    expect(gets.every((o) => o.status === 200 || o.status === 503)).toBe(true);
    expect(gets.filter((o) => o.status === 200).length).toBeGreaterThan(gets.length / 2);
    // Writes either ran on the live replica (200) or timed out on the frozen one (503, not retried).
    expect(posts.every((o) => o.status === 200 || o.status === 503)).toBe(true);
    expect(posts.some((o) => o.status === 503)).toBe(true);

    // The gateway stops while the calls it sent to the frozen replica are still unanswered.
    const signalled = Date.now();
    await gateway1.stop();
    expect(gateway1.child.exitCode).toBe(0);
    if (Date.now() - signalled >= 5000) console.log(gateway1.output().split("\n").slice(-40).join("\n"));
    expect(Date.now() - signalled).toBeLessThan(5000);
    expect(gateway1.output()).not.toMatch(/GracefulStopTimeoutError|Waiting for \d+ running context/);

    // The frozen replica resumes and handles what it had received: still no reason stored twice.
    stalled.child.kill("SIGCONT");
    await new Promise((r) => setTimeout(r, 1500));
    const listed = await request(`${gw2}/sessions`);
    expect(listed.status).toBe(200);
    const counts = new Map<string, number>();
    for (const s of listed.body.sessions as { reason: string }[]) counts.set(s.reason, (counts.get(s.reason) ?? 0) + 1);
    const twice = [...counts].filter(([, n]) => n > 1);
    expect(twice).toEqual([]);
    posts.forEach((o, k) => {
      if (o.status === 200) expect(counts.get(`stall-${2 * k}`)).toBe(1);
    });
  }, 60000);
});
