/**
 * Spawning and process groups with real processes (runtime-contract §18.2 stop, §18.4 hygiene, §19
 * stderr, §24 masking).
 */
import os from "node:os";
import { buildLaunch } from "../../services/runtime/command";
import { killGroup, readStartTime, reapLeftovers } from "../../services/runtime/process-group";
import { ServerProcess, SpawnError, spawnServer } from "../../services/runtime/spawn";
import type { StderrLine } from "../../services/runtime/stderr-lines";
import { configurableLaunch, eventually, GroupWatch, liveMembers, PROJECT_ROOT, testBackendEnv } from "../helpers/process-groups";

jest.setTimeout(60_000);

const watch = new GroupWatch();
afterEach(() => watch.expectAllGone());

/** A plain long-running node process (not an MCP server), leader of its group. */
function idleLaunch() {
  return buildLaunch(
    { id: "idle", command: process.execPath, args: ["-e", "setInterval(() => {}, 1000)"] },
    { backendEnv: testBackendEnv(), projectRoot: PROJECT_ROOT, secret: null },
  );
}

async function spawnWatched(args: string[], lines: StderrLine[] = [], secret: string | null = null): Promise<ServerProcess> {
  const proc = await spawnServer(configurableLaunch(args, { secret }), { secret, onStderrLine: (l) => lines.push(l) });
  watch.add(proc.pgid);
  return proc;
}

function grandchildPid(lines: StderrLine[]): number {
  const line = lines.find((l) => l.message.startsWith("grandchild pid "));
  return Number(line!.message.slice("grandchild pid ".length));
}

describe("spawnServer", () => {
  it("runs the program as leader of its own group, never a shell", async () => {
    const proc = await spawnWatched([]);
    expect(proc.pgid).toBe(proc.pid);
    expect(liveMembers(proc.pgid)).toEqual([proc.pid]);
    expect(proc.startTime).toBe(readStartTime(proc.pid));
    expect(proc.commandLine).toBe(`${process.execPath} ${configurableLaunch().args.join(" ")}`);
    const exit = await proc.kill();
    expect(exit.signal).toBe("SIGTERM");
    expect(exit.returnCode).toBe(-15);
    expect(liveMembers(proc.pgid)).toEqual([]);
  });

  it("rejects with SpawnError for a program that does not exist, leaving nothing", async () => {
    const launch = buildLaunch(
      { id: "x", command: "/nonexistent/mcp-server --flag" },
      { backendEnv: testBackendEnv(), projectRoot: PROJECT_ROOT, secret: null },
    );
    await expect(spawnServer(launch)).rejects.toThrow(SpawnError);
    await expect(spawnServer(launch)).rejects.toThrow("Cannot start '/nonexistent/mcp-server': program not found");
    const noCwd = { ...configurableLaunch(), cwd: "/nonexistent-dir" };
    await expect(spawnServer(noCwd)).rejects.toThrow(SpawnError);
  });

  it("reads stderr line by line, with levels, the secret masked", async () => {
    const lines: StderrLine[] = [];
    const secret = "sk-live-123456";
    const proc = await spawnWatched(["--stderr-line", "WARN warming up", "--stderr-line", "ready", "--print-env", "TEST_SECRET"], lines, secret);
    await eventually(() => lines.length >= 3, 10_000, "three stderr lines");
    expect(lines.slice(0, 3)).toEqual([
      { level: "warn", message: "WARN warming up" },
      { level: "info", message: "ready" },
      { level: "error", message: "error: key *** rejected" },
    ]);
    expect(proc.stderrTail()).toBe("WARN warming up\nready\nerror: key *** rejected");
    await proc.kill();
  });

  it("drains a stderr flood, so the server never blocks on a full pipe", async () => {
    const lines: StderrLine[] = [];
    const proc = await spawnWatched(["--stderr-flood", "2000", "--crash-after-ms", "0", "--exit-code", "0"], lines);
    const exit = await proc.exited;
    expect(exit.code).toBe(0);
    await proc.stderrClosed;
    expect(lines.filter((l) => l.message.startsWith("flood ")).length).toBe(2000);
    await proc.kill();
  });

  it("reports the exit code, and −signal for a death by signal", async () => {
    const crashing = await spawnWatched(["--crash-after-ms", "0", "--exit-code", "3"]);
    expect((await crashing.exited).returnCode).toBe(3);
    const killed = await spawnWatched([]);
    process.kill(killed.pid, "SIGKILL");
    const exit = await killed.exited;
    expect(exit).toMatchObject({ code: null, signal: "SIGKILL", returnCode: -9 });
    await Promise.all([crashing.kill(), killed.kill()]);
  });
});

describe("killGroup", () => {
  it("removes a grandchild that ignores SIGTERM: SIGTERM, grace, then SIGKILL to the group", async () => {
    const lines: StderrLine[] = [];
    const proc = await spawnWatched(["--grandchild", "--ignore-sigterm"], lines);
    await eventually(() => lines.some((l) => l.message.startsWith("grandchild pid ")), 10_000, "the grandchild");
    const grandchild = grandchildPid(lines);
    watch.addPid(grandchild);
    await eventually(() => liveMembers(proc.pgid).length === 2, 10_000, "two members in the group");
    expect(liveMembers(proc.pgid).sort()).toEqual([proc.pid, grandchild].sort());
    const result = await killGroup(proc.pgid, 300, proc.startTime);
    expect(result.forced).toBe(true);
    // Resolved only once the whole group is gone.
    expect(liveMembers(proc.pgid)).toEqual([]);
    expect((await proc.exited).signal).toBe("SIGKILL");
  });

  it("ends a group whose members obey SIGTERM without SIGKILL, and resolves at once for a group already gone", async () => {
    const plain = await spawnServer(idleLaunch());
    watch.add(plain.pgid);
    expect(await killGroup(plain.pgid, 5000, plain.startTime)).toEqual({ forced: false });
    expect(liveMembers(plain.pgid)).toEqual([]);
    expect((await plain.exited).signal).toBe("SIGTERM");
    expect(await killGroup(plain.pgid, 5000, plain.startTime)).toEqual({ forced: false });
  });

  it("leaves alone a pid whose start time is not the recorded one (recycled)", async () => {
    const proc = await spawnServer(idleLaunch());
    watch.add(proc.pgid);
    expect(await killGroup(proc.pgid, 300, (proc.startTime ?? 0) + 1)).toEqual({ forced: false });
    expect(liveMembers(proc.pgid)).toEqual([proc.pid]);
    await proc.kill();
  });
});

describe("reapLeftovers (§18.4 hygiene)", () => {
  it("kills recorded groups of this host whose leader lives with the recorded start time, and only those", async () => {
    const host = os.hostname();
    const leftover = await spawnServer(idleLaunch());
    const recycled = await spawnServer(idleLaunch());
    const otherHost = await spawnServer(idleLaunch());
    for (const p of [leftover, recycled, otherHost]) watch.add(p.pgid);
    const killed = await reapLeftovers(
      [
        { pgid: leftover.pgid, host, start_time: leftover.startTime! },
        { pgid: recycled.pgid, host, start_time: recycled.startTime! - 1 },
        { pgid: otherHost.pgid, host: `${host}-elsewhere`, start_time: otherHost.startTime! },
        { pgid: 999_999_999, host, start_time: 1 },
        { pgid: process.pid, host, start_time: readStartTime(process.pid)! },
      ],
      host,
      500,
    );
    expect(killed).toEqual([leftover.pgid]);
    expect(liveMembers(leftover.pgid)).toEqual([]);
    expect(liveMembers(recycled.pgid)).toEqual([recycled.pid]);
    expect(liveMembers(otherHost.pgid)).toEqual([otherHost.pid]);
    await Promise.all([recycled.kill(), otherHost.kill()]);
  });
});
