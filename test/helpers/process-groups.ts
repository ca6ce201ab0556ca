/**
 * For tests that start MCP server processes: the test servers, launches of them, and a watch on the
 * process groups a test started, so that a test fails when it leaves a process behind (and the
 * survivors are killed so the next test starts clean). Reads /proc on its own, independently of the
 * runtime's modules under test.
 */
import fs from "node:fs";
import path from "node:path";
import { buildLaunch, Launch } from "../../services/runtime/command";

export const CONFIGURABLE_SERVER = path.resolve(__dirname, "../fixtures/mcp-servers/configurable.mjs");
export const RAW_SERVER = path.resolve(__dirname, "../fixtures/mcp-servers/raw.mjs");
export const EVERYTHING_SERVER = path.resolve(__dirname, "../../node_modules/@modelcontextprotocol/server-everything/dist/index.js");
export const PROJECT_ROOT = path.resolve(__dirname, "../..");

/** The backend environment tests hand to the runtime (what config would give it). */
export function testBackendEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  return { PATH: process.env.PATH, HOME: process.env.HOME ?? "/tmp", LANG: "C.UTF-8", ...extra };
}

/** A launch of the configurable test server with the given options (see its header). */
export function configurableLaunch(args: string[] = [], opts: { secret?: string | null; env?: Record<string, string> } = {}): Launch {
  return buildLaunch(
    { id: "test", command: process.execPath, args: [CONFIGURABLE_SERVER, ...args], env: opts.env ?? {}, secret_env: "TEST_SECRET" },
    { backendEnv: testBackendEnv(), projectRoot: PROJECT_ROOT, secret: opts.secret ?? null },
  );
}

interface Stat {
  pid: number;
  state: string;
  ppid: number;
  pgid: number;
}

function stat(pid: number): Stat | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { pid, state: fields[0], ppid: Number(fields[1]), pgid: Number(fields[2]) };
  } catch {
    return null;
  }
}

/** Pids of the live (non-zombie) children of `ppid`. */
export function liveChildren(ppid: number): number[] {
  const pids: number[] = [];
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const s = stat(Number(name));
    if (s !== null && s.ppid === ppid && s.state !== "Z") pids.push(s.pid);
  }
  return pids;
}

/** Pids of the live (non-zombie) processes whose process group is `pgid`. */
export function liveMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const s = stat(Number(name));
    if (s !== null && s.pgid === pgid && s.state !== "Z") pids.push(s.pid);
  }
  return pids;
}

/** True while `pid` is a live, non-zombie process. */
export function pidAlive(pid: number): boolean {
  const s = stat(pid);
  return s !== null && s.state !== "Z";
}

/**
 * Blocks this process (no event-loop turn) until child `pid` has exited — a zombie, not reaped, since
 * Node reaps its children only from the event loop — or `limitMs` have passed. On return the child
 * is gone while Node has not seen its exit yet: what a slow event loop sees when a child dies at once.
 */
export function blockUntilExited(pid: number, limitMs = 15_000): void {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + limitMs;
  while (pidAlive(pid) && Date.now() < deadline) Atomics.wait(pause, 0, 0, 5);
}

/** Open file descriptors of this (the test) process, or of process `pid`. */
export function openFdCount(pid?: number): number {
  return fs.readdirSync(pid === undefined ? "/proc/self/fd" : `/proc/${pid}/fd`).length;
}

/** Polls `fn` every 25 ms until it is true; throws `what` after `timeoutMs`. */
export async function eventually(fn: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * The process groups a test started. `expectAllGone` waits (generously) for every recorded group to
 * be empty; survivors fail the test and are SIGKILLed.
 */
export class GroupWatch {
  readonly pgids = new Set<number>();
  /** Extra pids to check (a grandchild that could have left its group). */
  readonly pids = new Set<number>();

  add(pgid: number): void {
    this.pgids.add(pgid);
  }

  addPid(pid: number): void {
    this.pids.add(pid);
  }

  survivors(): number[] {
    const left: number[] = [];
    for (const pgid of this.pgids) left.push(...liveMembers(pgid));
    for (const pid of this.pids) if (pidAlive(pid) && !left.includes(pid)) left.push(pid);
    return left;
  }

  async expectAllGone(timeoutMs = 15_000): Promise<void> {
    try {
      await eventually(() => this.survivors().length === 0, timeoutMs, "every test process to be gone");
    } catch {
      const left = this.survivors();
      for (const pid of left) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone meanwhile
        }
      }
      throw new Error(`processes left behind: ${left.join(", ")}`);
    } finally {
      this.pgids.clear();
      this.pids.clear();
    }
  }
}
