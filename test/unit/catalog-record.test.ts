/**
 * services/providers/server-record.ts and the manifest's runtime fields (runtime-contract §17): the
 * Server record with its defaults, the validation of HTTP writes (§17.4) and of the manifest (§17.2),
 * PUT's merge, and the plan that writes the manifest into the catalog (§17.1).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ValidationItem } from "../../lib/errors";
import { loadManifest, ManifestError, manifestServerFields } from "../../services/providers/manifest";
import {
  CatalogEntry,
  compareEntries,
  defaultSecretEnv,
  manifestRuntimeFields,
  NO_RUNTIME_FIELDS,
  planIsEmpty,
  planManifestSync,
  sameFields,
  ServerFields,
  serverFieldsToCreate,
  serverFieldsToUpdate,
  toServer,
} from "../../services/providers/server-record";

const ROOT = "/srv/console";

function fields(id: string, extra: Partial<ServerFields> = {}): ServerFields {
  return {
    id,
    name: id.toUpperCase(),
    command: `run-${id}`,
    description: "",
    tags: [],
    capabilities: [],
    transport: "stdio",
    lane: null,
    ...NO_RUNTIME_FIELDS,
    ...extra,
  };
}

function entry(id: string, source: "manifest" | "api", position: number, extra: Partial<CatalogEntry> = {}): CatalogEntry {
  return { ...fields(id), source, position, created_at: "2025-01-01T00:00:00.000Z", updated_at: "2025-01-01T00:00:00.000Z", ...extra };
}

function createItems(body: Record<string, unknown>): ValidationItem[] {
  const r = serverFieldsToCreate(body);
  if (!("items" in r)) throw new Error(`accepted: ${JSON.stringify(body)}`);
  return r.items;
}

function created(body: Record<string, unknown>): ServerFields {
  const r = serverFieldsToCreate(body);
  if ("items" in r) throw new Error(`refused: ${JSON.stringify(r.items)}`);
  return r.fields;
}

const BASE = { id: "files", name: "Files", command: "npx -y @modelcontextprotocol/server-filesystem /tmp" };

describe("defaultSecretEnv (§17.2)", () => {
  it.each([
    ["gemini", "GEMINI_API_KEY"],
    ["my-server.v2", "MY_SERVER_V2_API_KEY"],
    ["a_b", "A_B_API_KEY"],
    ["glm46", "GLM46_API_KEY"],
  ])("%s → %s", (id, name) => {
    expect(defaultSecretEnv(id)).toBe(name);
  });
});

describe("toServer (§17.3)", () => {
  it("materialises every default: args [], env {}, cwd = project root, the §17.2 values, timestamps in output form", () => {
    const server = toServer(entry("gemini", "manifest", 0, { created_at: "2025-03-07T21:45:12.000Z", updated_at: "2025-03-08T01:02:03.456Z" }), ROOT);
    expect(server).toEqual({
      id: "gemini",
      name: "GEMINI",
      command: "run-gemini",
      description: "",
      tags: [],
      capabilities: [],
      transport: "stdio",
      args: [],
      env: {},
      cwd: ROOT,
      autostart: false,
      startup_timeout_s: 30,
      secret_env: "GEMINI_API_KEY",
      restart: "on-failure",
      max_restarts: 5,
      degraded_latency_ms: 1000,
      tool_timeout_s: 60,
      source: "manifest",
      created_at: "2025-03-07T21:45:12Z",
      updated_at: "2025-03-08T01:02:03.456Z",
    });
    expect(Object.keys(server).slice(0, 7)).toEqual(["id", "name", "command", "description", "tags", "capabilities", "transport"]);
  });

  it("shows the stored values, and shares nothing with the entry", () => {
    const e = entry("x", "api", 3, {
      args: ["--port", "1"],
      env: { A: "1" },
      cwd: "~/work",
      autostart: true,
      startup_timeout_s: 2.5,
      secret_env: "TOKEN",
      restart: "never",
      max_restarts: 0,
      degraded_latency_ms: 1,
      tool_timeout_s: 600,
      tags: ["t"],
    });
    const server = toServer(e, ROOT);
    expect(server).toMatchObject({
      args: ["--port", "1"],
      env: { A: "1" },
      cwd: "~/work",
      autostart: true,
      startup_timeout_s: 2.5,
      secret_env: "TOKEN",
      restart: "never",
      max_restarts: 0,
      degraded_latency_ms: 1,
      tool_timeout_s: 600,
      source: "api",
    });
    server.args.push("mutated");
    server.env.B = "2";
    server.tags.push("mutated");
    expect(e.args).toEqual(["--port", "1"]);
    expect(e.env).toEqual({ A: "1" });
    expect(e.tags).toEqual(["t"]);
  });
});

describe("compareEntries: manifest order, then API servers by creation (§17.1)", () => {
  it("sorts", () => {
    const list = [entry("z", "api", 0), entry("b", "manifest", 1), entry("y", "api", 1), entry("a", "manifest", 0)];
    expect(list.sort(compareEntries).map((e) => e.id)).toEqual(["a", "b", "z", "y"]);
  });
});

describe("serverFieldsToCreate: POST /servers (§17.4)", () => {
  it("takes id, name and command; everything else gets its default (absent or null); unknown keys are ignored", () => {
    expect(created(BASE)).toEqual({ ...fields("files"), name: "Files", command: BASE.command });
    const withNulls = created({
      ...BASE,
      description: null,
      tags: null,
      capabilities: null,
      transport: null,
      args: null,
      env: null,
      cwd: null,
      autostart: null,
      startup_timeout_s: null,
      secret_env: null,
      restart: null,
      max_restarts: null,
      degraded_latency_ms: null,
      tool_timeout_s: null,
      source: "manifest",
      created_at: "x",
      lane: "turbo",
      overrides: { a: 1 },
    });
    expect(withNulls).toEqual({ ...fields("files"), name: "Files", command: BASE.command });
  });

  it("keeps every field given", () => {
    const f = created({
      ...BASE,
      name: "  Files  ",
      description: "d",
      tags: ["fs"],
      capabilities: ["tools"],
      transport: "stdio",
      args: ["-y", "pkg"],
      // As a JSON body holds it: "__proto__" an own key.
      env: JSON.parse('{"ZED": "z", "ALPHA": "${HOME}/a", "__proto__": "p"}'),
      cwd: "~/x",
      autostart: true,
      startup_timeout_s: "12.5",
      secret_env: "FILES_TOKEN",
      restart: "always",
      max_restarts: 100,
      degraded_latency_ms: 60000,
      tool_timeout_s: 1,
    });
    expect(f).toMatchObject({
      name: "Files",
      description: "d",
      tags: ["fs"],
      capabilities: ["tools"],
      args: ["-y", "pkg"],
      cwd: "~/x",
      autostart: true,
      startup_timeout_s: 12.5,
      secret_env: "FILES_TOKEN",
      restart: "always",
      max_restarts: 100,
      degraded_latency_ms: 60000,
      tool_timeout_s: 1,
    });
    // env: keys in code-point order, every key an own data property ("__proto__" is just a name).
    expect(Object.keys(f.env as object)).toEqual(["ALPHA", "ZED", "__proto__"]);
    expect(Object.getPrototypeOf(f.env)).toBe(Object.prototype);
    expect(Object.hasOwn(f.env as object, "__proto__")).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("missing id, name and command: one item each", () => {
    expect(createItems({})).toEqual([
      { type: "missing", loc: ["body", "id"], msg: "Field required" },
      { type: "missing", loc: ["body", "name"], msg: "Field required" },
      { type: "missing", loc: ["body", "command"], msg: "Field required" },
    ]);
    expect(createItems({ ...BASE, name: null, command: null }).map((i) => [i.type, i.loc])).toEqual([
      ["string_type", ["body", "name"]],
      ["string_type", ["body", "command"]],
    ]);
  });

  it.each([
    ["", "too_short"],
    [".hidden", "string_pattern_mismatch"],
    ["-x", "string_pattern_mismatch"],
    ["a/b", "string_pattern_mismatch"],
    ["a b", "string_pattern_mismatch"],
    ["é", "string_pattern_mismatch"],
    ["x".repeat(65), "too_long"],
    ["processes", "value_error"],
    [7, "string_type"],
    [["a"], "string_type"],
    ["a\u0000", "string_unicode"],
  ])("id %j → 422 %s at [body, id]", (id, type) => {
    const items = createItems({ ...BASE, id });
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ type, loc: ["body", "id"] });
  });

  it.each(["a", "A.b_c-9", "0", "x".repeat(64), "Processes", "processes2"])("id %j is accepted", (id) => {
    expect(created({ ...BASE, id }).id).toBe(id);
  });

  it.each([
    [{ name: "   " }, "too_short", ["body", "name"]],
    [{ name: "n".repeat(257) }, "too_long", ["body", "name"]],
    [{ name: 1 }, "string_type", ["body", "name"]],
    [{ command: "" }, "too_short", ["body", "command"]],
    [{ command: "  " }, "too_short", ["body", "command"]],
    [{ command: "c".repeat(1025) }, "too_long", ["body", "command"]],
    [{ command: ["npx"] }, "string_type", ["body", "command"]],
    [{ description: "d".repeat(1025) }, "too_long", ["body", "description"]],
    [{ tags: "llm" }, "list_type", ["body", "tags"]],
    [{ tags: Array.from({ length: 65 }, (_, i) => `t${i}`) }, "too_long", ["body", "tags"]],
    [{ tags: ["ok", "t".repeat(65)] }, "too_long", ["body", "tags", 1]],
    [{ capabilities: [1] }, "string_type", ["body", "capabilities", 0]],
    [{ transport: "http" }, "literal_error", ["body", "transport"]],
    [{ transport: "sse" }, "literal_error", ["body", "transport"]],
    [{ args: "-y pkg" }, "list_type", ["body", "args"]],
    [{ args: ["ok", 2] }, "string_type", ["body", "args", 1]],
    [{ args: ["a\u0000"] }, "string_unicode", ["body", "args", 0]],
    [{ env: ["A=1"] }, "dict_type", ["body", "env"]],
    [{ env: { "1A": "x" } }, "string_pattern_mismatch", ["body", "env", "1A"]],
    [{ env: { "A-B": "x" } }, "string_pattern_mismatch", ["body", "env", "A-B"]],
    [{ env: { A: 1 } }, "string_type", ["body", "env", "A"]],
    [{ env: { A: "v".repeat(8193) } }, "too_long", ["body", "env", "A"]],
    [{ cwd: "" }, "too_short", ["body", "cwd"]],
    [{ cwd: 5 }, "string_type", ["body", "cwd"]],
    [{ autostart: "true" }, "bool_type", ["body", "autostart"]],
    [{ autostart: 1 }, "bool_type", ["body", "autostart"]],
    [{ startup_timeout_s: 0 }, "greater_than_equal", ["body", "startup_timeout_s"]],
    [{ startup_timeout_s: 600.5 }, "less_than_equal", ["body", "startup_timeout_s"]],
    [{ startup_timeout_s: "soon" }, "float_parsing", ["body", "startup_timeout_s"]],
    [{ startup_timeout_s: true }, "float_parsing", ["body", "startup_timeout_s"]],
    [{ secret_env: "MY-KEY" }, "string_pattern_mismatch", ["body", "secret_env"]],
    [{ secret_env: "" }, "too_short", ["body", "secret_env"]],
    [{ restart: "sometimes" }, "literal_error", ["body", "restart"]],
    [{ max_restarts: 1.5 }, "int_type", ["body", "max_restarts"]],
    [{ max_restarts: "5" }, "int_type", ["body", "max_restarts"]],
    [{ max_restarts: -1 }, "greater_than_equal", ["body", "max_restarts"]],
    [{ max_restarts: 101 }, "less_than_equal", ["body", "max_restarts"]],
    [{ degraded_latency_ms: 0 }, "greater_than_equal", ["body", "degraded_latency_ms"]],
    [{ degraded_latency_ms: 60001 }, "less_than_equal", ["body", "degraded_latency_ms"]],
    [{ tool_timeout_s: 0.5 }, "greater_than_equal", ["body", "tool_timeout_s"]],
    [{ tool_timeout_s: {} }, "float_parsing", ["body", "tool_timeout_s"]],
  ])("%j → 422 %s at %j", (extra, type, loc) => {
    const items = createItems({ ...BASE, ...extra });
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ type, loc });
  });

  it("transport other than stdio: the message says so", () => {
    expect(createItems({ ...BASE, transport: "http" })[0]).toMatchObject({ msg: "only stdio is supported", input: "http" });
  });

  it("a long text is not echoed back", () => {
    const [item] = createItems({ ...BASE, description: "d".repeat(5000) });
    expect(item.input).toBeUndefined();
  });

  it("reports every bad field at once", () => {
    const items = createItems({ id: "processes", name: "", command: 3, restart: "x", env: { "=": "1" } });
    expect(items.map((i) => i.loc)).toEqual([
      ["body", "id"],
      ["body", "name"],
      ["body", "command"],
      ["body", "env", "="],
      ["body", "restart"],
    ]);
  });

  it("numbers at their bounds are accepted", () => {
    const f = created({ ...BASE, startup_timeout_s: 1, tool_timeout_s: 600, max_restarts: 0, degraded_latency_ms: 1 });
    expect(f).toMatchObject({ startup_timeout_s: 1, tool_timeout_s: 600, max_restarts: 0, degraded_latency_ms: 1 });
  });
});

describe("serverFieldsToUpdate: PUT /servers/{id} (§17.4)", () => {
  const stored: ServerFields = {
    ...fields("files"),
    description: "old",
    tags: ["a"],
    args: ["-y"],
    env: { A: "1" },
    cwd: "/x",
    autostart: true,
    restart: "never",
  };

  function apply(body: Record<string, unknown>): ServerFields {
    const r = serverFieldsToUpdate(body);
    if ("items" in r) throw new Error(JSON.stringify(r.items));
    return r.apply(stored);
  }

  it("replaces the fields given and keeps the omitted ones (the UI's dialog sends only the nine UI fields)", () => {
    const next = apply({ name: "New", command: "new-cmd", description: "d", tags: ["b"], capabilities: ["c"], transport: "stdio" });
    expect(next).toEqual({ ...stored, name: "New", command: "new-cmd", description: "d", tags: ["b"], capabilities: ["c"] });
    expect(next.args).toEqual(["-y"]);
    expect(next.env).toEqual({ A: "1" });
  });

  it("null resets an optional field to its default; id is ignored", () => {
    const next = apply({ id: "other", description: null, tags: null, args: null, env: null, cwd: null, autostart: null, restart: null });
    expect(next).toEqual({ ...stored, description: "", tags: [], args: null, env: null, cwd: null, autostart: null, restart: null });
    expect(next.id).toBe("files");
  });

  it("an empty body changes nothing", () => {
    expect(sameFields(apply({}), stored)).toBe(true);
  });

  it("null name or command → 422 at their loc", () => {
    const r = serverFieldsToUpdate({ name: null, command: null });
    expect("items" in r && r.items.map((i) => [i.type, i.loc, i.msg])).toEqual([
      ["string_type", ["body", "name"], "Input should be a valid string (name cannot be reset)"],
      ["string_type", ["body", "command"], "Input should be a valid string (command cannot be reset)"],
    ]);
  });

  it("checks the fields given like POST", () => {
    const r = serverFieldsToUpdate({ transport: "http", max_restarts: 1000, id: 5 });
    expect("items" in r && r.items.map((i) => i.loc)).toEqual([
      ["body", "transport"],
      ["body", "max_restarts"],
    ]);
  });
});

describe("manifestRuntimeFields (§17.2)", () => {
  it("null and absent are not given", () => {
    expect(manifestRuntimeFields({ args: null }, ["providers", 0])).toEqual({ fields: NO_RUNTIME_FIELDS });
  });

  it("locates a bad field inside the entry", () => {
    const r = manifestRuntimeFields({ env: { OK: "1", BAD: 2 } }, ["providers", 2]);
    expect("items" in r && r.items[0].loc).toEqual(["providers", 2, "env", "BAD"]);
  });
});

describe("the manifest's runtime fields (loadManifest)", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "catalog-manifest-"));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function write(providers: unknown[]): string {
    const file = path.join(dir, `m-${Math.random().toString(36).slice(2)}.json`);
    fs.writeFileSync(file, JSON.stringify({ providers }));
    return file;
  }

  it("keeps the runtime fields given and writes them into the catalog fields; the rest stay not given", () => {
    const file = write([
      {
        id: "fs",
        name: "FS",
        command: "npx",
        args: ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
        env: { B: "2", A: "1" },
        autostart: true,
        restart: "always",
        tool_timeout_s: 5,
      },
      { id: "plain", name: "P", command: "p", cwd: null },
    ]);
    const [fsEntry, plain] = loadManifest(file).providers;
    expect(fsEntry).toEqual({
      id: "fs",
      name: "FS",
      command: "npx",
      description: "",
      tags: [],
      capabilities: [],
      transport: "stdio",
      args: ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
      env: { A: "1", B: "2" },
      autostart: true,
      restart: "always",
      tool_timeout_s: 5,
    });
    expect(Object.keys(plain)).toEqual(["id", "name", "command", "description", "tags", "capabilities", "transport"]);
    expect(manifestServerFields(fsEntry)).toEqual({
      ...fields("fs"),
      name: "FS",
      command: "npx",
      args: ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
      env: { A: "1", B: "2" },
      autostart: true,
      restart: "always",
      tool_timeout_s: 5,
    });
    expect(manifestServerFields(plain)).toEqual({ ...fields("plain"), name: "P", command: "p" });
  });

  it.each([
    [{ startup_timeout_s: 0 }, "providers[1].startup_timeout_s"],
    [{ restart: "maybe" }, "providers[1].restart"],
    [{ args: "-y x" }, "providers[1].args"],
    [{ env: { "NOT-A-NAME": "x" } }, "providers[1].env.NOT-A-NAME"],
    [{ autostart: "yes" }, "providers[1].autostart"],
    [{ max_restarts: 2.5 }, "providers[1].max_restarts"],
    [{ secret_env: "has space" }, "providers[1].secret_env"],
  ])("%j stops the load naming the file and %s", (extra, where) => {
    const file = write([
      { id: "a", name: "A", command: "a" },
      { id: "b", name: "B", command: "b", ...extra },
    ]);
    let err: unknown;
    try {
      loadManifest(file);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ManifestError);
    expect((err as Error).message).toContain(file);
    expect((err as Error).message).toContain(`field ${where}:`);
  });
});

describe("planManifestSync (§17.1)", () => {
  const NOW = "2026-01-02T03:04:05.000Z";

  it("an empty catalog: every entry created in file order, created_at = updated_at = now", () => {
    const plan = planManifestSync([], [fields("b"), fields("a")], NOW);
    expect(plan.inserts.map((e) => [e.id, e.position, e.source, e.created_at, e.updated_at])).toEqual([
      ["b", 0, "manifest", NOW, NOW],
      ["a", 1, "manifest", NOW, NOW],
    ]);
    expect(plan.changes.map((c) => [c.action, c.entry.id])).toEqual([
      ["created", "b"],
      ["created", "a"],
    ]);
  });

  it("the same manifest again changes nothing (timestamps kept)", () => {
    const stored = [entry("b", "manifest", 0), entry("a", "manifest", 1)];
    const plan = planManifestSync(stored, [fields("b"), fields("a")], NOW);
    expect(planIsEmpty(plan)).toBe(true);
    expect(plan.changes).toEqual([]);
  });

  it("a changed entry is updated: new fields, updated_at = now, created_at kept", () => {
    const stored = [entry("a", "manifest", 0), entry("b", "manifest", 1)];
    const plan = planManifestSync(stored, [fields("a", { description: "new" }), fields("b", { env: { X: "1" } })], NOW);
    expect(plan.updates.map((e) => [e.id, e.description, e.env, e.created_at, e.updated_at])).toEqual([
      ["a", "new", null, "2025-01-01T00:00:00.000Z", NOW],
      ["b", "", { X: "1" }, "2025-01-01T00:00:00.000Z", NOW],
    ]);
    expect(plan.changes.map((c) => c.action)).toEqual(["updated", "updated"]);
    expect(plan.inserts).toEqual([]);
  });

  it("a reordered file only moves entries: new positions, no change, timestamps kept", () => {
    const stored = [entry("a", "manifest", 0), entry("b", "manifest", 1)];
    const plan = planManifestSync(stored, [fields("b"), fields("a")], NOW);
    expect(plan.moves).toEqual([
      { id: "b", position: 0 },
      { id: "a", position: 1 },
    ]);
    expect(plan.changes).toEqual([]);
    expect(planIsEmpty(plan)).toBe(false);
  });

  it("an entry removed from the file is deleted; API servers are not touched", () => {
    const stored = [entry("a", "manifest", 0), entry("gone", "manifest", 1), entry("mine", "api", 0)];
    const plan = planManifestSync(stored, [fields("a")], NOW);
    expect(plan.deletes.map((e) => e.id)).toEqual(["gone"]);
    expect(plan.changes).toEqual([{ action: "deleted", entry: stored[1] }]);
    expect(plan.updates).toEqual([]);
  });

  it("a manifest entry with the id of an API server takes it over (source manifest, created_at kept)", () => {
    const stored = [entry("x", "api", 4, { created_at: "2024-05-05T00:00:00.000Z" })];
    const plan = planManifestSync(stored, [fields("x")], NOW);
    expect(plan.updates).toEqual([{ ...fields("x"), source: "manifest", position: 0, created_at: "2024-05-05T00:00:00.000Z", updated_at: NOW }]);
    expect(plan.changes.map((c) => c.action)).toEqual(["updated"]);
  });

  it("a lane change is a change (it moves the provider's baselines)", () => {
    const plan = planManifestSync([entry("a", "manifest", 0)], [fields("a", { lane: "turbo" })], NOW);
    expect(plan.updates.map((e) => e.lane)).toEqual(["turbo"]);
  });
});
