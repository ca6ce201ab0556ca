/**
 * Rate limits shared by replicas (runtime-contract §25.3): two server processes — each a gateway with
 * its own access service — over a real NATS server on one store (a SQLite file, and PostgreSQL when
 * configured). At 0.1 requests/s per client address, the request granted by one gateway leaves the
 * other nothing: the bucket lives in the store, not in a process. A key created through one gateway
 * is in force on the other before the creation is answered (pushed to every gateway).
 */
import path from "node:path";
import { describeNats, freePort, NatsServer, startNats } from "../helpers/nats";
import { createPgDatabase, PG_URL, PgDatabase } from "../helpers/pg";
import { ServerProcess, startServerProcess, stillAlive, waitUntil } from "../helpers/process";
import { request, tempDir } from "../helpers/server";

function sharedLimitSuite(title: string, store: (dir: string) => Promise<Record<string, string>>, drop: () => Promise<void>): void {
  describe(title, () => {
    let nats: NatsServer;
    let dir: string;
    const procs: ServerProcess[] = [];
    const gw: string[] = [];

    beforeAll(async () => {
      nats = await startNats();
      dir = tempDir();
      const storeEnv = await store(dir);
      for (const name of ["gateway-1", "gateway-2"]) {
        const port = await freePort();
        gw.push(`http://127.0.0.1:${port}/api/v1`);
        procs.push(
          startServerProcess(name, {
            TRANSPORTER: nats.url,
            NODE_ID: `${name}-${process.pid}`,
            SERVICES: "api,access,providers",
            CONSOLE_MCP_SERVER_PORT: String(port),
            CONSOLE_MCP_SERVER_HOST: "127.0.0.1",
            CONSOLE_MCP_SEED: "none",
            CONSOLE_MCP_RATE_LIMIT_RPS: "0.1",
            CONSOLE_MCP_SECRETS_KEY_FILE: path.join(dir, "secrets.key"),
            ...storeEnv,
          }),
        );
      }
      try {
        // Each gateway sees both access services (the buckets and the key pushes go through the broker).
        for (const base of gw) await waitUntil(async () => (await request(`${base}/healthz`)).status === 200, 60_000, `${base} up`);
        await new Promise((r) => setTimeout(r, 3000));
      } catch (err) {
        for (const p of procs) console.error(`--- ${p.name}\n${p.output()}`);
        throw err;
      }
    }, 90_000);

    afterAll(async () => {
      for (const p of procs) await p.stop();
      expect(stillAlive(procs)).toEqual([]);
      await nats?.stop();
      await drop();
    }, 60_000);

    it("a request granted by one gateway leaves the other nothing for that client", async () => {
      expect((await request(`${gw[0]}/servers`)).status).toBe(200);
      const refused = await request(`${gw[1]}/servers`);
      expect(refused.status).toBe(429);
      expect(refused.body).toEqual({ detail: "Rate limit exceeded" });
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect((await request(`${gw[0]}/servers`)).status).toBe(429);
    });

    it("a key created through one gateway is in force on the other when the creation answers", async () => {
      // Created from loopback in open mode (the rate limit counts it: wait for the bucket).
      let created: Awaited<ReturnType<typeof request>> | undefined;
      await waitUntil(
        async () => {
          created = await request(`${gw[0]}/security/api-keys`, { method: "POST", json: { name: "shared", role: "viewer", rate_limit_rps: 0 } });
          return created.status === 201;
        },
        30_000,
        "the key's creation",
      );
      const key = (created as { body: { secret: string } }).body.secret;
      expect((await request(`${gw[1]}/servers`)).status).toBe(401);
      for (let i = 0; i < 3; i++) expect((await request(`${gw[1]}/servers`, { headers: { "x-api-key": key } })).status).toBe(200);
    }, 60_000);
  });
}

describeNats("rate limits shared by two gateways over NATS", () => {
  sharedLimitSuite(
    "on one SQLite file",
    async (dir) => ({ CONSOLE_MCP_DB_PATH: path.join(dir, "console.db") }),
    async () => undefined,
  );
  if (PG_URL !== "") {
    let db: PgDatabase | undefined;
    sharedLimitSuite(
      "on PostgreSQL",
      async () => {
        db = await createPgDatabase();
        return { CONSOLE_MCP_DB_URL: db.url };
      },
      async () => db?.drop(),
    );
  }
});
