/**
 * The real entrypoint (`node bin/console-mcp-server.js`) as a child process: a bad configuration or
 * a broken manifest stops startup with exit code 1 and one line naming the problem; a good one
 * serves HTTP and stops cleanly on SIGTERM.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { PROJECT_ROOT } from "../../lib/config";
import { tempDir } from "../helpers/server";

const ENTRY = path.join(PROJECT_ROOT, "bin/console-mcp-server.js");

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

let dir: string;
beforeAll(() => {
  dir = tempDir("console-mcp-startup-");
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function baseEnv(extra: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "",
    HOME: dir,
    CONSOLE_MCP_DB_PATH: path.join(dir, "console.db"),
    CONSOLE_MCP_SEED: "none",
    CONSOLE_MCP_SERVER_HOST: "127.0.0.1",
    LOG_LEVEL: "warn",
    ...extra,
  };
}

/** Runs the entrypoint until it exits (or kills it after timeoutMs). */
function runToExit(env: Record<string, string>, timeoutMs = 20000): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ENTRY], { env: baseEnv(env), cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the server did not exit within ${timeoutMs} ms; output: ${stdout}${stderr}`));
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      // Let the pipes drain.
      setImmediate(() => resolve({ code, stdout, stderr }));
    });
  });
}

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.trim() !== "");
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

describe("startup failures", () => {
  it.each(["abc", "70000", "-1"])("CONSOLE_MCP_SERVER_PORT=%s exits 1 with one line naming the variable", async (port) => {
    const out = await runToExit({ CONSOLE_MCP_SERVER_PORT: port });
    expect(out.code).toBe(1);
    const all = lines(out.stdout + out.stderr);
    expect(all).toHaveLength(1);
    expect(all[0]).toContain("CONSOLE_MCP_SERVER_PORT");
    expect(all[0]).toContain(port);
  });

  it("an invalid TRANSPORTER exits 1 naming the variable", async () => {
    const out = await runToExit({ TRANSPORTER: "tcp://x" });
    expect(out.code).toBe(1);
    expect(lines(out.stdout + out.stderr)).toEqual([expect.stringContaining("TRANSPORTER")]);
  });

  it.each(["yaml", "JSON"])("LOG_FORMAT=%s exits 1 with one line naming the variable (§28)", async (format) => {
    const out = await runToExit({ LOG_FORMAT: format });
    expect(out.code).toBe(1);
    expect(lines(out.stdout + out.stderr)).toEqual([`console-mcp-server: Invalid LOG_FORMAT="${format}": expected one of json, pretty`]);
  });

  it("a manifest entry without a command exits 1 naming the file and the field", async () => {
    const manifest = path.join(dir, "broken-servers.json");
    fs.writeFileSync(
      manifest,
      JSON.stringify({
        providers: [
          { id: "a", name: "A", command: "a" },
          { id: "b", name: "B" },
        ],
      }),
    );
    const out = await runToExit({ CONSOLE_MCP_SERVERS_PATH: manifest, CONSOLE_MCP_SERVER_PORT: "0" });
    expect(out.code).toBe(1);
    const all = lines(out.stdout + out.stderr);
    expect(all).toHaveLength(1);
    expect(all[0]).toContain(manifest);
    expect(all[0]).toContain("providers[1].command");
  });

  it("a duplicate id exits 1 naming the file and the field", async () => {
    const manifest = path.join(dir, "duplicate-servers.json");
    fs.writeFileSync(
      manifest,
      JSON.stringify({
        providers: [
          { id: "a", name: "A", command: "a" },
          { id: "a", name: "B", command: "b" },
        ],
      }),
    );
    const out = await runToExit({ CONSOLE_MCP_SERVERS_PATH: manifest, CONSOLE_MCP_SERVER_PORT: "0" });
    expect(out.code).toBe(1);
    const all = lines(out.stdout + out.stderr);
    expect(all).toHaveLength(1);
    expect(all[0]).toContain(manifest);
    expect(all[0]).toContain("providers[1].id");
  });

  it("a missing manifest file exits 1 naming the file", async () => {
    const manifest = path.join(dir, "no-such-servers.json");
    const out = await runToExit({ CONSOLE_MCP_SERVERS_PATH: manifest, CONSOLE_MCP_SERVER_PORT: "0" });
    expect(out.code).toBe(1);
    expect(lines(out.stdout + out.stderr)).toEqual([expect.stringContaining(manifest)]);
  });

  it.each([
    ["LOG_FORMAT=json", { LOG_FORMAT: "json" }],
    ["NODE_ENV=production", { NODE_ENV: "production" }],
  ])("with %s a failed start's line is a JSON object too (§27: a JSON log stays JSON)", async (_name, env) => {
    const manifest = path.join(dir, "no-such-servers.json");
    const cases: Record<string, string>[] = [{ CONSOLE_MCP_SERVERS_PATH: manifest }, { CONSOLE_MCP_SERVER_PORT: "abc" }];
    for (const bad of cases) {
      const out = await runToExit({ CONSOLE_MCP_SERVER_PORT: "0", ...env, ...bad });
      expect(out.code).toBe(1);
      const entries = lines(out.stdout + out.stderr).map((l) => JSON.parse(l));
      const fatal = entries.filter((e) => e.level === "fatal");
      expect(fatal).toHaveLength(1);
      expect(fatal[0]).toMatchObject({ module: "console-mcp-server" });
      expect(fatal[0].msg).toContain("CONSOLE_MCP_SERVERS_PATH" in bad ? manifest : "CONSOLE_MCP_SERVER_PORT");
      expect(fatal[0].err).toBeUndefined(); // an expected failure: no stack
    }
  });
});

describe("a good start", () => {
  it("serves /healthz, warns about a bad frontend port, and exits 0 on SIGTERM", async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [ENTRY], {
      env: baseEnv({ CONSOLE_MCP_SERVER_PORT: String(port), SERVICES: "api,providers,sessions", CONSOLE_MCP_FRONTEND_PORT: "nope" }),
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const deadline = Date.now() + 20000;
      let body: { status?: string } | undefined;
      while (body === undefined) {
        if (child.exitCode !== null) throw new Error(`server exited early: ${output}`);
        try {
          const res = await fetch(`http://127.0.0.1:${port}/api/v1/healthz`);
          body = (await res.json()) as { status?: string };
        } catch {
          if (Date.now() > deadline) throw new Error(`server did not answer: ${output}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      expect(body.status).toBe("ok");
      expect(output).toContain("CONSOLE_MCP_FRONTEND_PORT");
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  }, 30000);
});
