/**
 * Hygiene through the HTTP API (issue 9 "Hygiene"; runtime-contract §18.2, §18.4): a real embedded
 * backend (bin/console-mcp-server.js as a child process, every service in it) runs 100 start/stop
 * cycles and 100 start/SIGKILL-the-server cycles of a small MCP server, driven only by HTTP calls.
 * Afterwards no process is left — counted by process group (every group the runtime reported), and
 * as the backend's children (beyond the ones it had before the cycles: tsx's esbuild service) — and
 * the backend's open file descriptors (/proc/<pid>/fd) have not
 * grown: a constant slack for handles opened lazily, never one per cycle.
 *
 * The server is the SDK-free raw test server (it starts in tens of milliseconds). The same cycles
 * with a grandchild that ignores SIGTERM run at the supervisor level (test/runtime/runtime-cycles.test.ts).
 */
import fs from "node:fs";
import path from "node:path";
import { freePort } from "../helpers/nats";
import { ServerProcess, startServerProcess, stillAlive, waitUntil } from "../helpers/process";
import { eventually, GroupWatch, liveChildren, liveMembers, openFdCount, RAW_SERVER } from "../helpers/process-groups";
import { request, tempDir } from "../helpers/server";

jest.setTimeout(300_000);

const CYCLES = 100;
/** Descriptors the backend may hold beyond its count before the cycles (lazily opened pool connections, a keep-alive socket). */
const FD_SLACK = 5;

describe("runtime hygiene through the HTTP API of an embedded backend", () => {
  let dir: string;
  let backend: ServerProcess;
  let base: string;
  const groups = new GroupWatch();
  const post = (p: string) => request(`${base}${p}`, { method: "POST" });
  const get = (p: string) => request(`${base}${p}`);

  beforeAll(async () => {
    dir = tempDir("console-mcp-hygiene-");
    const server = (id: string, restart: string) => ({
      id,
      name: id,
      command: process.execPath,
      args: [RAW_SERVER],
      transport: "stdio",
      restart,
    });
    fs.writeFileSync(path.join(dir, "servers.json"), JSON.stringify({ providers: [server("cycler", "on-failure"), server("victim", "never")] }));
    const port = await freePort();
    backend = startServerProcess("backend", {
      CONSOLE_MCP_DB_PATH: path.join(dir, "console.db"),
      CONSOLE_MCP_SERVERS_PATH: path.join(dir, "servers.json"),
      CONSOLE_MCP_SEED: "none",
      CONSOLE_MCP_SERVER_HOST: "127.0.0.1",
      CONSOLE_MCP_SERVER_PORT: String(port),
      CONSOLE_MCP_HEALTH_INTERVAL_S: "0",
    });
    base = `http://127.0.0.1:${port}/api/v1`;
    try {
      await waitUntil(async () => (await get("/readyz")).status === 200, 60_000, "the backend ready");
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${backend.output()}`);
    }
  }, 90_000);

  afterAll(async () => {
    await backend?.stop();
    expect(stillAlive(backend === undefined ? [] : [backend])).toEqual([]);
    await groups.expectAllGone();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  /** POST …/process/start → running; answers the pid (its group is watched). */
  async function start(id: string): Promise<number> {
    const res = await post(`/servers/${id}/process/start`);
    expect(res.status).toBe(200);
    expect(res.body.process.status).toBe("running");
    const pid = res.body.process.pid as number;
    groups.add(pid);
    return pid;
  }

  /** The backend's descriptors once they are back within the slack of `before` (or the count when the wait ends). */
  async function settledFds(before: number): Promise<number> {
    const pid = backend.child.pid!;
    try {
      await eventually(() => openFdCount(pid) <= before + FD_SLACK, 10_000, "descriptors back");
    } catch {
      // reported by the caller's assertion
    }
    return openFdCount(pid);
  }

  it(`${CYCLES} start/stop cycles leave 0 processes and no descriptor growth`, async () => {
    const pid = backend.child.pid!;
    // Warm-up: modules loaded, pools and connections opened.
    await start("cycler");
    expect((await post("/servers/cycler/process/stop")).status).toBe(200);
    const fdsBefore = openFdCount(pid);
    const childrenBefore = liveChildren(pid);
    const pids: number[] = [];
    for (let i = 0; i < CYCLES; i++) {
      const serverPid = await start("cycler");
      pids.push(serverPid);
      const stopped = await post("/servers/cycler/process/stop");
      expect(stopped.status).toBe(200);
      expect(stopped.body.process).toMatchObject({ status: "stopped", desired: "stopped", pid: null });
      // The stop answers once the group is gone.
      expect(liveMembers(serverPid)).toEqual([]);
    }
    expect(new Set(pids).size).toBe(CYCLES);
    expect(groups.survivors()).toEqual([]);
    expect(liveChildren(pid).filter((c) => !childrenBefore.includes(c))).toEqual([]);
    const fdsAfter = await settledFds(fdsBefore);
    console.log(`start/stop × ${CYCLES}: backend descriptors ${fdsBefore} → ${fdsAfter}`);
    expect(fdsAfter).toBeLessThanOrEqual(fdsBefore + FD_SLACK);
  });

  it(`${CYCLES} start/SIGKILL cycles leave 0 processes and no descriptor growth`, async () => {
    const pid = backend.child.pid!;
    await start("victim");
    expect((await post("/servers/victim/process/stop")).status).toBe(200);
    const fdsBefore = openFdCount(pid);
    const childrenBefore = liveChildren(pid);
    for (let i = 0; i < CYCLES; i++) {
      await start("victim");
      const running = (await get("/servers/victim/process")).body.process;
      expect(running.status).toBe("running");
      const serverPid = running.pid as number;
      process.kill(serverPid, "SIGKILL");
      // The crash is seen and the policy (restart: never) leaves the server in error.
      let crashed: Record<string, unknown> = running;
      await eventually(
        async () => {
          crashed = (await get("/servers/victim/process")).body.process;
          return crashed.status !== "running";
        },
        10_000,
        "the crash to be seen",
      );
      expect(crashed).toMatchObject({ status: "error", desired: "running", pid: null, return_code: -9 });
      expect(crashed.last_error).toMatch(/killed by signal SIGKILL unexpectedly/);
      const stopped = await post("/servers/victim/process/stop");
      expect(stopped.status).toBe(200);
      expect(stopped.body.process).toMatchObject({ status: "stopped", desired: "stopped", pid: null });
      expect(liveMembers(serverPid)).toEqual([]);
    }
    expect(groups.survivors()).toEqual([]);
    expect(liveChildren(pid).filter((c) => !childrenBefore.includes(c))).toEqual([]);
    const fdsAfter = await settledFds(fdsBefore);
    console.log(`start/SIGKILL × ${CYCLES}: backend descriptors ${fdsBefore} → ${fdsAfter}`);
    expect(fdsAfter).toBeLessThanOrEqual(fdsBefore + FD_SLACK);
  });
});
