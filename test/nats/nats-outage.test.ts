/**
 * The NATS server itself goes away for a few seconds and comes back on the same address: while it is
 * gone the gateway answers 503 at once (it knows its own connection is down) instead of holding
 * requests until their timeout; once it is back, the same processes answer 200 again.
 */
import { ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { describeNats, freePort } from "../helpers/nats";
import { openLoop } from "../helpers/load";
import { ServerProcess, startServerProcess, stillAlive, waitUntil } from "../helpers/process";
import { request, tempDir } from "../helpers/server";

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

describeNats("a NATS outage", () => {
  let natsPort: number;
  let nats: ChildProcess | undefined;
  let dir: string;
  const procs: ServerProcess[] = [];
  let gw: string;

  async function startNatsServer(): Promise<void> {
    nats = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(natsPort)], { stdio: "ignore" });
    await waitUntil(() => listening(natsPort), 10000, "nats-server");
  }

  async function stopNatsServer(): Promise<void> {
    const child = nats;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  }

  beforeAll(async () => {
    natsPort = await freePort();
    await startNatsServer();
    dir = tempDir();
    const port = await freePort();
    gw = `http://127.0.0.1:${port}/api/v1`;
    const common = {
      TRANSPORTER: `nats://127.0.0.1:${natsPort}`,
      CONSOLE_MCP_DB_PATH: path.join(dir, "console.db"),
      CONSOLE_MCP_SEED: "none",
      CONSOLE_MCP_SERVER_HOST: "127.0.0.1",
      LOG_LEVEL: "info",
    };
    procs.push(startServerProcess("gateway", { ...common, SERVICES: "api", NODE_ID: `gw-${process.pid}`, CONSOLE_MCP_SERVER_PORT: String(port) }));
    procs.push(startServerProcess("providers", { ...common, SERVICES: "providers", NODE_ID: `prov-${process.pid}` }));
    await waitUntil(async () => (await request(`${gw}/providers`)).status === 200, 40000, "the cluster");
  }, 60000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    expect(stillAlive(procs)).toEqual([]);
    await stopNatsServer();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 60000);

  it("answers 503 at once while NATS is down, and 200 again once it is back", async () => {
    await stopNatsServer();
    // Give the clients a moment to see the connection drop.
    const gateway = procs[0];
    await waitUntil(async () => /NATS connection lost/.test(gateway.output()), 10000, "the gateway to see NATS go");
    const during = await openLoop(10, 2000, () => ({ method: "GET", url: `${gw}/providers` }));
    expect(during.map((o) => o.status)).toEqual(during.map(() => 503));
    expect(Math.max(...during.map((o) => o.ms))).toBeLessThan(3000);
    await startNatsServer();
    await waitUntil(async () => (await request(`${gw}/providers`)).status === 200, 30000, "answers after NATS is back");
    expect(gateway.output()).toMatch(/NATS connection restored/);
  }, 60000);
});
