/**
 * The server catalog with two replicas (runtime-contract §17, §1.4): two processes, each a gateway
 * and a providers service, over a real NATS server on one store, started at the same moment with the
 * same manifest file. Both write the manifest into the catalog at once without a duplicate or an
 * error; a write through either gateway is seen at once through the other (each gateway reads from
 * the providers replica in its own process); a file change while they run reaches both the same way.
 * Shared by SQLite (test/nats) and PostgreSQL (test/pg).
 */
import fs from "node:fs";
import path from "node:path";
import { describeNats, freePort, NatsServer, startNats } from "../helpers/nats";
import { ServerProcess, startServerProcess, stillAlive, waitUntil } from "../helpers/process";
import { request, tempDir } from "../helpers/server";

const MANIFEST = [
  { id: "alpha", name: "Alpha", command: "alpha" },
  { id: "beta", name: "Beta", command: "beta", args: ["--stdio"] },
  { id: "gamma", name: "Gamma", command: "gamma" },
];

export function catalogReplicasSuite(
  title: string,
  store: (dir: string) => Promise<Record<string, string>>,
  dropStore: () => Promise<void> = async () => undefined,
): void {
  describeNats(`server catalog on two replicas over NATS (${title})`, () => {
    let nats: NatsServer;
    let dir: string;
    let manifestPath: string;
    const procs: ServerProcess[] = [];
    const gw: string[] = [];

    const ids = async (base: string) => ((await request(`${base}/servers`)).body.servers as { id: string }[]).map((s) => s.id);

    beforeAll(async () => {
      nats = await startNats();
      dir = tempDir();
      manifestPath = path.join(dir, "servers.json");
      fs.writeFileSync(manifestPath, JSON.stringify({ providers: MANIFEST }));
      const storeEnv = await store(dir);
      for (const name of ["replica-1", "replica-2"]) {
        const port = await freePort();
        gw.push(`http://127.0.0.1:${port}/api/v1`);
        procs.push(
          startServerProcess(name, {
            TRANSPORTER: nats.url,
            NODE_ID: `${name}-${process.pid}`,
            SERVICES: "api,providers",
            CONSOLE_MCP_SERVERS_PATH: manifestPath,
            CONSOLE_MCP_SERVER_PORT: String(port),
            CONSOLE_MCP_SERVER_HOST: "127.0.0.1",
            CONSOLE_MCP_SEED: "none",
            LOG_LEVEL: "info",
            ...storeEnv,
          }),
        );
      }
      try {
        // Each replica knows the other's providers service (the peer it has reload after a write).
        await waitUntil(
          async () => {
            for (const base of gw) {
              if ((await request(`${base}/servers`)).status !== 200) return false;
            }
            return procs.every((p) => /started successfully/.test(p.output()));
          },
          60000,
          "both replicas",
        );
        await new Promise((r) => setTimeout(r, 1000));
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${procs.map((p) => `--- ${p.name}\n${p.output()}`).join("\n")}`);
      }
    }, 90000);

    afterAll(async () => {
      await Promise.all(procs.map((p) => p.stop()));
      expect(stillAlive(procs)).toEqual([]);
      await nats?.stop();
      await dropStore();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }, 60000);

    function noErrors(): void {
      for (const p of procs) expect(p.output()).not.toMatch(/\bERROR\b|Catalog update failed|did not reload|UNIQUE|duplicate key/i);
    }

    it("both wrote the manifest at start: one entry per id, the same catalog on both, no error", async () => {
      const [a, b] = await Promise.all(gw.map((base) => request(`${base}/servers`)));
      expect(a.body.servers.map((s: { id: string }) => s.id)).toEqual(["alpha", "beta", "gamma"]);
      expect(b.body).toEqual(a.body);
      expect(new Set(a.body.servers.map((s: { created_at: string }) => s.created_at)).size).toBe(1);
      noErrors();
    });

    it("a write through one gateway is read at once through the other", async () => {
      const created = await request(`${gw[0]}/servers`, { method: "POST", json: { id: "api-1", name: "One", command: "one" } });
      expect(created.status).toBe(201);
      expect((await request(`${gw[1]}/servers/api-1`)).body).toEqual(created.body);
      expect(await ids(gw[1])).toEqual(["alpha", "beta", "gamma", "api-1"]);

      const updated = await request(`${gw[1]}/servers/api-1`, { method: "PUT", json: { name: "One v2", env: { A: "1" } } });
      expect(updated.status).toBe(200);
      expect((await request(`${gw[0]}/servers/api-1`)).body).toEqual(updated.body);

      // Creates through both at once: both stored, in one order on both sides.
      const both = await Promise.all([
        request(`${gw[0]}/servers`, { method: "POST", json: { id: "api-2", name: "Two", command: "two" } }),
        request(`${gw[1]}/servers`, { method: "POST", json: { id: "api-3", name: "Three", command: "three" } }),
      ]);
      expect(both.map((r) => r.status)).toEqual([201, 201]);
      const order = await ids(gw[0]);
      expect(order.slice(0, 4)).toEqual(["alpha", "beta", "gamma", "api-1"]);
      expect(order.slice(4).sort()).toEqual(["api-2", "api-3"]);
      expect(await ids(gw[1])).toEqual(order);

      // The same id through both at once: one 201, one 409.
      const race = await Promise.all(
        gw.map((base) => request(`${base}/servers`, { method: "POST", json: { id: "api-race", name: "R", command: "r" } })),
      );
      expect(race.map((r) => r.status).sort()).toEqual([201, 409]);

      expect((await request(`${gw[0]}/servers/api-1`, { method: "DELETE" })).status).toBe(204);
      expect((await request(`${gw[1]}/servers/api-1`)).status).toBe(404);
      noErrors();
    });

    it("a manifest change while both run reaches both, written once (the same instants on both)", async () => {
      fs.writeFileSync(
        manifestPath,
        JSON.stringify({ providers: [MANIFEST[2], { ...MANIFEST[0], description: "changed" }, { id: "delta", name: "D", command: "d" }] }),
      );
      await waitUntil(async () => (await ids(gw[0])).includes("delta") && (await ids(gw[1])).includes("delta"), 30000, "the change on both");
      const [a, b] = await Promise.all(gw.map((base) => request(`${base}/servers`)));
      expect(b.body).toEqual(a.body);
      const list = a.body.servers as { id: string; source: string; description: string; created_at: string; updated_at: string }[];
      // beta left the file and the catalog; the API servers follow the manifest's, untouched.
      expect(list.slice(0, 3).map((s) => [s.id, s.source])).toEqual([
        ["gamma", "manifest"],
        ["alpha", "manifest"],
        ["delta", "manifest"],
      ]);
      expect(
        list
          .slice(3)
          .map((s) => [s.id, s.source])
          .sort(),
      ).toEqual([
        ["api-2", "api"],
        ["api-3", "api"],
        ["api-race", "api"],
      ]);
      expect(list[1].description).toBe("changed");
      expect(list[2].created_at).toBe(list[1].updated_at);
      noErrors();
    }, 60000);
  });
}
