/**
 * Child processes for benchmarks: the real server entrypoint, a bare node:http server, nats-server.
 */
import { ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { liveMembers } from "../test/helpers/process-groups";

export const SERVER_ENTRY = path.resolve(__dirname, "../bin/console-mcp-server.js");

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface Child {
  /** The process id (for CPU accounting), undefined when the spawn failed. */
  pid: number | undefined;
  stop(): Promise<void>;
  output(): string;
  /** CPU seconds (user + system) the process has used so far, from /proc (Linux); NaN elsewhere. */
  cpuSeconds(): number;
  /** The same, split into the main (event-loop) thread and every other thread (libuv's pool: the sqlite3 driver; V8). */
  threadCpuSeconds(): { main: number; others: number };
}

const CLOCK_TICKS_PER_S = 100;

/** utime + stime in seconds from a /proc stat file; NaN when unreadable. */
function statCpuSeconds(file: string): number {
  try {
    const stat = fs.readFileSync(file, "utf8");
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
  } catch {
    return Number.NaN;
  }
}

/** utime + stime of a process in seconds, from /proc/<pid>/stat; NaN when unreadable. */
export function processCpuSeconds(pid: number | undefined): number {
  return pid === undefined ? Number.NaN : statCpuSeconds(`/proc/${pid}/stat`);
}

/** CPU seconds of a process's main thread and of its other threads (threads that ended are not counted). */
export function threadCpuSeconds(pid: number | undefined): { main: number; others: number } {
  if (pid === undefined) return { main: Number.NaN, others: Number.NaN };
  let others = 0;
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      if (Number(tid) !== pid) others += statCpuSeconds(`/proc/${pid}/task/${tid}/stat`) || 0;
    }
  } catch {
    return { main: Number.NaN, others: Number.NaN };
  }
  return { main: statCpuSeconds(`/proc/${pid}/task/${pid}/stat`), others };
}

/**
 * Options of spawnChild. `group`: the child leads a process group of its own (spawned detached), and
 * stop() sends SIGTERM to the whole group, waits for the leader's exit and for the group to empty
 * (at most 5 s, then SIGKILL to the group): for programs whose own children must not outlive them
 * (mcp-hub and the MCP servers it spawns). `cwd`: the working directory (default: this process's).
 */
export interface SpawnOptions {
  group?: boolean;
  cwd?: string;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is gone
  }
}

export function spawnChild(command: string, args: string[], env: Record<string, string> = {}, options: SpawnOptions = {}): Child {
  const child: ChildProcess = spawn(command, args, {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: options.group === true,
    cwd: options.cwd,
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    pid: child.pid,
    output: () => out,
    cpuSeconds: () => processCpuSeconds(child.pid),
    threadCpuSeconds: () => threadCpuSeconds(child.pid),
    async stop() {
      const running = child.exitCode === null && child.signalCode === null;
      if (options.group === true && child.pid !== undefined) {
        const pgid = child.pid;
        if (running) signalGroup(pgid, "SIGTERM");
        await exited;
        const deadline = Date.now() + 5000;
        while (liveMembers(pgid).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        if (liveMembers(pgid).length > 0) signalGroup(pgid, "SIGKILL");
        while (liveMembers(pgid).length > 0) await new Promise((r) => setTimeout(r, 50));
        return;
      }
      if (running) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** The environment every benchmark server starts with (before its own variables). */
export const SERVER_ENV: Record<string, string> = { LOG_LEVEL: "warn", CONSOLE_MCP_SERVER_HOST: "127.0.0.1" };

/**
 * The server entrypoint as a child process; `nodeArgs` go before it (e.g. `--cpu-prof`), by default
 * BENCH_SERVER_NODE_ARGS (space-separated), e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the
 * servers of a benchmark (each writes its profile when it stops).
 */
export function spawnServer(
  env: Record<string, string>,
  nodeArgs: string[] = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter((a) => a !== ""),
): Child {
  return spawnChild(process.execPath, [...nodeArgs, SERVER_ENTRY], { ...SERVER_ENV, ...env });
}

/** CPU time (user + system) a process has used so far, in ms (processCpuSeconds); undefined when unknown. */
export function cpuTimeMs(pid: number | undefined): number | undefined {
  const seconds = processCpuSeconds(pid);
  return Number.isNaN(seconds) ? undefined : seconds * 1000;
}

/** A bare node:http server that answers every request with the given bytes. */
export function spawnBareServer(port: number, body: string): Child {
  const script = `
    const http = require("node:http");
    const body = Buffer.from(process.env.BODY, "utf8");
    http.createServer((req, res) => {
      res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Content-Length": body.length });
      res.end(body);
    }).listen(Number(process.env.PORT), "127.0.0.1");`;
  return spawnChild(process.execPath, ["-e", script], { PORT: String(port), BODY: body });
}

export async function waitForHttp(url: string, timeoutMs = 30000, ok: (status: number) => boolean = (s) => s === 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (ok(res.status)) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer in time`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
