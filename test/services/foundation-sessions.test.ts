/**
 * The sessions service with the providers service in an in-process broker, on a temporary SQLite
 * file: create, list and get through the broker.
 */
import path from "node:path";
import type { ServiceBroker } from "moleculer";
import { loadConfig } from "../../lib/config";
import { createBroker } from "../../lib/server";
import { createKnex } from "../../lib/store/knex";
import { tempDir } from "../helpers/server";
import fs from "node:fs";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const OUTPUT_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

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

describe("sessions service", () => {
  let dir: string;
  let broker: ServiceBroker;
  let dbPath: string;

  function start(): Promise<void> {
    const config = loadConfig(
      { SERVICES: "providers,sessions", CONSOLE_MCP_DB_PATH: dbPath, CONSOLE_MCP_SEED: "none", LOG_LEVEL: "fatal" },
      "development",
    );
    broker = createBroker(config, { logger: false });
    return broker.start();
  }

  beforeAll(async () => {
    dir = tempDir();
    dbPath = path.join(dir, "nested", "console.db");
    await start();
  });

  afterAll(async () => {
    await broker.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("starts with no sessions", async () => {
    expect(await broker.call("sessions.list")).toEqual({ sessions: [] });
  });

  it("creates a pending session and answers it with the provider summary", async () => {
    const before = Date.now();
    const out = await broker.call<{ session: Session; provider: Record<string, unknown> }, Record<string, unknown>>("sessions.create", {
      provider_id: "gemini",
      reason: "triage",
      client: "console",
    });
    expect(out.session).toEqual({
      id: expect.stringMatching(UUID_V4),
      provider_id: "gemini",
      created_at: expect.stringMatching(OUTPUT_INSTANT),
      status: "pending",
      reason: "triage",
      client: "console",
      closed_at: null,
      last_call_at: null,
      call_count: 0,
    });
    const created = Date.parse(out.session.created_at);
    expect(created).toBeGreaterThanOrEqual(before);
    expect(created).toBeLessThanOrEqual(Date.now());
    expect(out.provider).toEqual({
      id: "gemini",
      name: "Gemini MCP",
      command: "~/.local/bin/gemini-mcp",
      description: "Google Gemini router exposed via local MCP bridge",
      tags: ["llm", "google"],
      capabilities: ["chat", "tools"],
      transport: "stdio",
      is_available: true,
    });
  });

  it("defaults reason and client to null; keeps extra keys out of the session", async () => {
    const a = await broker.call<{ session: Session }, Record<string, unknown>>("sessions.create", { provider_id: "codex" });
    expect(a.session).toMatchObject({ provider_id: "codex", reason: null, client: null, status: "pending" });
    const b = await broker.call<{ session: Session }, Record<string, unknown>>("sessions.create", {
      provider_id: "claude",
      reason: null,
      client: "cli",
      overrides: { temperature: 0.2 },
    });
    expect(Object.keys(b.session).sort()).toEqual([
      "call_count",
      "client",
      "closed_at",
      "created_at",
      "id",
      "last_call_at",
      "provider_id",
      "reason",
      "status",
    ]);
    expect(b.session).toMatchObject({ provider_id: "claude", reason: null, client: "cli" });
  });

  it("lists every session oldest first and gets one by id", async () => {
    const { sessions } = await broker.call<{ sessions: Session[] }>("sessions.list");
    expect(sessions.map((s) => s.provider_id)).toEqual(["gemini", "codex", "claude"]);
    expect(new Set(sessions.map((s) => s.id)).size).toBe(3);
    for (const s of sessions) {
      expect(await broker.call("sessions.get", { session_id: s.id })).toEqual({ session: s });
    }
  });

  it("rejects wrong field types with 422 and the body location", async () => {
    await expect(broker.call("sessions.create", { provider_id: "gemini", reason: 5 })).rejects.toMatchObject({
      code: 422,
      data: [expect.objectContaining({ loc: ["body", "reason"] })],
    });
    const err = (await broker.call("sessions.create", { provider_id: "gemini", reason: [], client: { a: 1 } }).catch((e: unknown) => e)) as {
      code: number;
      data: { loc: unknown[] }[];
    };
    expect(err.code).toBe(422);
    expect(err.data.map((i) => i.loc)).toEqual([
      ["body", "reason"],
      ["body", "client"],
    ]);
  });

  it("validates the body before looking the provider up (422, not 404)", async () => {
    await expect(broker.call("sessions.create", { provider_id: "nope", client: true })).rejects.toMatchObject({ code: 422 });
  });

  it("404 for an unknown provider, and nothing is stored", async () => {
    await expect(broker.call("sessions.create", { provider_id: "nope" })).rejects.toMatchObject({
      code: 404,
      message: "Provider 'nope' not found",
    });
    expect((await broker.call<{ sessions: Session[] }>("sessions.list")).sessions).toHaveLength(3);
  });

  it("404 for an unknown session id", async () => {
    await expect(broker.call("sessions.get", { session_id: "00000000-0000-4000-8000-000000000000" })).rejects.toMatchObject({
      code: 404,
      message: "Session '00000000-0000-4000-8000-000000000000' not found",
    });
  });

  it("stores instants in the fixed-width form and keeps extra keys as options", async () => {
    const knex = createKnex({ dbUrl: null, dbPath });
    try {
      const rows = await knex("sessions").select().orderBy("seq");
      expect(rows).toHaveLength(3);
      for (const row of rows) expect(row.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      expect(JSON.parse(rows[2].options)).toEqual({ overrides: { temperature: 0.2 } });
      expect(JSON.parse(rows[0].options)).toEqual({});
    } finally {
      await knex.destroy();
    }
  });

  it("answers the store ping once prepared", async () => {
    expect(await broker.call("sessions.storePing")).toEqual({ ok: true });
  });

  it("keeps the sessions across a restart on the same file", async () => {
    const { sessions } = await broker.call<{ sessions: Session[] }>("sessions.list");
    await broker.stop();
    await start();
    expect(await broker.call("sessions.list")).toEqual({ sessions });
  });
});
