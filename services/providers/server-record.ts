/**
 * The server catalog's records (runtime-contract §17), as plain functions: the fields a catalog
 * entry stores, their validation for HTTP writes (§17.4) and for the manifest's runtime fields
 * (§17.2), the Server record with its defaults materialised (§17.3), and the plan that brings the
 * catalog in line with the manifest file (§17.1). No I/O here: the store code is ./catalog-store.ts.
 */
import type { Lane } from "../../lib/lanes";
import type { ValidationItem } from "../../lib/errors";
import { type JsonSchema, nullable } from "../../lib/json-schema";
import { containsUnstorableText, isPlainObject, unstorableTextItem } from "../../lib/validation";
import { formatStoredInstant } from "../../lib/time";
import { toSummary } from "./manifest";

export type ServerSource = "manifest" | "api";

export const RESTART_POLICIES = ["never", "on-failure", "always"] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];

/**
 * The runtime fields of §17.2 as a catalog entry stores them: null = not given, the default applies
 * (the Server record shows it, RUNTIME_DEFAULTS).
 */
export interface RuntimeFields {
  args: string[] | null;
  /** Keys in code-point order (a map: its order carries no meaning, and a reordered file is no change). */
  env: Record<string, string> | null;
  cwd: string | null;
  autostart: boolean | null;
  startup_timeout_s: number | null;
  secret_env: string | null;
  restart: RestartPolicy | null;
  max_restarts: number | null;
  degraded_latency_ms: number | null;
  tool_timeout_s: number | null;
}

export const RUNTIME_FIELD_NAMES = [
  "args",
  "env",
  "cwd",
  "autostart",
  "startup_timeout_s",
  "secret_env",
  "restart",
  "max_restarts",
  "degraded_latency_ms",
  "tool_timeout_s",
] as const satisfies readonly (keyof RuntimeFields)[];

/** Every runtime field not given. */
export const NO_RUNTIME_FIELDS: RuntimeFields = {
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
};

/** The defaults of §17.2 that do not depend on the server (secret_env and cwd do: see toServer). */
export const RUNTIME_DEFAULTS = {
  autostart: false,
  startup_timeout_s: 30,
  restart: "on-failure" as RestartPolicy,
  max_restarts: 5,
  degraded_latency_ms: 1000,
  tool_timeout_s: 60,
};

/** What a catalog entry stores about a server (its place in the list and its timestamps aside). */
export interface ServerFields extends RuntimeFields {
  id: string;
  name: string;
  command: string;
  description: string;
  tags: string[];
  capabilities: string[];
  transport: string;
  /** The manifest's declared lane (§3.1, §5.1); null for API servers and undeclared ones. */
  lane: Lane | null;
}

/** One row of the catalog. */
export interface CatalogEntry extends ServerFields {
  source: ServerSource;
  /** Order within its source: manifest = index in the file, api = creation order. */
  position: number;
  /** Stored instant texts (lib/time.ts toStoredInstant). */
  created_at: string;
  updated_at: string;
}

/** The Server record of §17.3: the UI's nine fields plus args, source and the runtime fields with defaults materialised. */
export interface Server {
  id: string;
  name: string;
  command: string;
  description: string;
  tags: string[];
  capabilities: string[];
  transport: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  autostart: boolean;
  startup_timeout_s: number;
  secret_env: string;
  restart: RestartPolicy;
  max_restarts: number;
  degraded_latency_ms: number;
  tool_timeout_s: number;
  source: ServerSource;
  created_at: string;
  updated_at: string;
}

/** `<ID>_API_KEY`: the id upper-cased, every character but A–Z and 0–9 turned into `_` (§17.2). */
export function defaultSecretEnv(id: string): string {
  return `${id.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_API_KEY`;
}

/** The catalog order of §17.1: manifest entries by file position, then API servers by creation. */
export function compareEntries(a: CatalogEntry, b: CatalogEntry): number {
  if (a.source !== b.source) return a.source === "manifest" ? -1 : 1;
  if (a.position !== b.position) return a.position - b.position;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * The Server record of an entry (§17.3): defaults materialised, a copy that shares nothing with the
 * entry. `projectRoot` is what an absent `cwd` shows (the project root's absolute path).
 */
export function toServer(e: CatalogEntry, projectRoot: string): Server {
  // The Part I fields as /providers summarises them (§3.1), without its `is_available`.
  const { is_available: _available, ...summary } = toSummary(e);
  return {
    ...summary,
    args: e.args === null ? [] : [...e.args],
    env: e.env === null ? {} : Object.fromEntries(Object.entries(e.env)),
    cwd: e.cwd ?? projectRoot,
    autostart: e.autostart ?? RUNTIME_DEFAULTS.autostart,
    startup_timeout_s: e.startup_timeout_s ?? RUNTIME_DEFAULTS.startup_timeout_s,
    secret_env: e.secret_env ?? defaultSecretEnv(e.id),
    restart: e.restart ?? RUNTIME_DEFAULTS.restart,
    max_restarts: e.max_restarts ?? RUNTIME_DEFAULTS.max_restarts,
    degraded_latency_ms: e.degraded_latency_ms ?? RUNTIME_DEFAULTS.degraded_latency_ms,
    tool_timeout_s: e.tool_timeout_s ?? RUNTIME_DEFAULTS.tool_timeout_s,
    source: e.source,
    created_at: formatStoredInstant(e.created_at),
    updated_at: formatStoredInstant(e.updated_at),
  };
}

const FIELD_KEYS = [
  "id",
  "name",
  "command",
  "description",
  "tags",
  "capabilities",
  "transport",
  "lane",
  ...RUNTIME_FIELD_NAMES,
] as const satisfies readonly (keyof ServerFields)[];

/** True when two entries store the same server (every field of ServerFields; source, position and timestamps aside). */
export function sameFields(a: ServerFields, b: ServerFields): boolean {
  return FIELD_KEYS.every((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]));
}

// ---------------------------------------------------------------------------------------------
// Validation (§17.4 for HTTP writes, §17.2 for the manifest's runtime fields)

/** `id` of a server created over HTTP (§17.4). */
export const SERVER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Ids that name a path of their own under /servers (GET /servers/processes, §18.5). */
export const RESERVED_SERVER_IDS: readonly string[] = ["processes"];
/** An environment variable name (env keys, secret_env). */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const LIMITS = {
  name: 256,
  command: 1024,
  description: 1024,
  listItems: 64,
  listItemChars: 64,
  args: 256,
  argChars: 4096,
  envEntries: 256,
  envNameChars: 256,
  envValueChars: 8192,
  cwdChars: 4096,
  startupTimeoutS: [1, 600],
  toolTimeoutS: [1, 600],
  maxRestarts: [0, 100],
  degradedLatencyMs: [1, 60000],
} as const;

type Loc = (string | number)[];

/**
 * Reads one field's value; pushes ValidationItems for what is wrong and returns undefined then.
 * Each reader carries the JSON Schema of what it accepts (`schema`), made by the same combinator
 * from the same limits: the OpenAPI document's request bodies of §17.4 are built from them
 * (serverBodySchema). Text no store can keep (NUL, a lone surrogate) is refused too, which the
 * schema does not say.
 */
type FieldReader<T> = ((value: unknown, loc: Loc, items: ValidationItem[]) => T | undefined) & { schema: JsonSchema };

function reader<T>(schema: JsonSchema, read: (value: unknown, loc: Loc, items: ValidationItem[]) => T | undefined): FieldReader<T> {
  return Object.assign(read, { schema });
}

/** A string of characters that are not all blanks (at least one non-white-space character). */
const NOT_BLANK = "\\S";

function typeItem(type: string, msg: string, loc: Loc, input: unknown): ValidationItem {
  return { type, loc, msg, input };
}

function text(max: number, options: { min?: number; trim?: boolean; pattern?: RegExp; patternMsg?: string } = {}): FieldReader<string> {
  const schema: JsonSchema = { type: "string", maxLength: max };
  if ((options.min ?? 0) > 0) schema.minLength = options.min;
  // A trimmed text must keep `min` characters: for min 1, a text that is not all blanks.
  if (options.pattern !== undefined) schema.pattern = options.pattern.source;
  else if (options.trim === true && (options.min ?? 0) > 0) schema.pattern = NOT_BLANK;
  return reader(schema, (value, loc, items) => {
    if (typeof value !== "string") {
      items.push(typeItem("string_type", "Input should be a valid string", loc, value));
      return undefined;
    }
    if (containsUnstorableText(value)) {
      items.push(unstorableTextItem(loc, value));
      return undefined;
    }
    const v = options.trim === true ? value.trim() : value;
    const length = [...v].length;
    const min = options.min ?? 0;
    if (length < min) {
      items.push({
        type: "too_short",
        loc,
        input: value,
        ctx: { min_length: min },
        msg:
          min === 1
            ? options.trim === true
              ? "Input should not be blank"
              : "Input should not be empty"
            : `Input should have at least ${min} characters`,
      });
      return undefined;
    }
    if (length > max) {
      // Not echoed: the text may be long.
      items.push({ type: "too_long", loc, msg: `Input should have at most ${max} characters`, ctx: { max_length: max } });
      return undefined;
    }
    if (options.pattern !== undefined && !options.pattern.test(v)) {
      items.push({
        type: "string_pattern_mismatch",
        loc,
        input: value,
        ctx: { pattern: options.pattern.source },
        msg: options.patternMsg ?? `Input should match the pattern ${options.pattern.source}`,
      });
      return undefined;
    }
    return v;
  });
}

function stringList(maxItems: number, item: FieldReader<string>): FieldReader<string[]> {
  return reader({ type: "array", maxItems, items: item.schema }, (value, loc, items) => {
    if (!Array.isArray(value)) {
      items.push(typeItem("list_type", "Input should be a valid list", loc, value));
      return undefined;
    }
    if (value.length > maxItems) {
      items.push({ type: "too_long", loc, msg: `List should have at most ${maxItems} items`, ctx: { max_length: maxItems } });
      return undefined;
    }
    const before = items.length;
    const out = value.map((v, i) => item(v, [...loc, i], items));
    return items.length > before ? undefined : (out as string[]);
  });
}

/** §6.3: a number field takes JSON numbers and numeric strings ("10" → 10). */
const NUMERIC_TEXT = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;

function bounded(n: number, [min, max]: readonly [number, number], loc: Loc, input: unknown, items: ValidationItem[]): number | undefined {
  if (n < min) {
    items.push({ type: "greater_than_equal", loc, msg: `Input should be greater than or equal to ${min}`, input, ctx: { ge: min } });
    return undefined;
  }
  if (n > max) {
    items.push({ type: "less_than_equal", loc, msg: `Input should be less than or equal to ${max}`, input, ctx: { le: max } });
    return undefined;
  }
  return n;
}

function numberIn(range: readonly [number, number]): FieldReader<number> {
  // Numeric strings ("10") are accepted too (§6.3); the schema shows the number.
  return reader({ type: "number", minimum: range[0], maximum: range[1] }, (value, loc, items) => {
    const n = typeof value === "number" ? value : typeof value === "string" && NUMERIC_TEXT.test(value) ? Number(value) : Number.NaN;
    if (!Number.isFinite(n)) {
      items.push(typeItem("float_parsing", "Input should be a valid number", loc, value));
      return undefined;
    }
    return bounded(n, range, loc, value, items);
  });
}

/** §6.3: an integer field takes JSON numbers with an integral value only. */
function integerIn(range: readonly [number, number]): FieldReader<number> {
  return reader({ type: "integer", minimum: range[0], maximum: range[1] }, (value, loc, items) => {
    if (typeof value !== "number" || !Number.isInteger(value)) {
      items.push(typeItem("int_type", "Input should be a valid integer", loc, value));
      return undefined;
    }
    return bounded(value, range, loc, value, items);
  });
}

const readBoolean: FieldReader<boolean> = reader({ type: "boolean" }, (value, loc, items) => {
  if (typeof value !== "boolean") {
    items.push(typeItem("bool_type", "Input should be a valid boolean", loc, value));
    return undefined;
  }
  return value;
});

const readEnvName = text(LIMITS.envNameChars, {
  min: 1,
  pattern: ENV_NAME_PATTERN,
  patternMsg: "Input should be an environment variable name (letters, digits and _, not starting with a digit)",
});

const readEnvValue = text(LIMITS.envValueChars);

const readEnv: FieldReader<Record<string, string>> = reader(
  {
    type: "object",
    maxProperties: LIMITS.envEntries,
    propertyNames: readEnvName.schema,
    additionalProperties: readEnvValue.schema,
  },
  (value, loc, items) => {
    if (!isPlainObject(value)) {
      items.push(typeItem("dict_type", "Input should be an object of strings", loc, value));
      return undefined;
    }
    const keys = Object.keys(value);
    if (keys.length > LIMITS.envEntries) {
      items.push({ type: "too_long", loc, msg: `Object should have at most ${LIMITS.envEntries} entries`, ctx: { max_length: LIMITS.envEntries } });
      return undefined;
    }
    const before = items.length;
    const entries: [string, string][] = [];
    for (const key of keys) {
      readEnvName(key, [...loc, key], items);
      const v = readEnvValue(value[key], [...loc, key], items);
      if (v !== undefined) entries.push([key, v]);
    }
    if (items.length > before) return undefined;
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    // Own data properties only: a key such as "__proto__" stays an ordinary variable name.
    return Object.fromEntries(entries);
  },
);

const readRestart: FieldReader<RestartPolicy> = reader({ type: "string", enum: [...RESTART_POLICIES] }, (value, loc, items) => {
  if (typeof value !== "string" || !(RESTART_POLICIES as readonly string[]).includes(value)) {
    items.push({
      type: "literal_error",
      loc,
      input: value,
      ctx: { expected: RESTART_POLICIES.map((p) => `'${p}'`).join(", ") },
      msg: `Input should be ${RESTART_POLICIES.map((p) => `'${p}'`).join(", ")}`,
    });
    return undefined;
  }
  return value as RestartPolicy;
});

const transportText = text(64);
const readTransport: FieldReader<string> = reader({ type: "string", enum: ["stdio"] }, (value, loc, items) => {
  const v = transportText(value, loc, items);
  if (v === undefined) return undefined;
  if (v !== "stdio") {
    items.push({ type: "literal_error", loc, input: value, ctx: { expected: "'stdio'" }, msg: "only stdio is supported" });
    return undefined;
  }
  return v;
});

const RUNTIME_READERS: { [K in keyof RuntimeFields]: FieldReader<NonNullable<RuntimeFields[K]>> } = {
  args: stringList(LIMITS.args, text(LIMITS.argChars)),
  env: readEnv,
  cwd: text(LIMITS.cwdChars, { min: 1 }),
  autostart: readBoolean,
  startup_timeout_s: numberIn(LIMITS.startupTimeoutS),
  secret_env: readEnvName,
  restart: readRestart,
  max_restarts: integerIn(LIMITS.maxRestarts),
  degraded_latency_ms: integerIn(LIMITS.degradedLatencyMs),
  tool_timeout_s: numberIn(LIMITS.toolTimeoutS),
};

/** The fields of an HTTP body besides id (§17.4), with what `null` resets them to. */
const API_READERS = {
  name: text(LIMITS.name, { min: 1, trim: true }),
  command: text(LIMITS.command, { min: 1, trim: false }),
  description: text(LIMITS.description),
  tags: stringList(LIMITS.listItems, text(LIMITS.listItemChars)),
  capabilities: stringList(LIMITS.listItems, text(LIMITS.listItemChars)),
  transport: readTransport,
  ...RUNTIME_READERS,
};

type ApiField = keyof typeof API_READERS;
const API_FIELDS = Object.keys(API_READERS) as ApiField[];

/** What `null` resets a field to (name and command cannot be reset). */
const RESET: Partial<Record<ApiField, unknown>> = {
  description: "",
  tags: [],
  capabilities: [],
  transport: "stdio",
  ...NO_RUNTIME_FIELDS,
};

function has(body: Record<string, unknown>, key: string): boolean {
  return Object.hasOwn(body, key);
}

/** A command of blanks names nothing to run. */
function blankCommand(fields: { command?: unknown }, items: ValidationItem[]): void {
  if (typeof fields.command === "string" && fields.command.trim() === "") {
    items.push({ type: "too_short", loc: ["body", "command"], msg: "Input should not be blank", input: fields.command, ctx: { min_length: 1 } });
  }
}

/**
 * The fields an HTTP body gives (§17.4): for each known key present, its checked value, or null to
 * reset an optional field to its default. Unknown keys (and `id`, `source`, the timestamps) are
 * ignored here. `name`/`command` set to null are 422.
 */
function readApiFields(body: Record<string, unknown>, items: ValidationItem[], creating: boolean): Partial<Record<ApiField, unknown>> {
  const given: Partial<Record<ApiField, unknown>> = {};
  for (const field of API_FIELDS) {
    if (!has(body, field)) continue;
    const value = body[field];
    const loc = ["body", field];
    if (value === null) {
      if (field === "name" || field === "command") {
        const msg = creating ? "Input should be a valid string" : `Input should be a valid string (${field} cannot be reset)`;
        items.push({ type: "string_type", loc, msg, input: null });
      } else {
        given[field] = RESET[field];
      }
      continue;
    }
    const read = (API_READERS[field] as FieldReader<unknown>)(value, loc, items);
    if (read !== undefined) given[field] = read;
  }
  return given;
}

const readIdText = text(64, {
  min: 1,
  pattern: SERVER_ID_PATTERN,
  patternMsg: "Input should be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or a digit",
});

/** The checked id of a server created over HTTP; pushes the 422 items of §17.4 otherwise. */
function readNewId(body: Record<string, unknown>, items: ValidationItem[]): string | undefined {
  const loc = ["body", "id"];
  if (!has(body, "id") || body.id === null) {
    items.push({ type: "missing", loc, msg: "Field required" });
    return undefined;
  }
  const id = readIdText(body.id, loc, items);
  if (id !== undefined && RESERVED_SERVER_IDS.includes(id)) {
    items.push({ type: "value_error", loc, msg: `'${id}' is reserved (it names a path under /servers)`, input: id });
    return undefined;
  }
  return id;
}

/**
 * A POST /servers body (§17.4) as the fields of a new entry: `id`, `name`, `command` required; every
 * other field optional (absent or null = its default). Returns the fields, or the 422 items.
 */
export function serverFieldsToCreate(body: Record<string, unknown>): { fields: ServerFields } | { items: ValidationItem[] } {
  const items: ValidationItem[] = [];
  const id = readNewId(body, items);
  const given = readApiFields(body, items, true);
  for (const field of ["name", "command"] as const) {
    if (!has(body, field)) items.push({ type: "missing", loc: ["body", field], msg: "Field required" });
  }
  blankCommand(given, items);
  if (items.length > 0) return { items };
  const fields: ServerFields = {
    id: id as string,
    name: given.name as string,
    command: given.command as string,
    description: "",
    tags: [],
    capabilities: [],
    transport: "stdio",
    lane: null,
    ...NO_RUNTIME_FIELDS,
  };
  return { fields: { ...fields, ...(given as Partial<ServerFields>) } };
}

/**
 * The JSON Schema of a POST /servers (`create`) or PUT /servers/{id} (`update`) body (§17.4), built
 * from the readers that check it: every field of API_READERS with its reader's schema, `null`
 * allowed where it resets a field to its default; on create, `id` (not a reserved one) and `name`,
 * `command` required. Unknown keys are ignored, so the object stays open. What the schema cannot
 * say: text no store can keep (NUL, lone surrogates) is refused, and numbers may come as numeric
 * strings (§6.3).
 */
export function serverBodySchema(mode: "create" | "update"): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  if (mode === "create") properties.id = { ...readIdText.schema, not: { enum: [...RESERVED_SERVER_IDS] } };
  for (const field of API_FIELDS) {
    const schema = API_READERS[field].schema;
    properties[field] = Object.hasOwn(RESET, field) ? nullable(schema) : schema;
  }
  // blankCommand: a command of blanks names nothing to run.
  properties.command = { ...properties.command, pattern: NOT_BLANK };
  return { type: "object", properties, ...(mode === "create" ? { required: ["id", "name", "command"] } : {}) };
}

/**
 * The changes a PUT /servers/{id} body (§17.4) asks for: the fields given replace the stored ones,
 * omitted fields keep theirs, null resets an optional field to its default; `id` is ignored.
 * Returns a function applying them to the stored fields, or the 422 items.
 */
export function serverFieldsToUpdate(body: Record<string, unknown>): { apply: (stored: ServerFields) => ServerFields } | { items: ValidationItem[] } {
  const items: ValidationItem[] = [];
  const given = readApiFields(body, items, false);
  blankCommand(given, items);
  if (items.length > 0) return { items };
  return { apply: (stored) => ({ ...stored, ...(given as Partial<ServerFields>) }) };
}

/**
 * The runtime fields of one manifest entry (§17.2), checked like an HTTP body's: absent or null =
 * not given. `loc` locates the entry (e.g. ["providers", 2]); the items' locs continue with the field.
 */
export function manifestRuntimeFields(entry: Record<string, unknown>, loc: Loc): { fields: RuntimeFields } | { items: ValidationItem[] } {
  const items: ValidationItem[] = [];
  const fields: RuntimeFields = { ...NO_RUNTIME_FIELDS };
  for (const name of RUNTIME_FIELD_NAMES) {
    if (!has(entry, name) || entry[name] === null) continue;
    const value = (RUNTIME_READERS[name] as FieldReader<unknown>)(entry[name], [...loc, name], items);
    if (value !== undefined) (fields as unknown as Record<string, unknown>)[name] = value;
  }
  return items.length > 0 ? { items } : { fields };
}

// ---------------------------------------------------------------------------------------------
// Manifest → catalog (§17.1)

/** One change to the catalog, for the `servers.changed` event (§17.4, §23). */
export interface CatalogChange {
  action: "created" | "updated" | "deleted";
  /** The entry after the change (deleted: as it was). */
  entry: CatalogEntry;
}

/** What a manifest sync writes: new rows, changed rows, rows that only move, rows removed. */
export interface SyncPlan {
  inserts: CatalogEntry[];
  updates: CatalogEntry[];
  moves: { id: string; position: number }[];
  deletes: CatalogEntry[];
  changes: CatalogChange[];
}

export function planIsEmpty(plan: SyncPlan): boolean {
  return plan.inserts.length + plan.updates.length + plan.moves.length + plan.deletes.length === 0;
}

/**
 * The writes that make the catalog hold the manifest's entries (§17.1), in file order: an entry not
 * in the catalog is created (created_at = updated_at = `now`); an entry whose fields differ, or that
 * an API server of the same id held, is updated (`source: manifest`, updated_at = `now`, created_at
 * kept); an entry that only moved in the file gets its new position and keeps its timestamps (no
 * event: the server did not change); a manifest entry no longer in the file is deleted. API servers
 * of other ids are not touched. `now` is a stored instant text, the same for the whole sync.
 */
export function planManifestSync(stored: readonly CatalogEntry[], manifest: readonly ServerFields[], now: string): SyncPlan {
  const byId = new Map(stored.map((e) => [e.id, e]));
  const inFile = new Set(manifest.map((m) => m.id));
  const plan: SyncPlan = { inserts: [], updates: [], moves: [], deletes: [], changes: [] };
  manifest.forEach((fields, position) => {
    const current = byId.get(fields.id);
    if (current === undefined) {
      const entry: CatalogEntry = { ...fields, source: "manifest", position, created_at: now, updated_at: now };
      plan.inserts.push(entry);
      plan.changes.push({ action: "created", entry });
    } else if (current.source !== "manifest" || !sameFields(current, fields)) {
      const entry: CatalogEntry = { ...fields, source: "manifest", position, created_at: current.created_at, updated_at: now };
      plan.updates.push(entry);
      plan.changes.push({ action: "updated", entry });
    } else if (current.position !== position) {
      plan.moves.push({ id: fields.id, position });
    }
  });
  for (const e of stored) {
    if (e.source === "manifest" && !inFile.has(e.id)) {
      plan.deletes.push(e);
      plan.changes.push({ action: "deleted", entry: e });
    }
  }
  return plan;
}
