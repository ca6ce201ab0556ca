/**
 * Child processes for benchmarks: the real server entrypoint, a bare node:http server, nats-server.
 */
import { ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

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
}

export function spawnChild(command: string, args: string[], env: Record<string, string> = {}): Child {
  const child: ChildProcess = spawn(command, args, {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    pid: child.pid,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** The environment every benchmark server starts with (before its own variables). */
export const SERVER_ENV: Record<string, string> = { LOG_LEVEL: "warn", CONSOLE_MCP_SERVER_HOST: "127.0.0.1" };

/** The real server entrypoint; `nodeArgs` go before it (e.g. `--cpu-prof`). */
export function spawnServer(env: Record<string, string>, nodeArgs: string[] = []): Child {
  return spawnChild(process.execPath, [...nodeArgs, SERVER_ENTRY], { ...SERVER_ENV, ...env });
}

/**
 * CPU time (user + system) a process has used so far, in ms, from /proc (Linux); undefined elsewhere
 * or when the process is gone. Clock ticks are taken as 100 Hz (USER_HZ on Linux).
 */
export function cpuTimeMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces), which ends at the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
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
