/**
 * A server leaves the catalog only once its process is gone (runtime-contract §17.4 DELETE: "a
 * running process is stopped first"; §17.1 an entry removed from the manifest file): over real HTTP
 * with real server processes whose grandchild ignores SIGTERM, so every stop takes the whole group
 * SIGTERM → 5 s → group SIGKILL. While the stop is under way the server is still listed; the moment
 * a list no longer has it, its process group has no live member. Shared by the SQLite run
 * (test/http/runtime-delete.test.ts) and the PostgreSQL run (test/pg/runtime-delete.test.ts).
 */
import fs from "node:fs";
import path from "node:path";
import { CONFIGURABLE_SERVER, GroupWatch, liveMembers, pidAlive } from "../helpers/process-groups";
import { request, startTestServer, tempDir, TestServer } from "../helpers/server";
import type { RuntimeStoreFactory } from "./runtime-suite";

const node = process.execPath;

/** A manifest entry of the configurable test server with a grandchild that ignores SIGTERM. */
function stubborn(id: string) {
  return { id, name: id, command: node, args: [CONFIGURABLE_SERVER, "--name", id, "--grandchild"], transport: "stdio" };
}

function writeManifest(file: string, ids: string[]): void {
  // Written to a temporary file and renamed, so the watcher never reads half a file.
  fs.writeFileSync(`${file}.tmp`, JSON.stringify({ providers: ids.map(stubborn) }));
  fs.renameSync(`${file}.tmp`, file);
}

export function runtimeDeleteSuite(label: string, makeStore: RuntimeStoreFactory): void {
  describe(`${label}: a server leaves the catalog only once its process is gone`, () => {
    let server: TestServer;
    let dir: string;
    let manifestFile: string;
    let drop: () => Promise<void>;
    const groups = new GroupWatch();
    const url = (p: string) => `${server.baseUrl}${p}`;

    beforeAll(async () => {
      dir = tempDir("console-mcp-runtime-delete-");
      manifestFile = path.join(dir, "servers.json");
      writeManifest(manifestFile, ["kept", "leaving"]);
      const store = await makeStore();
      drop = store.drop;
      server = await startTestServer({ CONSOLE_MCP_SERVERS_PATH: manifestFile, CONSOLE_MCP_HEALTH_INTERVAL_S: "0", ...store.env });
    }, 60_000);

    afterAll(async () => {
      await server?.stop();
      await groups.expectAllGone();
      await drop?.();
      fs.rmSync(dir, { recursive: true, force: true });
    }, 60_000);

    /** Starts a server over HTTP; answers its pid and its grandchild's pid (both watched). */
    async function startRunning(id: string): Promise<{ pid: number; grandchild: number }> {
      const res = await request(url(`/servers/${id}/process/start`), { method: "POST" });
      expect(res.status).toBe(200);
      const p = res.body.process;
      expect(p.status).toBe("running");
      groups.add(p.pid);
      const logs = (await request(url(`/servers/${id}/process/logs`))).body.logs as { message: string }[];
      const line = logs.map((l) => /^grandchild pid (\d+)$/.exec(l.message)).find((m) => m !== null);
      expect(line).toBeDefined();
      const grandchild = Number(line![1]);
      groups.addPid(grandchild);
      // The leader and the grandchild share the group.
      expect(liveMembers(p.pid)).toEqual(expect.arrayContaining([p.pid, grandchild]));
      return { pid: p.pid, grandchild };
    }

    /**
     * Polls `listed` until `done` settles; every time the server is missing from the list, records
     * the live members its group still has then (a list must never drop a server whose process lives).
     */
    async function watchListing(
      listed: () => Promise<boolean>,
      pgid: number,
      done: Promise<unknown>,
    ): Promise<{ polls: number; violations: number[][] }> {
      let finished = false;
      const finish = () => (finished = true);
      done.then(finish, finish);
      const out = { polls: 0, violations: [] as number[][] };
      const deadline = Date.now() + 40_000;
      while (!finished) {
        if (Date.now() > deadline) throw new Error("the server was still listed after 40 s");
        const present = await listed();
        out.polls++;
        if (!present) {
          const left = liveMembers(pgid);
          if (left.length > 0) out.violations.push(left);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      return out;
    }

    it("DELETE of a running API server: the group is gone when the 204 arrives, and listed until then", async () => {
      const created = await request(url("/servers"), {
        method: "POST",
        json: { id: "doomed", name: "Doomed", command: node, args: [CONFIGURABLE_SERVER, "--name", "doomed", "--grandchild"] },
      });
      expect(created.status).toBe(201);
      const { pid, grandchild } = await startRunning("doomed");

      const deletion = request(url("/servers/doomed"), { method: "DELETE" });
      const listing = await watchListing(
        async () => ((await request(url("/servers/processes"))).body.processes as { server_id: string }[]).some((p) => p.server_id === "doomed"),
        pid,
        deletion,
      );
      const res = await deletion;
      expect(res.status).toBe(204);
      expect(res.text).toBe("");
      // Right at the answer: no live member (the grandchild ignored SIGTERM and took the group SIGKILL).
      expect(liveMembers(pid)).toEqual([]);
      expect(pidAlive(grandchild)).toBe(false);
      const processes = (await request(url("/servers/processes"))).body.processes as { server_id: string }[];
      expect(processes.map((p) => p.server_id)).toEqual(["kept", "leaving"]);
      expect(listing.violations).toEqual([]);
      expect(listing.polls).toBeGreaterThan(0);
      expect((await request(url("/servers/doomed/process"))).status).toBe(404);
      expect((await request(url("/servers/doomed"))).status).toBe(404);

      // The runtime forgot it: the same id created again is a never-started server.
      expect((await request(url("/servers"), { method: "POST", json: { id: "doomed", name: "Again", command: node } })).status).toBe(201);
      const again = (await request(url("/servers/doomed/process"))).body.process;
      expect(again).toMatchObject({ status: "stopped", desired: "stopped", pid: null, command: null, node_id: null, logs: [] });
      expect((await request(url("/servers/doomed"), { method: "DELETE" })).status).toBe(204);
    }, 60_000);

    it("DELETE of a stopped or never-started API server answers 204 (nothing to stop); 409 and 404 stop nothing", async () => {
      const created = await request(url("/servers"), {
        method: "POST",
        json: { id: "idle", name: "Idle", command: node, args: [CONFIGURABLE_SERVER] },
      });
      expect(created.status).toBe(201);
      expect((await request(url("/servers/idle"), { method: "DELETE" })).status).toBe(204);
      expect((await request(url("/servers/idle"), { method: "DELETE" })).status).toBe(404);

      // A manifest server cannot be deleted over HTTP: its process keeps running.
      const { pid } = await startRunning("kept");
      const refused = await request(url("/servers/kept"), { method: "DELETE" });
      expect(refused.status).toBe(409);
      expect(refused.body).toEqual({ detail: "Server 'kept' is defined in the manifest file; change the file instead" });
      expect((await request(url("/servers/kept/process"))).body.process).toMatchObject({ status: "running", pid, desired: "running" });
      expect(liveMembers(pid)).toContain(pid);
    }, 60_000);

    it("a server removed from the manifest file: its group is gone before the catalog drops it", async () => {
      const { pid, grandchild } = await startRunning("leaving");
      let removedFromList: () => void = () => undefined;
      const dropped = new Promise<void>((resolve) => (removedFromList = resolve));
      writeManifest(manifestFile, ["kept"]);
      const listing = await watchListing(
        async () => {
          const ids = ((await request(url("/servers"))).body.servers as { id: string }[]).map((s) => s.id);
          if (!ids.includes("leaving")) removedFromList();
          return ids.includes("leaving");
        },
        pid,
        dropped,
      );
      expect(listing.violations).toEqual([]);
      expect(liveMembers(pid)).toEqual([]);
      expect(pidAlive(grandchild)).toBe(false);
      const processes = (await request(url("/servers/processes"))).body.processes as { server_id: string; status: string }[];
      expect(processes.map((p) => p.server_id)).toEqual(["kept"]);

      // What is left runs on; stopping it leaves nothing.
      const stop = await request(url("/servers/kept/process/stop"), { method: "POST" });
      expect(stop.status).toBe(200);
      expect(stop.body.process).toMatchObject({ status: "stopped", pid: null });
    }, 60_000);
  });
}
