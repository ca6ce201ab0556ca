/**
 * The provider manifest (§3.1): loading, validation, and the views other services use
 * (ProviderSummary, server entries, lanes and baselines).
 */
import fs from "node:fs";
import { Lane, LANES, providerBaseline, ProviderBaseline } from "../../lib/lanes";
import { compileSchema } from "../../lib/validation";
import { formatInstant } from "../../lib/time";
import type { ProviderSummary } from "../../lib/provider-directory";

export type { ProviderSummary };

export interface ProviderConfig {
  id: string;
  name: string;
  command: string;
  description: string;
  tags: string[];
  capabilities: string[];
  transport: string;
  lane?: Lane;
}

export interface ServerEntry extends Omit<ProviderSummary, "is_available"> {
  created_at: string;
  updated_at: string;
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

export function toSummary(p: ProviderConfig): ProviderSummary {
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

/**
 * A /servers entry (§8.4): created_at = updated_at = the instant the manifest was first loaded,
 * identical for every entry and stable for the life of the process (reloads do not change it).
 */
export function toServerEntry(p: ProviderConfig, loadedAtMs: number): ServerEntry {
  const { is_available: _available, ...fields } = toSummary(p);
  void _available;
  const at = formatInstant(loadedAtMs);
  return { ...fields, created_at: at, updated_at: at };
}

export function toProfile(p: ProviderConfig): ProviderProfile {
  return { id: p.id, summary: toSummary(p), declared_lane: p.lane ?? null, ...providerBaseline(p.id, p.lane) };
}
