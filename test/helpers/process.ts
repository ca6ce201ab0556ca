/**
 * Runs the real server entrypoint (bin/console-mcp-server.js) as a child process, for the
 * multi-process tests.
 */
import { ChildProcess, spawn } from "node:child_process";
import path from "node:path";

export const SERVER_ENTRY = path.resolve(__dirname, "../../bin/console-mcp-server.js");

export interface ServerProcess {
  name: string;
  child: ChildProcess;
  output(): string;
  /** SIGKILL, no chance to say goodbye to the other nodes. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
}

export function startServerProcess(name: string, env: Record<string, string>): ServerProcess {
  const child = spawn(process.execPath, [SERVER_ENTRY], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const signal = async (sig: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(sig);
    await exited;
  };
  return { name, child, output: () => out, kill: () => signal("SIGKILL"), stop: () => signal("SIGTERM") };
}

/** Polls fn until it returns true, or fails after timeoutMs with the given message. */
export async function waitUntil(fn: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await fn()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Names of the processes among `procs` that are still alive (signal 0 reaches them). */
export function stillAlive(procs: ServerProcess[]): string[] {
  return procs
    .filter((p) => {
      try {
        process.kill(p.child.pid!, 0);
        return true;
      } catch {
        return false;
      }
    })
    .map((p) => p.name);
}

/**
 * The environment of a backend node of a test cluster over NATS: `nodeId` on `natsUrl`, sharing the
 * SQLite store and server manifest in `dir` (`console.db`, `servers.json`), no seed, health checks off,
 * a 1 s heartbeat with a 3 s timeout; `env` (SERVICES, a port, another heartbeat timeout…) goes over it.
 */
export function clusterNodeEnv(natsUrl: string, dir: string, nodeId: string, env: Record<string, string>): Record<string, string> {
  return {
    TRANSPORTER: natsUrl,
    NODE_ID: nodeId,
    CONSOLE_MCP_DB_PATH: path.join(dir, "console.db"),
    CONSOLE_MCP_SERVERS_PATH: path.join(dir, "servers.json"),
    CONSOLE_MCP_SEED: "none",
    CONSOLE_MCP_SERVER_HOST: "127.0.0.1",
    CONSOLE_MCP_HEALTH_INTERVAL_S: "0",
    HEARTBEAT_INTERVAL: "1",
    HEARTBEAT_TIMEOUT: "3",
    ...env,
  };
}

/**
 * Waits until every route (a path under each base, e.g. `/servers`) answers 200 through every base
 * URL: each gateway's node then sees the services behind those routes (discovery over NATS takes a
 * moment; until then a call answers 503). `get` is the test's HTTP client.
 */
export async function waitForRoutes(
  get: (url: string) => Promise<{ status: number }>,
  bases: readonly string[],
  routes: readonly string[],
  timeoutMs = 60_000,
): Promise<void> {
  for (const base of bases) {
    for (const route of routes) await waitUntil(async () => (await get(`${base}${route}`)).status === 200, timeoutMs, `${base}${route} ready`);
  }
}
