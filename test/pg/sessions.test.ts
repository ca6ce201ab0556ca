/**
 * The sessions store on PostgreSQL (CONSOLE_MCP_TEST_PG_URL): two brokers on one database see the
 * same sessions, and the sessions survive a restart.
 */
import type { ServiceBroker } from "moleculer";
import { loadConfig } from "../../lib/config";
import { createBroker } from "../../lib/server";
import { createPgDatabase, describePg, PgDatabase } from "../helpers/pg";
import { request, startTestServer } from "../helpers/server";

interface Session {
  id: string;
  provider_id: string;
  created_at: string;
  status: string;
  reason: string | null;
  client: string | null;
}

describePg("sessions on PostgreSQL", () => {
  let db: PgDatabase;
  const brokers: ServiceBroker[] = [];

  function newBroker(): ServiceBroker {
    const config = loadConfig(
      { SERVICES: "providers,sessions", CONSOLE_MCP_DB_URL: db.url, CONSOLE_MCP_SEED: "none", LOG_LEVEL: "fatal" },
      "development",
    );
    const broker = createBroker(config, { logger: false });
    brokers.push(broker);
    return broker;
  }

  beforeAll(async () => {
    db = await createPgDatabase();
  });

  afterAll(async () => {
    for (const b of brokers) await b.stop().catch(() => undefined);
    await db.drop();
  });

  let first: ServiceBroker;
  let second: ServiceBroker;

  it("two brokers start together on a fresh database (migrations run once)", async () => {
    first = newBroker();
    second = newBroker();
    await Promise.all([first.start(), second.start()]);
    expect(await first.call("sessions.list")).toEqual({ sessions: [] });
    expect(await second.call("sessions.storePing")).toEqual({ ok: true });
  });

  it("a session created through one broker is listed and found by the other", async () => {
    const created = await first.call<{ session: Session }, Record<string, unknown>>("sessions.create", {
      provider_id: "gemini",
      reason: "pg check",
      client: "jest",
      overrides: { a: 1 },
    });
    expect(created.session).toMatchObject({ provider_id: "gemini", reason: "pg check", client: "jest", status: "pending" });
    expect(created.session.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/);
    const listed = await second.call<{ sessions: Session[] }>("sessions.list");
    expect(listed.sessions).toEqual([created.session]);
    expect(await second.call("sessions.get", { session_id: created.session.id })).toEqual({ session: created.session });
  });

  it("keeps creation order across brokers, oldest first", async () => {
    const ids: string[] = [(await first.call<{ sessions: Session[] }>("sessions.list")).sessions[0].id];
    for (let i = 0; i < 6; i += 1) {
      const broker = i % 2 === 0 ? second : first;
      const out = await broker.call<{ session: Session }, Record<string, unknown>>("sessions.create", { provider_id: "codex", client: `c${i}` });
      ids.push(out.session.id);
    }
    for (const broker of [first, second]) {
      const { sessions } = await broker.call<{ sessions: Session[] }>("sessions.list");
      expect(sessions.map((s) => s.id)).toEqual(ids);
    }
  });

  it("concurrent creates through both brokers are all stored", async () => {
    const before = (await first.call<{ sessions: Session[] }>("sessions.list")).sessions.length;
    const outs = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 === 0 ? first : second).call<{ session: Session }, Record<string, unknown>>("sessions.create", { provider_id: "claude" }),
      ),
    );
    const { sessions } = await second.call<{ sessions: Session[] }>("sessions.list");
    expect(sessions).toHaveLength(before + 20);
    expect(new Set(sessions.map((s) => s.id)).size).toBe(before + 20);
    for (const o of outs) expect(sessions.map((s) => s.id)).toContain(o.session.id);
  });

  it("404 for an unknown session id on PostgreSQL, NUL characters included", async () => {
    await expect(second.call("sessions.get", { session_id: "missing" })).rejects.toMatchObject({
      code: 404,
      message: "Session 'missing' not found",
    });
    await expect(second.call("sessions.get", { session_id: "a\u0000b" })).rejects.toMatchObject({ code: 404 });
  });

  it("text PostgreSQL cannot store (NUL, lone surrogates) is a 422, not a 500", async () => {
    for (const params of [{ reason: "a\u0000b" }, { client: "\u0000" }, { reason: "\udc00" }]) {
      await expect(first.call("sessions.create", { provider_id: "gemini", ...params })).rejects.toMatchObject({ code: 422 });
    }
  });

  it("the sessions survive a restart of every broker", async () => {
    const { sessions } = await first.call<{ sessions: Session[] }>("sessions.list");
    await first.stop();
    await second.stop();
    const restarted = newBroker();
    await restarted.start();
    expect(await restarted.call("sessions.list")).toEqual({ sessions });
  });

  it("the HTTP gateway serves the same sessions from PostgreSQL", async () => {
    const server = await startTestServer({ SERVICES: "api,providers,sessions", CONSOLE_MCP_DB_URL: db.url });
    try {
      const listed = await request(`${server.baseUrl}/sessions`);
      expect(listed.status).toBe(200);
      const count = listed.body.sessions.length;
      expect(count).toBeGreaterThan(20);
      const created = await request(`${server.baseUrl}/providers/glm46/sessions`, { method: "POST", json: { reason: "http" } });
      expect(created.status).toBe(200);
      const after = await request(`${server.baseUrl}/sessions`);
      expect(after.body.sessions).toHaveLength(count + 1);
      expect(after.body.sessions[count]).toEqual(created.body.session);
    } finally {
      await server.stop();
    }
  });
});
