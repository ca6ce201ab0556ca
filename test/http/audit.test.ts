/**
 * The audit log over HTTP on a SQLite store (suite: ./audit-suite.ts), and that the entries of the
 * changes are written by the services in the changes' own transactions.
 */
import path from "node:path";
import { createKnex } from "../../lib/store/knex";
import { CONFIGURABLE_SERVER, GroupWatch, liveMembers } from "../helpers/process-groups";
import { request, startTestServer } from "../helpers/server";
import { auditSuite } from "./audit-suite";

auditSuite("sqlite", async () => ({ env: {}, drop: async () => undefined }));

describe("entries written in the transaction of the change", () => {
  it("the services write their own entries (no access service to fall back on), and a change whose entry cannot be written is not made", async () => {
    const server = await startTestServer({ SERVICES: "api,providers,sessions,telemetry,routing" });
    const db = createKnex({ dbUrl: null, dbPath: path.join(server.dir, "console.db") });
    try {
      const post = (p: string, json: unknown, id: string) =>
        request(`${server.baseUrl}${p}`, { method: "POST", json, headers: { "x-request-id": id } });
      expect((await post("/servers", { id: "one", name: "One", command: "one" }, "w-1")).status).toBe(201);
      expect((await post("/providers/gemini/sessions", {}, "w-2")).status).toBe(200);
      expect((await post("/telemetry/runs", { provider_id: "gemini" }, "w-3")).status).toBe(201);
      // Nothing stored to sit beside: only the access service could record it, and it does not run.
      expect((await post("/routing/simulate", {}, "w-4")).status).toBe(200);
      const rows = await db("audit_log").select("request_id", "action", "outcome").orderBy("id");
      expect(rows).toEqual([
        { request_id: "w-1", action: "server.create", outcome: "ok" },
        { request_id: "w-2", action: "session.create", outcome: "ok" },
        { request_id: "w-3", action: "telemetry.ingest", outcome: "ok" },
      ]);

      // An entry that cannot be written rolls the change back with it.
      await db.raw(
        `CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log WHEN NEW.request_id = 'w-5' BEGIN SELECT RAISE(ABORT, 'audit refused'); END`,
      );
      const refused = await post("/servers", { id: "two", name: "Two", command: "two" }, "w-5");
      expect(refused.status).toBe(500);
      expect((await request(`${server.baseUrl}/servers/two`)).status).toBe(404);
      expect(await db("servers").where({ id: "two" })).toEqual([]);
      const refusedRuns = await post("/telemetry/runs", { provider_id: "gemini", route: "refused" }, "w-5");
      expect(refusedRuns.status).toBe(500);
      expect(await db("telemetry_events").where({ route: "refused" })).toEqual([]);
    } finally {
      await db.destroy();
      await server.stop();
    }
  }, 60_000);
});

describe("process actions and pings: the entry is stored with the change", () => {
  it("start, stop and ping write their entries themselves; a start or stop whose entry cannot be written changes nothing", async () => {
    const server = await startTestServer({ SERVICES: "api,providers,sessions,telemetry,runtime", CONSOLE_MCP_HEALTH_INTERVAL_S: "0" });
    const db = createKnex({ dbUrl: null, dbPath: path.join(server.dir, "console.db") });
    const groups = new GroupWatch();
    try {
      const send = (method: string, p: string, id: string, json?: unknown) =>
        request(`${server.baseUrl}${p}`, {
          method,
          headers: { "x-request-id": id, "content-type": "application/json" },
          ...(json === undefined ? {} : { json }),
        });
      const entriesOf = (id: string) => db("audit_log").where({ request_id: id }).select("action", "outcome", "status");
      expect((await send("POST", "/servers", "c-1", { id: "aud", name: "Aud", command: process.execPath, args: [CONFIGURABLE_SERVER] })).status).toBe(
        201,
      );

      const started = await send("POST", "/servers/aud/process/start", "p-1");
      expect(started.status).toBe(200);
      groups.add(started.body.process.pid);
      expect(await entriesOf("p-1")).toEqual([{ action: "process.start", outcome: "ok", status: 200 }]);
      expect((await send("POST", "/servers/aud/health/ping", "p-2")).status).toBe(200);
      expect(await entriesOf("p-2")).toEqual([{ action: "health.ping", outcome: "ok", status: 200 }]);

      // The stop's entry cannot be written: the stop is not made (desired and the process as they were).
      await db.raw(
        `CREATE TRIGGER refuse_stop BEFORE INSERT ON audit_log WHEN NEW.request_id = 'p-3' BEGIN SELECT RAISE(ABORT, 'audit refused'); END`,
      );
      expect((await send("POST", "/servers/aud/process/stop", "p-3")).status).toBe(500);
      const still = (await request(`${server.baseUrl}/servers/aud/process`)).body.process;
      expect(still).toMatchObject({ desired: "running", status: "running", pid: started.body.process.pid });
      expect(liveMembers(started.body.process.pid)).toContain(started.body.process.pid);

      const stopped = await send("POST", "/servers/aud/process/stop", "p-4");
      expect(stopped.body.process).toMatchObject({ desired: "stopped", status: "stopped" });
      expect(await entriesOf("p-4")).toEqual([{ action: "process.stop", outcome: "ok", status: 200 }]);

      // The start's entry cannot be written: what was begun is stopped again, nothing keeps running.
      await db.raw(
        `CREATE TRIGGER refuse_start BEFORE INSERT ON audit_log WHEN NEW.request_id = 'p-5' BEGIN SELECT RAISE(ABORT, 'audit refused'); END`,
      );
      expect((await send("POST", "/servers/aud/process/start", "p-5")).status).toBe(500);
      const after = (await request(`${server.baseUrl}/servers/aud/process`)).body.process;
      expect(after).toMatchObject({ desired: "stopped", status: "stopped", pid: null });
      if (after.command !== null) await groups.expectAllGone();
    } finally {
      await db.destroy();
      await server.stop();
      await groups.expectAllGone();
    }
  }, 90_000);
});
