/**
 * services/providers/manifest.ts: loading and validating the provider manifest (§3.1) and the
 * views built from it (ProviderSummary, server entries, profiles).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadManifest, ManifestError, parseManifest, toProfile, toSummary } from "../../services/providers/manifest";
import { PROJECT_ROOT } from "../../lib/config";

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "manifest-test-"));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

let counter = 0;
function writeManifest(content: unknown): string {
  counter += 1;
  const file = path.join(dir, `servers-${counter}.json`);
  fs.writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content));
  return file;
}

function manifestError(file: string): ManifestError {
  try {
    loadManifest(file);
  } catch (err) {
    expect(err).toBeInstanceOf(ManifestError);
    return err as ManifestError;
  }
  throw new Error(`manifest ${file} was accepted`);
}

describe("loadManifest: valid manifests", () => {
  it("materialises the defaults of the optional fields", () => {
    const file = writeManifest({ providers: [{ id: "a", name: "A", command: "run-a" }] });
    const m = loadManifest(file, 1234);
    expect(m.path).toBe(file);
    expect(m.loadedAtMs).toBe(1234);
    expect(m.providers).toEqual([{ id: "a", name: "A", command: "run-a", description: "", tags: [], capabilities: [], transport: "stdio" }]);
    expect("lane" in m.providers[0]).toBe(false);
  });

  it("keeps the given values, the declared lane and the manifest order; ignores unknown keys", () => {
    const file = writeManifest({
      providers: [
        {
          id: "zeta",
          name: "Z",
          command: "z",
          description: "last letter",
          tags: ["t1", "t2"],
          capabilities: ["chat"],
          transport: "http",
          lane: "turbo",
          extra: 1,
        },
        { id: "alpha", name: "A", command: "a", lane: "economy" },
        { id: "mid", name: "M", command: "m" },
      ],
    });
    const m = loadManifest(file);
    expect(m.providers.map((p) => p.id)).toEqual(["zeta", "alpha", "mid"]);
    expect(m.providers[0]).toEqual({
      id: "zeta",
      name: "Z",
      command: "z",
      description: "last letter",
      tags: ["t1", "t2"],
      capabilities: ["chat"],
      transport: "http",
      lane: "turbo",
    });
    expect(m.providers[1].lane).toBe("economy");
  });

  it("treats null optional fields as absent (defaults, no lane)", () => {
    const file = writeManifest({
      providers: [{ id: "a", name: "A", command: "a", description: null, tags: null, capabilities: null, transport: null, lane: null }],
    });
    const [p] = loadManifest(file).providers;
    expect(p).toEqual({ id: "a", name: "A", command: "a", description: "", tags: [], capabilities: [], transport: "stdio" });
    expect("lane" in p).toBe(false);
    expect(toProfile(p).declared_lane).toBeNull();
  });

  it("accepts an empty provider list", () => {
    expect(loadManifest(writeManifest({ providers: [] })).providers).toEqual([]);
  });

  it("loads the shipped example manifest: gemini, codex, glm46, claude, no lanes", () => {
    const m = loadManifest(path.join(PROJECT_ROOT, "config/console-mcp/servers.example.json"));
    expect(m.providers.map((p) => [p.id, p.name])).toEqual([
      ["gemini", "Gemini MCP"],
      ["codex", "Codex CLI"],
      ["glm46", "GLM-4.6"],
      ["claude", "Claude MCP"],
    ]);
    expect(m.providers.every((p) => p.lane === undefined)).toBe(true);
  });
});

describe("loadManifest: broken manifests name the file and the field", () => {
  it.each([
    ["id", { name: "A", command: "a" }],
    ["name", { id: "a", command: "a" }],
    ["command", { id: "a", name: "A" }],
  ])("missing %s", (field, entry) => {
    const file = writeManifest({ providers: [{ id: "ok", name: "OK", command: "ok" }, entry] });
    const err = manifestError(file);
    expect(err.message).toContain(file);
    expect(err.message).toContain(`providers[1].${field}`);
  });

  it.each([
    ["id", { id: 7, name: "A", command: "a" }],
    ["name", { id: "a", name: "", command: "a" }],
    ["tags", { id: "a", name: "A", command: "a", tags: "llm" }],
    ["capabilities", { id: "a", name: "A", command: "a", capabilities: [1] }],
    ["transport", { id: "a", name: "A", command: "a", transport: ["stdio"] }],
  ])("wrong type of %s", (field, entry) => {
    const err = manifestError(writeManifest({ providers: [entry] }));
    expect(err.message).toContain(`providers[0].${field}`);
  });

  it("duplicate id", () => {
    const file = writeManifest({
      providers: [
        { id: "a", name: "A", command: "a" },
        { id: "b", name: "B", command: "b" },
        { id: "a", name: "A again", command: "a2" },
      ],
    });
    const err = manifestError(file);
    expect(err.message).toContain(file);
    expect(err.message).toContain("providers[2].id");
    expect(err.message).toContain("duplicate");
  });

  it.each(["fast", "Economy", "", 3])("invalid lane %j", (lane) => {
    const file = writeManifest({ providers: [{ id: "a", name: "A", command: "a", lane }] });
    const err = manifestError(file);
    expect(err.message).toContain(file);
    expect(err.message).toContain("providers[0].lane");
  });

  it("invalid JSON", () => {
    const file = writeManifest('{"providers": [ {"id": "a", ');
    const err = manifestError(file);
    expect(err.message).toContain(file);
    expect(err.message).toContain("invalid JSON");
  });

  it("missing file", () => {
    const file = path.join(dir, "does-not-exist.json");
    const err = manifestError(file);
    expect(err.message).toContain(file);
    expect(err.message).toContain("ENOENT");
  });

  it.each([
    ["no providers key", {}],
    ["providers not an array", { providers: { id: "a" } }],
    ["top level array", [{ id: "a", name: "A", command: "a" }]],
    ["null", null],
  ])("%s", (_label, json) => {
    const err = manifestError(writeManifest(json));
    expect(err.message).toContain('"providers"');
  });

  it("an entry that is not an object", () => {
    expect(manifestError(writeManifest({ providers: ["gemini"] })).message).toContain("providers[0]");
    expect(() => parseManifest("m.json", { providers: [[]] }, 0)).toThrow(/providers\[0\] must be an object/);
  });

  it("messages are one line", () => {
    expect(manifestError(writeManifest("{\n  oops\n}")).message).not.toContain("\n");
  });
});

describe("views", () => {
  const provider = {
    id: "codex",
    name: "Codex CLI",
    command: "c",
    description: "d",
    tags: ["x"],
    capabilities: ["chat"],
    transport: "stdio",
    lane: "economy" as const,
  };

  it("ProviderSummary: the seven fields plus is_available, no lane", () => {
    expect(toSummary(provider)).toEqual({
      id: "codex",
      name: "Codex CLI",
      command: "c",
      description: "d",
      tags: ["x"],
      capabilities: ["chat"],
      transport: "stdio",
      is_available: true,
    });
    const summary = toSummary(provider);
    summary.tags.push("mutated");
    expect(provider.tags).toEqual(["x"]);
  });

  it("profile: effective lane and baselines, declared lane kept", () => {
    expect(toProfile(provider)).toMatchObject({ id: "codex", lane: "economy", declared_lane: "economy", cost_per_million: 12, latency_p95: 2376 });
    const { lane: _ignored, ...undeclared } = provider;
    void _ignored;
    expect(toProfile(undeclared)).toMatchObject({ lane: "balanced", declared_lane: null, cost_per_million: 19, latency_p95: 1485 });
  });
});
