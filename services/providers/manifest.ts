/**
 * The provider manifest (§3.1, with the runtime fields of runtime-contract §17.2): loading,
 * validation, and the views other services use (ProviderSummary, lanes and baselines).
 */
import fs from "node:fs";
import { Lane, LANES, providerBaseline, ProviderBaseline } from "../../lib/lanes";
import { compileSchema } from "../../lib/validation";
import type { ProviderSummary } from "../../lib/provider-directory";
import { manifestRuntimeFields, NO_RUNTIME_FIELDS, RUNTIME_FIELD_NAMES, RuntimeFields, ServerFields } from "./server-record";

export type { ProviderSummary };

/** The runtime fields an entry gives (§17.2); absent keys were not given (or null in the file). */
export type GivenRuntimeFields = { [K in keyof RuntimeFields]?: NonNullable<RuntimeFields[K]> };

/** A manifest entry with the defaults of §3.1 materialised; lane and runtime fields only when given. */
export interface ProviderConfig extends GivenRuntimeFields {
  id: string;
  name: string;
  command: string;
  description: string;
  tags: string[];
  capabilities: string[];
  transport: string;
  lane?: Lane;
}

/** The fields ProviderSummary and the profile read (a manifest entry or a catalog entry). */
export interface ProviderFields {
  id: string;
  name: string;
  command: string;
  description: string;
  tags: string[];
  capabilities: string[];
  transport: string;
  lane?: Lane | null;
}

/** A provider as other services receive it from `providers.list`: summary, lane and baselines. */
export interface ProviderProfile extends ProviderBaseline {
  id: string;
  summary: ProviderSummary;
  declared_lane: Lane | null;
}

export interface Manifest {
  path: string;
  loadedAtMs: number;
  providers: ProviderConfig[];
}

export class ManifestError extends Error {
  constructor(file: string, problem: string) {
    super(`Invalid provider manifest ${file}: ${problem}`);
    this.name = "ManifestError";
  }
}

const checkEntry = compileSchema({
  id: { type: "string", empty: false },
  name: { type: "string", empty: false },
  command: { type: "string", empty: false },
  description: { type: "string", optional: true },
  tags: { type: "array", items: "string", optional: true },
  capabilities: { type: "array", items: "string", optional: true },
  transport: { type: "string", optional: true },
  lane: { type: "enum", values: [...LANES], optional: true },
});

/** Validates parsed manifest JSON; throws ManifestError naming the file and the field. */
export function parseManifest(file: string, json: unknown, loadedAtMs: number): Manifest {
  if (typeof json !== "object" || json === null || !Array.isArray((json as { providers?: unknown }).providers)) {
    throw new ManifestError(file, `"providers" must be an array`);
  }
  const entries = (json as { providers: unknown[] }).providers;
  const seen = new Set<string>();
  const providers = entries.map((entry, index): ProviderConfig => {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw new ManifestError(file, `providers[${index}] must be an object`);
    }
    const problems = checkEntry(entry, ["providers", index]);
    if (problems.length > 0) {
      const p = problems[0];
      throw new ManifestError(file, `field ${formatLoc(p.loc)}: ${p.msg}`);
    }
    const e = entry as Record<string, unknown>;
    const id = e.id as string;
    if (seen.has(id)) throw new ManifestError(file, `field ${formatLoc(["providers", index, "id"])}: duplicate id "${id}"`);
    seen.add(id);
    const provider: ProviderConfig = {
      id,
      name: e.name as string,
      command: e.command as string,
      description: (e.description as string | undefined) ?? "",
      tags: [...((e.tags as string[] | undefined) ?? [])],
      capabilities: [...((e.capabilities as string[] | undefined) ?? [])],
      transport: (e.transport as string | undefined) ?? "stdio",
    };
    // The validator lets null through for optional fields (= absent); only a real lane is kept.
    if (e.lane !== undefined && e.lane !== null) provider.lane = e.lane as Lane;
    const runtime = manifestRuntimeFields(e, ["providers", index]);
    if ("items" in runtime) {
      const p = runtime.items[0];
      throw new ManifestError(file, `field ${formatLoc(p.loc)}: ${p.msg}`);
    }
    for (const name of RUNTIME_FIELD_NAMES) {
      const value = runtime.fields[name];
      if (value !== null) (provider as unknown as Record<string, unknown>)[name] = value;
    }
    return provider;
  });
  return { path: file, loadedAtMs, providers };
}

function formatLoc(loc: (string | number)[]): string {
  return loc.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

export function loadManifest(file: string, now: number = Date.now()): Manifest {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new ManifestError(file, `cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ManifestError(file, `invalid JSON (${(err as Error).message})`);
  }
  return parseManifest(file, json, now);
}

/** The catalog fields of a manifest entry (§17.1): runtime fields not given are null. */
export function manifestServerFields(p: ProviderConfig): ServerFields {
  const runtime: RuntimeFields = { ...NO_RUNTIME_FIELDS };
  for (const name of RUNTIME_FIELD_NAMES) {
    if (p[name] !== undefined) (runtime as unknown as Record<string, unknown>)[name] = p[name];
  }
  // The Part I fields as toSummary copies them, without its `is_available`.
  const { is_available: _available, ...summary } = toSummary(p);
  return { ...summary, lane: p.lane ?? null, ...runtime };
}

export function toSummary(p: ProviderFields): ProviderSummary {
  return {
    id: p.id,
    name: p.name,
    command: p.command,
    description: p.description,
    tags: [...p.tags],
    capabilities: [...p.capabilities],
    transport: p.transport,
    is_available: true,
  };
}

/** A provider as `providers.list` gives it: summary, declared and effective lane, baselines (§5.1). */
export function toProfile(p: ProviderFields): ProviderProfile {
  return { id: p.id, summary: toSummary(p), declared_lane: p.lane ?? null, ...providerBaseline(p.id, p.lane ?? null) };
}
