/**
 * Hygiene after a crash of the backend itself (runtime-contract §18.4): the embedded server is killed
 * with SIGKILL while it runs an MCP server that outlives the end of its stdin; the next start on the
 * same store and host kills that leftover group (recorded with its leader's start time) and, the
 * server being still `desired: running`, starts it again. GET /readyz reports the runtime
 * `error: starting` until that reaping is done. A graceful stop then leaves no process.
 */
import fs from "node:fs";
import path from "node:path";
import { freePort } from "../helpers/nats";
import { ServerProcess, startServerProcess, stillAlive, waitUntil } from "../helpers/process";
import { CONFIGURABLE_SERVER, GroupWatch, liveMembers, pidAlive } from "../helpers/process-groups";
import { request, tempDir } from "../helpers/server";

describe("runtime: leftovers of a killed backend", () => {
  let dir: string;
  const procs: ServerProcess[] = [];
  const groups = new GroupWatch();

  /** Starts a backend and waits until it answers HTTP (liveness: its runtime may still be starting). */
  async function startBackend(name: string): Promise<{ proc: ServerProcess; base: string }> {
    const port = await freePort();
    const proc = startServerProcess(name, {
      CONSOLE_MCP_DB_PATH: path.join(dir, "console.db"),
      CONSOLE_MCP_SERVERS_PATH: path.join(dir, "servers.json"),
      CONSOLE_MCP_SEED: "none",
      CONSOLE_MCP_SERVER_HOST: "127.0.0.1",
      CONSOLE_MCP_SERVER_PORT: String(port),
      CONSOLE_MCP_HEALTH_INTERVAL_S: "0",
    });
    procs.push(proc);
    const base = `http://127.0.0.1:${port}/api/v1`;
    try {
      await waitUntil(async () => (await request(`${base}/healthz`)).status === 200, 60_000, `${name} alive`);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${proc.output()}`);
    }
    return { proc, base };
  }

  beforeAll(() => {
    dir = tempDir("console-mcp-reaping-");
    fs.writeFileSync(
      path.join(dir, "servers.json"),
      JSON.stringify({
        providers: [
          { id: "stubborn", name: "Stubborn", command: process.execPath, args: [CONFIGURABLE_SERVER, "--ignore-sigterm"], transport: "stdio" },
        ],
      }),
    );
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    expect(stillAlive(procs)).toEqual([]);
    await groups.expectAllGone();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("kills the group a SIGKILLed backend left, then starts the server again", async () => {
    const first = await startBackend("backend-1");
    await waitUntil(async () => (await request(`${first.base}/readyz`)).status === 200, 60_000, "backend-1 ready");
    const started = await request(`${first.base}/servers/stubborn/process/start`, { method: "POST" });
    expect(started.status).toBe(200);
    expect(started.body.process.status).toBe("running");
    const oldPid: number = started.body.process.pid;
    groups.add(oldPid);

    await first.proc.kill();
    // The server outlives its backend (it ignores the end of its stdin and SIGTERM).
    await new Promise((r) => setTimeout(r, 500));
    expect(pidAlive(oldPid)).toBe(true);

    const second = await startBackend("backend-2");
    // Readiness (api-contract §8.2, the runtime check): not ready while the leftover group lives —
    // it ignores SIGTERM, so the reaping takes the 5 s grace and a group SIGKILL — and ready only
    // once it is gone (the reaping is part of the runtime's start).
    // Answers computed while the group still lived (it lived after they came): each must say so.
    const whileAlive: { status: number; runtime: unknown; missing: unknown }[] = [];
    await waitUntil(
      async () => {
        const res = await request(`${second.base}/readyz`);
        if (liveMembers(oldPid).length > 0) whileAlive.push({ status: res.status, runtime: res.body.checks?.runtime, missing: res.body.missing });
        return res.status === 200;
      },
      60_000,
      "backend-2 ready",
    );
    expect(liveMembers(oldPid)).toEqual([]);
    expect(whileAlive.length).toBeGreaterThan(0);
    for (const answer of whileAlive) {
      expect(answer).toEqual({ status: 503, runtime: "error: starting", missing: expect.arrayContaining(["runtime"]) });
    }
    expect((await request(`${second.base}/readyz`)).body).toEqual({
      status: "ready",
      checks: { store: "ok", providers: "ok", sessions: "ok", telemetry: "ok", finops: "ok", routing: "ok", runtime: "ok" },
    });
    await waitUntil(
      async () => {
        const p = (await request(`${second.base}/servers/stubborn/process`)).body.process;
        if (p.pid !== null) groups.add(p.pid);
        return p.status === "running" && p.pid !== oldPid;
      },
      60_000,
      "stubborn running again",
    );
    expect(second.proc.output()).toMatch(/left by an earlier run/);

    // A graceful stop of the backend ends the group (SIGTERM ignored → SIGKILL after the grace).
    const now = (await request(`${second.base}/servers/stubborn/process`)).body.process;
    await second.proc.stop();
    expect(liveMembers(now.pid)).toEqual([]);
  }, 120_000);
});
