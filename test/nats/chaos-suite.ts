/**
 * Failover and shutdown under load, over a real NATS server with every role in its own process
 * (issue 7, items 8 and 9):
 * - SIGKILL one of two `sessions` replicas at 100 requests/s: no failed request, and no request
 *   waits for the heartbeat timeout or the request timeout (both set far above the bound checked);
 * - SIGKILL the only `providers` process: calls answer 503 at once instead of hanging, and 200 again
 *   once a new `providers` process joins;
 * - SIGTERM one `sessions` replica under load: no failed request;
 * - SIGTERM the gateway under 16 busy keep-alive clients: it stops accepting, answers every request it
 *   took, and exits 0.
 * Latency bounds here only tell a stall (seconds of waiting for a dead node) from a failover; the
 * failover figures themselves come from `npm run bench -- failover`.
 */
import fs from "node:fs";
import { describeNats, freePort, NatsServer, startNats } from "../helpers/nats";
import { closedLoop, openLoop, Outcome, quantile, summarize } from "../helpers/load";
import { ServerProcess, startServerProcess, stillAlive, waitUntil } from "../helpers/process";
import { request, tempDir } from "../helpers/server";

/** Far above any bound asserted below: a call that waits for either is a stall, not a failover. */
const SLOW_ENV = { REQUEST_TIMEOUT: "20000", HEARTBEAT_INTERVAL: "2", HEARTBEAT_TIMEOUT: "15" };
/** A failover that works answers well within this; a stall takes ≥ 15 s. */
const NO_STALL_MS = 4000;

/**
 * The suite on one store: `store()` gives the store variables every process gets (a SQLite file in
 * `dir`, or a PostgreSQL URL) and `dropStore` removes it at the end.
 */
export function chaosSuite(
  title: string,
  store: (dir: string) => Promise<Record<string, string>>,
  dropStore: () => Promise<void> = async () => undefined,
): void {
  describeNats(`failover and shutdown under load (separate processes over NATS, ${title})`, () => {
    let nats: NatsServer;
    let storeEnv: Record<string, string>;
    let dir: string;
    const procs: ServerProcess[] = [];
    let gwPort: number;
    let gw: string;
    let sessionId: string;

    function start(name: string, env: Record<string, string>): ServerProcess {
      const p = startServerProcess(name, {
        TRANSPORTER: nats.url,
        NODE_ID: `${name}-${process.pid}`,
        ...storeEnv,
        CONSOLE_MCP_SEED: "none",
        CONSOLE_MCP_SERVER_HOST: "127.0.0.1",
        LOG_LEVEL: "info",
        ...SLOW_ENV,
        ...env,
      });
      procs.push(p);
      return p;
    }

    /** Waits until `count` processes of `service` have started and the gateway finds the service ready. */
    async function waitForNodes(service: string, count: number): Promise<void> {
      const started = () =>
        procs.filter(
          (p) => p.name.startsWith(service) && p.child.exitCode === null && p.child.signalCode === null && /started successfully/.test(p.output()),
        ).length;
      await waitUntil(
        async () => started() === count && (await request(`${gw}/readyz`)).body?.checks?.[service] === "ok",
        30000,
        `${count} ${service} node(s)`,
      );
      // A node announces itself (INFO) as it starts; give the announcement a moment to arrive.
      await new Promise((r) => setTimeout(r, 500));
    }

    function failures(outcomes: Outcome[]): Outcome[] {
      return outcomes.filter((o) => o.status !== 200);
    }

    function report(label: string, outcomes: Outcome[]): string {
      const ms = outcomes.map((o) => o.ms);
      return `${label}: ${outcomes.length} requests, p50 ${quantile(ms, 0.5).toFixed(1)} ms, p99 ${quantile(ms, 0.99).toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms, ${JSON.stringify(summarize(outcomes))}`;
    }

    beforeAll(async () => {
      nats = await startNats();
      dir = tempDir();
      storeEnv = await store(dir);
      gwPort = await freePort();
      gw = `http://127.0.0.1:${gwPort}/api/v1`;
      start("gateway", { SERVICES: "api", CONSOLE_MCP_SERVER_PORT: String(gwPort) });
      start("providers-1", { SERVICES: "providers" });
      start("sessions-a", { SERVICES: "sessions" });
      start("sessions-b", { SERVICES: "sessions" });
      try {
        await waitForNodes("sessions", 2);
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${procs.map((p) => `--- ${p.name}\n${p.output()}`).join("\n")}`);
      }
      // Both sessions nodes known to the gateway: wait until calls have reached each.
      const created = await request(`${gw}/providers/gemini/sessions`, { method: "POST", json: { reason: "chaos" } });
      expect(created.status).toBe(200);
      sessionId = created.body.session.id;
    }, 60000);

    afterAll(async () => {
      await Promise.all(procs.map((p) => p.stop()));
      // Every process this suite started is gone.
      expect(stillAlive(procs)).toEqual([]);
      await nats?.stop();
      await dropStore();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }, 60000);

    const sessionCalls = (i: number) =>
      i % 2 === 0
        ? { method: "POST" as const, url: `${gw}/providers/codex/sessions`, json: { reason: `load-${i}` } }
        : { method: "GET" as const, url: `${gw}/sessions/${sessionId}` };

    it("loses no request and does not stall when one of two sessions replicas is killed (SIGKILL)", async () => {
      const victim = procs.find((p) => p.name === "sessions-a")!;
      const outcomes = await openLoop(100, 6000, sessionCalls, [{ at: 2000, run: () => void victim.kill() }]);
      const message = report("SIGKILL sessions-a at 2 s", outcomes);
      console.log(message);
      expect(failures(outcomes)).toEqual([]);
      expect(Math.max(...outcomes.map((o) => o.ms))).toBeLessThan(NO_STALL_MS);
      expect(victim.child.signalCode).toBe("SIGKILL");
    }, 60000);

    it("loses no request when a sessions replica stops gracefully (SIGTERM) under load", async () => {
      start("sessions-c", { SERVICES: "sessions" });
      await waitForNodes("sessions", 2);
      const victim = procs.find((p) => p.name === "sessions-b")!;
      const outcomes = await openLoop(100, 5000, sessionCalls, [{ at: 1500, run: () => void victim.stop() }]);
      console.log(report("SIGTERM sessions-b at 1.5 s", outcomes));
      expect(failures(outcomes)).toEqual([]);
      expect(Math.max(...outcomes.map((o) => o.ms))).toBeLessThan(NO_STALL_MS);
      expect(victim.child.exitCode).toBe(0);
    }, 60000);

    it("answers 503 at once while the only providers process is dead, and 200 once one is back", async () => {
      expect((await request(`${gw}/providers`)).status).toBe(200);
      await procs.find((p) => p.name === "providers-1")!.kill();
      const outcomes = await openLoop(20, 3000, () => ({ method: "GET", url: `${gw}/providers` }));
      console.log(report("GET /providers after SIGKILL of the only providers", outcomes));
      expect(outcomes.every((o) => o.status === 503 || o.status === 200)).toBe(true);
      expect(outcomes.filter((o) => o.status === 503).length).toBeGreaterThan(0);
      expect(Math.max(...outcomes.map((o) => o.ms))).toBeLessThan(NO_STALL_MS);
      // Past the first second every call is a fast 503, never a call that hung for a timeout.
      expect(outcomes.filter((o) => o.at > 1000).every((o) => o.status === 503)).toBe(true);
      start("providers-2", { SERVICES: "providers" });
      await waitUntil(async () => (await request(`${gw}/providers`)).status === 200, 30000, "providers back");
    }, 60000);

    it("stops the gateway on SIGTERM under 16 keep-alive clients without failing an accepted request", async () => {
      const gateway = procs.find((p) => p.name === "gateway")!;
      const load = closedLoop(16, (c, i) => sessionCalls(c * 100000 + i));
      await new Promise((r) => setTimeout(r, 1500));
      const before = load.outcomes.length;
      await gateway.stop();
      const outcomes = await load.stop();
      console.log(report("SIGTERM gateway under 16 closed-loop clients", outcomes));
      expect(before).toBeGreaterThan(16);
      expect(gateway.child.exitCode).toBe(0);
      // Every answer is a success; every error is one that proves the request was never taken.
      expect(outcomes.filter((o) => o.status !== 0 && o.status !== 200)).toEqual([]);
      expect(outcomes.filter((o) => o.status === 0 && !o.notAccepted)).toEqual([]);
      expect(gateway.output()).toMatch(/HTTP drain: every accepted request answered/);
      expect(gateway.output()).not.toMatch(/GracefulStopTimeoutError/);
    }, 60000);
  });
}
