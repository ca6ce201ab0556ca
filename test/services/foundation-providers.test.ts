/**
 * The providers service in an in-process broker: its actions, and the manifest reload when the file
 * changes (the watcher polls every second).
 */
import fs from "node:fs";
import path from "node:path";
import type { ServiceBroker } from "moleculer";
import { loadConfig } from "../../lib/config";
import { createBroker } from "../../lib/server";
import { providerBaseline } from "../../lib/lanes";
import { tempDir } from "../helpers/server";

const EXAMPLE = [
  { id: "gemini", name: "Gemini MCP", command: "g", capabilities: ["chat", "tools"], tags: ["llm"] },
  { id: "codex", name: "Codex CLI", command: "c", lane: "economy" },
  { id: "glm46", name: "GLM-4.6", command: "z", description: "zhipu", transport: "http" },
];

function waitFor<T>(what: string, poll: () => T | undefined, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      const value = poll();
      if (value !== undefined) return resolve(value);
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 50);
    };
    tick();
  });
}

describe("providers service", () => {
  let dir: string;
  let manifestPath: string;
  let broker: ServiceBroker;
  const changes: { ids: string[] }[] = [];
  let startedAt: number;

  beforeAll(async () => {
    dir = tempDir();
    manifestPath = path.join(dir, "servers.json");
    fs.writeFileSync(manifestPath, JSON.stringify({ providers: EXAMPLE }));
    const config = loadConfig(
      {
        SERVICES: "providers",
        CONSOLE_MCP_SERVERS_PATH: manifestPath,
        CONSOLE_MCP_DB_PATH: path.join(dir, "console.db"),
        CONSOLE_MCP_SEED: "none",
        LOG_LEVEL: "fatal",
      },
      "development",
    );
    broker = createBroker(config, { logger: false });
    broker.createService({
      name: "manifest-listener",
      events: {
        "providers.changed"(ctx: { params: { ids: string[] } }) {
          changes.push(ctx.params);
        },
      },
    });
    startedAt = Date.now();
    await broker.start();
  });

  afterAll(async () => {
    await broker.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("list: every provider in manifest order with its effective lane and baselines", async () => {
    const list = await broker.call<Record<string, unknown>[], Record<string, never>>("providers.list", {});
    expect(list.map((p) => p.id)).toEqual(["gemini", "codex", "glm46"]);
    expect(list[0]).toEqual({
      id: "gemini",
      summary: {
        id: "gemini",
        name: "Gemini MCP",
        command: "g",
        description: "",
        tags: ["llm"],
        capabilities: ["chat", "tools"],
        transport: "stdio",
        is_available: true,
      },
      declared_lane: null,
      ...providerBaseline("gemini"),
    });
    expect(list[0]).toMatchObject({ lane: "balanced", cost_per_million: 20.33, latency_p95: 1755, reliability: 98.5, capacity_score: 96 });
    expect(list[1]).toMatchObject({ lane: "economy", declared_lane: "economy", cost_per_million: 12, latency_p95: 2376 });
    expect(list[2]).toMatchObject({ lane: "turbo", cost_per_million: 36.8, latency_p95: 640 });
  });

  it("get: one profile, or a 404 contract error", async () => {
    const codex = await broker.call<Record<string, unknown>, { id: string }>("providers.get", { id: "codex" });
    expect(codex).toMatchObject({ id: "codex", lane: "economy", summary: { name: "Codex CLI" } });
    await expect(broker.call("providers.get", { id: "nope" })).rejects.toMatchObject({
      code: 404,
      type: "CONTRACT_ERROR",
      message: "Provider 'nope' not found",
    });
    await expect(broker.call("providers.get", {})).rejects.toMatchObject({ code: 422 });
  });

  it("catalog: ProviderSummary list (no lane)", async () => {
    const { providers } = await broker.call<{ providers: Record<string, unknown>[] }>("providers.catalog");
    expect(providers.map((p) => p.id)).toEqual(["gemini", "codex", "glm46"]);
    expect(providers[2]).toEqual({
      id: "glm46",
      name: "GLM-4.6",
      command: "z",
      description: "zhipu",
      tags: [],
      capabilities: [],
      transport: "http",
      is_available: true,
    });
    expect(providers.every((p) => !("lane" in p))).toBe(true);
  });

  it("servers: the seven fields, the catalog fields of runtime-contract §17.3, and the load instant as created_at = updated_at", async () => {
    const { servers } = await broker.call<{ servers: Record<string, unknown>[] }>("providers.servers");
    expect(servers.map((s) => s.id)).toEqual(["gemini", "codex", "glm46"]);
    expect(Object.keys(servers[0]).sort()).toEqual([
      "args",
      "autostart",
      "capabilities",
      "command",
      "created_at",
      "cwd",
      "degraded_latency_ms",
      "description",
      "env",
      "id",
      "max_restarts",
      "name",
      "restart",
      "secret_env",
      "source",
      "startup_timeout_s",
      "tags",
      "tool_timeout_s",
      "transport",
      "updated_at",
    ]);
    expect(servers[0]).toMatchObject({ source: "manifest", args: [], env: {}, secret_env: "GEMINI_API_KEY" });
    const instants = new Set(servers.flatMap((s) => [s.created_at, s.updated_at]));
    expect(instants.size).toBe(1);
    const loadedAt = Date.parse([...instants][0] as string);
    expect(loadedAt).toBeGreaterThanOrEqual(startedAt - 5000);
    expect(loadedAt).toBeLessThanOrEqual(Date.now());
  });

  it("reloads a changed manifest, emits providers.changed, and keeps the old one when a rewrite is broken", async () => {
    const before = await broker.call<{ servers: Record<string, unknown>[] }>("providers.servers");
    // The first start wrote the manifest into the empty catalog: one change (runtime-contract §17.4).
    expect(changes).toEqual([{ ids: ["gemini", "codex", "glm46"] }]);
    changes.length = 0;

    // A valid rewrite: new order, a provider removed, one added.
    fs.writeFileSync(manifestPath, JSON.stringify({ providers: [{ id: "claude", name: "Claude MCP", command: "cl" }, EXAMPLE[0]] }));
    const changed = await waitFor("providers.changed", () => changes[0]);
    expect(changed).toEqual({ ids: ["claude", "gemini"] });
    const list = await broker.call<{ id: string }[]>("providers.list");
    expect(list.map((p) => p.id)).toEqual(["claude", "gemini"]);
    await expect(broker.call("providers.get", { id: "codex" })).rejects.toMatchObject({ code: 404 });

    // runtime-contract §17.3: an unchanged entry keeps its instants; a new one gets the instant it entered the catalog.
    const after = await broker.call<{ servers: Record<string, unknown>[] }>("providers.servers");
    expect(after.servers.map((s) => s.id)).toEqual(["claude", "gemini"]);
    expect(after.servers[1].created_at).toBe(before.servers[0].created_at);
    expect(after.servers[1].updated_at).toBe(before.servers[0].updated_at);
    expect(after.servers[0].updated_at).toBe(after.servers[0].created_at);
    expect(Date.parse(after.servers[0].created_at as string)).toBeGreaterThan(Date.parse(before.servers[0].created_at as string));

    // A broken rewrite (duplicate id) is ignored: the previous manifest stays, no event.
    fs.writeFileSync(
      manifestPath,
      JSON.stringify({
        providers: [
          { id: "x", name: "X", command: "x" },
          { id: "x", name: "X2", command: "x2" },
          { id: "filler", name: "F", command: "f" },
        ],
      }),
    );
    await new Promise((r) => setTimeout(r, 2500));
    expect(changes).toHaveLength(1);
    expect((await broker.call<{ id: string }[]>("providers.list")).map((p) => p.id)).toEqual(["claude", "gemini"]);

    // Invalid JSON is ignored too.
    fs.writeFileSync(manifestPath, "{ not json");
    await new Promise((r) => setTimeout(r, 2500));
    expect(changes).toHaveLength(1);
    expect((await broker.call<{ providers: { id: string }[] }>("providers.catalog")).providers.map((p) => p.id)).toEqual(["claude", "gemini"]);

    // A later valid rewrite is picked up again.
    fs.writeFileSync(manifestPath, JSON.stringify({ providers: [EXAMPLE[1]] }));
    const second = await waitFor("second providers.changed", () => changes[1]);
    expect(second).toEqual({ ids: ["codex"] });
  }, 20000);
});
