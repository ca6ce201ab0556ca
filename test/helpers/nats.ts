/**
 * A real NATS server for the nats test layer: NATS_URL when set, else a `nats-server` from PATH on a
 * free port. With neither, the suite fails under CI and is skipped loudly elsewhere.
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import net from "node:net";

const UNDER_CI = process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "false";

export function natsServerAvailable(): boolean {
  if (process.env.NATS_URL) return true;
  return spawnSync("nats-server", ["--version"]).status === 0;
}

/** Like describePg: runs, fails under CI without a NATS server, or is reported as skipped. */
export function describeNats(name: string, fn: () => void): void {
  if (natsServerAvailable()) {
    describe(name, fn);
    return;
  }
  if (UNDER_CI) {
    describe(name, () => {
      it("needs nats-server under CI", () => {
        throw new Error("nats-server is not on PATH and NATS_URL is not set: the NATS suites are required under CI");
      });
    });
    return;
  }
  console.warn(`SKIPPED NATS suite '${name}': install nats-server or set NATS_URL`);
  const skipWithoutNats = describe.skip;
  skipWithoutNats(name, fn);
}

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

export interface NatsServer {
  url: string;
  stop(): Promise<void>;
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nats-server did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startNats(): Promise<NatsServer> {
  if (process.env.NATS_URL) return { url: process.env.NATS_URL, stop: async () => undefined };
  const port = await freePort();
  const child: ChildProcess = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
  await waitForPort(port, 10000);
  return {
    url: `nats://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      });
    },
  };
}
