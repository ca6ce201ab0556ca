/**
 * Live sessions (runtime-contract §22) in the sessions service, in-process brokers on a real store,
 * shared by SQLite (test/services/sessions-live.test.ts) and PostgreSQL (test/pg/sessions-live.test.ts):
 * - `sessions.recordCall` moves a session `pending` → `active`, counts calls and sets `last_call_at`,
 *   with 404 unknown, 409 closed and 409 another server's session, nothing changed then;
 * - `sessions.close` (DELETE /sessions/{id}) closes once and answers the same record again;
 * - every change is broadcast as `sessions.changed` with the Session;
 * - concurrent calls through two replicas all count; calls racing a close either count or see it closed;
 * - the idle sweep closes idle sessions once even when two replicas sweep at once, keeps recently
 *   called ones, is off with CONSOLE_MCP_SESSION_IDLE_S=0, and runs by itself;
 * - migration 013 maps rows stored before it (and its down migration keeps them).
 */
import fs from "node:fs";
import path from "node:path";
import type { Knex } from "knex";
import type { ServiceBroker } from "moleculer";
import { loadConfig } from "../../lib/config";
import { createBroker } from "../../lib/server";
import { createKnex } from "../../lib/store/knex";
import { migrateToLatest } from "../../lib/store/migrate";
import { MIGRATIONS } from "../../lib/store/migrations";
import { toStoredInstant } from "../../lib/time";
import { tempDir } from "../helpers/server";

/** A fresh, empty store: the variables that select it, its Knex settings, and how to remove it. */
export type SessionsStoreFactory = (dir: string) => Promise<{
  env: Record<string, string>;
  knex: { dbUrl: string | null; dbPath: string };
  drop(): Promise<void>;
}>;

interface Session {
  id: string;
  provider_id: string;
  created_at: string;
  status: string;
  reason: string | null;
  client: string | null;
  closed_at: string | null;
  last_call_at: string | null;
  call_count: number;
}

interface Node {
  broker: ServiceBroker;
  events: Session[];
}

type CallError = { code: number; message: string };

async function failure(p: Promise<unknown>): Promise<CallError> {
  try {
    await p;
  } catch (err) {
    return err as CallError;
  }
  throw new Error("the call succeeded");
}

async function waitFor<T>(what: string, poll: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await poll();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const OUTPUT_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;
const DAY_MS = 86_400_000;

/** A migration source of the first `count` migrations (a store as an earlier version left it). */
function sourceOf(count: number): Knex.MigrationSource<string> {
  const list = MIGRATIONS.slice(0, count);
  return {
    getMigrations: async () => list.map(([name]) => name),
    getMigrationName: (name) => name,
    getMigration: async (name) => list.find(([n]) => n === name)![1],
  };
}

export function sessionsLiveSuite(title: string, newStore: SessionsStoreFactory): void {
  describe(`live sessions in the sessions service (${title})`, () => {
    let dir: string;
    let store: Awaited<ReturnType<SessionsStoreFactory>>;
    let db: Knex;
    const nodes: Node[] = [];
    let a: Node;
    let b: Node;

    async function startNode(env: Record<string, string> = {}): Promise<Node> {
      const config = loadConfig(
        { SERVICES: "providers,sessions", CONSOLE_MCP_SEED: "none", LOG_LEVEL: "fatal", ...store.env, ...env },
        "development",
      );
      const broker = createBroker(config, { logger: false });
      const node: Node = { broker, events: [] };
      broker.createService({
        name: "listener",
        events: {
          "sessions.changed"(ctx: { params: Session }) {
            node.events.push(ctx.params);
          },
        },
      });
      await broker.start();
      nodes.push(node);
      return node;
    }

    const create = async (node: Node, params: Record<string, unknown>) =>
      (await node.broker.call<{ session: Session }, Record<string, unknown>>("sessions.create", params)).session;
    const get = async (node: Node, id: string) =>
      (await node.broker.call<{ session: Session }, { session_id: string }>("sessions.get", { session_id: id })).session;
    const record = (node: Node, id: unknown, providerId: unknown) =>
      node.broker.call<{ session: Session }, Record<string, unknown>>("sessions.recordCall", { session_id: id, provider_id: providerId });
    const close = (node: Node, id: unknown) => node.broker.call<{ session: Session }, Record<string, unknown>>("sessions.close", { session_id: id });
    const eventsOf = (id: string) => [...a.events, ...b.events].filter((e) => e.id === id);

    beforeAll(async () => {
      dir = tempDir("console-mcp-sessions-live-");
      store = await newStore(dir);
      a = await startNode();
      b = await startNode();
      db = createKnex(store.knex);
    }, 60_000);

    afterAll(async () => {
      await db?.destroy();
      for (const n of nodes) await n.broker.stop().catch(() => undefined);
      await store?.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    }, 60_000);

    it("a new session is pending, never called, open, and announced", async () => {
      const s = await create(a, { provider_id: "gemini", client: "console" });
      expect(s).toMatchObject({ status: "pending", closed_at: null, last_call_at: null, call_count: 0 });
      expect(a.events.filter((e) => e.id === s.id)).toEqual([s]);
      expect(await get(b, s.id)).toEqual(s);
    });

    it("recordCall: pending → active, one more call each time, last_call_at set and announced", async () => {
      const s = await create(a, { provider_id: "codex", client: "cli" });
      const first = (await record(a, s.id, "codex")).session;
      expect(first).toEqual({ ...s, status: "active", call_count: 1, last_call_at: expect.stringMatching(OUTPUT_INSTANT) });
      expect(Date.parse(first.last_call_at!)).toBeGreaterThanOrEqual(Date.parse(s.created_at));
      const second = (await record(b, s.id, "codex")).session;
      expect(second).toMatchObject({ status: "active", call_count: 2, closed_at: null });
      expect(Date.parse(second.last_call_at!)).toBeGreaterThanOrEqual(Date.parse(first.last_call_at!));
      expect(await get(a, s.id)).toEqual(second);
      expect(a.events.filter((e) => e.id === s.id)).toEqual([s, first]);
      expect(b.events.filter((e) => e.id === s.id)).toEqual([second]);
    });

    it("recordCall: 404 unknown, 409 another server's session, 409 closed — and nothing changes", async () => {
      expect(await failure(record(a, "00000000-0000-4000-8000-000000000000", "gemini"))).toMatchObject({
        code: 404,
        message: "Session '00000000-0000-4000-8000-000000000000' not found",
      });
      expect(await failure(record(a, "a\u0000b", "gemini"))).toMatchObject({ code: 404 });
      expect(await failure(record(a, 42, "gemini"))).toMatchObject({ code: 404 });

      const s = await create(a, { provider_id: "glm46" });
      expect(await failure(record(a, s.id, "claude"))).toMatchObject({
        code: 409,
        message: `Session '${s.id}' belongs to server 'glm46', not 'claude'`,
      });
      expect(await failure(record(a, s.id, "glm46\u0000"))).toMatchObject({ code: 409 });
      expect(await get(a, s.id)).toEqual(s);

      await close(a, s.id);
      const closed = await get(a, s.id);
      expect(await failure(record(b, s.id, "glm46"))).toMatchObject({ code: 409, message: `Session '${s.id}' is closed` });
      // A closed session of another server: the other server's answer wins (the session is not usable there anyway).
      expect(await failure(record(b, s.id, "claude"))).toMatchObject({ code: 409, message: expect.stringContaining("belongs to server 'glm46'") });
      expect(await get(a, s.id)).toEqual(closed);
      expect(eventsOf(s.id).map((e) => e.status)).toEqual(["pending", "closed"]);
    });

    it("close: closed with closed_at, announced once; again → 200 with the same record; 404 unknown", async () => {
      const s = await create(a, { provider_id: "claude", reason: "r" });
      await record(a, s.id, "claude");
      const closed = (await close(b, s.id)).session;
      expect(closed).toMatchObject({ id: s.id, status: "closed", call_count: 1, reason: "r", closed_at: expect.stringMatching(OUTPUT_INSTANT) });
      expect(Date.parse(closed.closed_at!)).toBeGreaterThanOrEqual(Date.parse(closed.last_call_at!));
      expect((await close(a, s.id)).session).toEqual(closed);
      expect((await close(b, s.id)).session).toEqual(closed);
      expect(await get(a, s.id)).toEqual(closed);
      expect(eventsOf(s.id).map((e) => e.status)).toEqual(["pending", "active", "closed"]);
      expect(b.events.filter((e) => e.id === s.id && e.status === "closed")).toEqual([closed]);

      for (const id of ["missing", "a\u0000b", "\udc00", 7, null]) {
        expect(await failure(close(a, id))).toMatchObject({ code: 404, message: `Session '${String(id)}' not found` });
      }
    });

    it("status filters see pending, active and closed sessions", async () => {
      const { sessions } = await a.broker.call<{ sessions: Session[] }>("sessions.list");
      for (const status of ["pending", "active", "closed"]) {
        const filtered = await b.broker.call<{ sessions: Session[] }, Record<string, string>>("sessions.list", { status });
        expect(filtered.sessions.length).toBeGreaterThan(0);
        expect(filtered.sessions).toEqual(sessions.filter((s) => s.status === status));
      }
    });

    it("concurrent calls through two replicas all count, one event each", async () => {
      const s = await create(a, { provider_id: "gemini" });
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => record(i % 2 === 0 ? a : b, s.id, "gemini")));
      expect(answers.map((r) => r.session.call_count).sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      const after = await get(b, s.id);
      expect(after).toMatchObject({ status: "active", call_count: 40 });
      const newest = Math.max(...answers.map((r) => Date.parse(r.session.last_call_at!)));
      expect(Date.parse(after.last_call_at!)).toBe(newest);
      expect(eventsOf(s.id).filter((e) => e.status === "active")).toHaveLength(40);
    });

    it("calls racing a close either count or are refused as closed; none counts after it", async () => {
      const s = await create(a, { provider_id: "codex" });
      const outcomes = await Promise.allSettled([
        ...Array.from({ length: 15 }, (_, i) => record(i % 2 === 0 ? a : b, s.id, "codex")),
        close(b, s.id),
        ...Array.from({ length: 15 }, (_, i) => record(i % 2 === 0 ? b : a, s.id, "codex")),
      ]);
      const calls = outcomes.filter((_, i) => i !== 15);
      const counted = calls.filter((o) => o.status === "fulfilled").length;
      for (const o of calls) {
        if (o.status === "rejected") expect(o.reason).toMatchObject({ code: 409, message: `Session '${s.id}' is closed` });
      }
      const closed = outcomes[15];
      expect(closed.status).toBe("fulfilled");
      const after = await get(a, s.id);
      expect(after).toMatchObject({ status: "closed", call_count: counted });
      expect((closed as PromiseFulfilledResult<{ session: Session }>).value.session).toEqual(after);
      expect(await failure(record(a, s.id, "codex"))).toMatchObject({ code: 409 });
      expect((await get(b, s.id)).call_count).toBe(counted);
    });

    describe("idle expiry (CONSOLE_MCP_SESSION_IDLE_S, default one day)", () => {
      const ago = (ms: number) => toStoredInstant(Date.now() - ms);

      it("closes every session idle for a day, once, even with two replicas sweeping at once", async () => {
        const never = await create(a, { provider_id: "gemini", client: "never called" });
        const calledLongAgo = await create(a, { provider_id: "gemini", client: "called long ago" });
        const calledRecently = await create(a, { provider_id: "gemini", client: "called recently" });
        const fresh = await create(a, { provider_id: "gemini", client: "fresh" });
        const closedBefore = await create(a, { provider_id: "gemini", client: "closed before" });
        await record(a, calledLongAgo.id, "gemini");
        await record(a, calledRecently.id, "gemini");
        await close(a, closedBefore.id);
        await db("sessions")
          .where({ id: never.id })
          .update({ created_at: ago(2 * DAY_MS) });
        await db("sessions")
          .where({ id: calledLongAgo.id })
          .update({ created_at: ago(3 * DAY_MS), last_call_at: ago(DAY_MS + 60_000) });
        await db("sessions")
          .where({ id: calledRecently.id })
          .update({ created_at: ago(3 * DAY_MS), last_call_at: ago(DAY_MS - 60_000) });
        await db("sessions")
          .where({ id: closedBefore.id })
          .update({ created_at: ago(5 * DAY_MS) });
        const closedBeforeRow = await get(a, closedBefore.id);

        const swept = await Promise.all([a, b].map((n) => n.broker.call<{ closed: number }>("sessions.sweepIdle")));
        // Each idle session is closed by exactly one statement (a timer's sweep may have closed some first).
        expect(swept[0].closed + swept[1].closed).toBeLessThanOrEqual(2);
        for (const s of [never, calledLongAgo]) {
          const after = await get(b, s.id);
          expect(after).toMatchObject({ status: "closed", closed_at: expect.stringMatching(OUTPUT_INSTANT) });
          expect(eventsOf(s.id).filter((e) => e.status === "closed")).toEqual([after]);
        }
        expect(await get(a, never.id)).toMatchObject({ call_count: 0, last_call_at: null });
        expect(await get(a, calledRecently.id)).toMatchObject({ status: "active", closed_at: null });
        expect(await get(a, fresh.id)).toMatchObject({ status: "pending", closed_at: null });
        expect(await get(a, closedBefore.id)).toEqual(closedBeforeRow);
        expect(await failure(record(a, never.id, "gemini"))).toMatchObject({ code: 409, message: `Session '${never.id}' is closed` });
        expect((await a.broker.call<{ closed: number }>("sessions.sweepIdle")).closed).toBe(0);
      });

      it("0 turns expiry off", async () => {
        const off = await startNode({ CONSOLE_MCP_SESSION_IDLE_S: "0" });
        const s = await create(off, { provider_id: "claude" });
        await db("sessions")
          .where({ id: s.id })
          .update({ created_at: toStoredInstant(Date.parse("2001-01-01T00:00:00Z")) });
        expect(await off.broker.call("sessions.sweepIdle")).toEqual({ closed: 0 });
        expect(await get(off, s.id)).toMatchObject({ status: "pending", closed_at: null });
        await off.broker.stop();
        // A replica with expiry on closes it (this sweep, or its timer's just before).
        await a.broker.call("sessions.sweepIdle");
        expect(await get(a, s.id)).toMatchObject({ status: "closed" });
      });

      it("the sweep runs by itself: with 1 s, an uncalled session closes on its own", async () => {
        const quick = await startNode({ CONSOLE_MCP_SESSION_IDLE_S: "1" });
        const s = await create(quick, { provider_id: "codex" });
        const closed = await waitFor("the session closed by the sweep", async () => {
          const now = await get(quick, s.id);
          return now.status === "closed" ? now : undefined;
        });
        expect(Date.parse(closed.closed_at!) - Date.parse(s.created_at)).toBeGreaterThanOrEqual(1000);
        expect(await waitFor("its event", () => quick.events.find((e) => e.id === s.id && e.status === "closed"))).toEqual(closed);
        await quick.broker.stop();
      });
    });
  });

  describe(`migration 013_sessions_live on rows stored before it (${title})`, () => {
    let dir: string;
    let store: Awaited<ReturnType<SessionsStoreFactory>>;
    let db: Knex;
    const firstNew = MIGRATIONS.findIndex(([name]) => name === "013_sessions_live");

    beforeAll(async () => {
      dir = tempDir("console-mcp-sessions-migration-");
      store = await newStore(dir);
      db = createKnex(store.knex);
    }, 60_000);

    afterAll(async () => {
      await db?.destroy();
      await store?.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    }, 60_000);

    it("pending stays pending and uncalled, closed gets closed_at = created_at, anything else becomes pending", async () => {
      await db.migrate.latest({ migrationSource: sourceOf(firstNew) });
      const row = (id: string, status: string, createdAt: string) => ({
        id,
        provider_id: "gemini",
        created_at: createdAt,
        status,
        reason: null,
        client: null,
        options: "{}",
      });
      await db("sessions").insert([
        row("s-pending", "pending", "2025-01-01T00:00:00.000Z"),
        row("s-closed", "closed", "2025-01-02T00:00:00.000Z"),
        row("s-odd", "archived", "2025-01-03T00:00:00.000Z"),
        row("s-active", "active", "2025-01-04T00:00:00.000Z"),
      ]);
      expect(await migrateToLatest(db)).toEqual(MIGRATIONS.slice(firstNew).map(([name]) => name));
      const rows = await db("sessions").select("id", "status", "closed_at", "last_call_at", "call_count").orderBy("seq");
      expect(rows.map((r) => ({ ...r, call_count: Number(r.call_count) }))).toEqual([
        { id: "s-pending", status: "pending", closed_at: null, last_call_at: null, call_count: 0 },
        { id: "s-closed", status: "closed", closed_at: "2025-01-02T00:00:00.000Z", last_call_at: null, call_count: 0 },
        { id: "s-odd", status: "pending", closed_at: null, last_call_at: null, call_count: 0 },
        { id: "s-active", status: "active", closed_at: null, last_call_at: null, call_count: 0 },
      ]);
    });

    it("the service answers those rows with the new fields", async () => {
      const config = loadConfig(
        { SERVICES: "providers,sessions", CONSOLE_MCP_SEED: "none", LOG_LEVEL: "fatal", CONSOLE_MCP_SESSION_IDLE_S: "0", ...store.env },
        "development",
      );
      const broker = createBroker(config, { logger: false });
      await broker.start();
      try {
        const { sessions } = await broker.call<{ sessions: Session[] }>("sessions.list");
        expect(sessions.map((s) => [s.id, s.status, s.closed_at, s.last_call_at, s.call_count])).toEqual([
          ["s-pending", "pending", null, null, 0],
          ["s-closed", "closed", "2025-01-02T00:00:00Z", null, 0],
          ["s-odd", "pending", null, null, 0],
          ["s-active", "active", null, null, 0],
        ]);
        expect(
          (await broker.call<{ session: Session }, Record<string, string>>("sessions.recordCall", { session_id: "s-pending", provider_id: "gemini" }))
            .session,
        ).toMatchObject({ status: "active", call_count: 1 });
      } finally {
        await broker.stop();
      }
    });

    it("its down migration removes the columns and keeps the sessions", async () => {
      // Later migrations are undone first, one at a time (newest first), down to this one.
      for (let i = MIGRATIONS.length - 1; i >= firstNew; i--) await db.migrate.down({ migrationSource: sourceOf(MIGRATIONS.length) });
      expect(await db.schema.hasColumn("sessions", "call_count")).toBe(false);
      expect(await db.schema.hasColumn("sessions", "closed_at")).toBe(false);
      expect((await db("sessions").select("id", "status").orderBy("seq")).map((r) => r.id)).toEqual(["s-pending", "s-closed", "s-odd", "s-active"]);
      await migrateToLatest(db);
      expect(await db.schema.hasColumn("sessions", "call_count")).toBe(true);
    });
  });
}

/** The SQLite store of the suite: a file in the suite's temporary folder. */
export const sessionsStoreOnSqlite: SessionsStoreFactory = async (dir) => {
  const dbPath = path.join(dir, "console.db");
  return { env: { CONSOLE_MCP_DB_PATH: dbPath }, knex: { dbUrl: null, dbPath }, drop: async () => undefined };
};
