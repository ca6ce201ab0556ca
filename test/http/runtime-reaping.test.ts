/**
 * Hygiene after a crash of the backend itself (runtime-contract §18.4): the embedded server is killed
 * with SIGKILL while it runs an MCP server that outlives the end of its stdin; the next start on the
 * same store and host kills that leftover group (recorded with its leader's start time) and, the
 * server being still `desired: running`, starts it again. A graceful stop then leaves no process.
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
      await waitUntil(async () => (await request(`${base}/servers/processes`)).status === 200, 60_000, `${name} ready`);
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
    await waitUntil(async () => liveMembers(oldPid).length === 0, 30_000, "the leftover group killed");
    await waitUntil(async () => {
      const p = (await request(`${second.base}/servers/stubborn/process`)).body.process;
      if (p.pid !== null) groups.add(p.pid);
      return p.status === "running" && p.pid !== oldPid;
    }, 60_000, "stubborn running again");
    expect(second.proc.output()).toMatch(/left by an earlier run/);

    // A graceful stop of the backend ends the group (SIGTERM ignored → SIGKILL after the grace).
    const now = (await request(`${second.base}/servers/stubborn/process`)).body.process;
    await second.proc.stop();
    expect(liveMembers(now.pid)).toEqual([]);
  }, 120_000);
});
