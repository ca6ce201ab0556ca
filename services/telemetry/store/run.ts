/**
 * The telemetry run format, shared by ingestion (POST /telemetry/runs, §11), the store seed
 * (fixtures/telemetry_runs.json, §4) and the telemetry reads (the Run item of §10.6):
 * - validation of one run (§11.2) and of a whole ingestion body (single run or batch);
 * - status normalisation;
 * - the derived columns of a stored row (UTC day, success flag, §10.2 error category and cache values);
 * - the Run item built from a stored row.
 */
import type { ValidationItem } from "../../../lib/errors";
import { validationFailed } from "../../../lib/errors";
import type { Lane } from "../../../lib/lanes";
import { roundHalfEven } from "../../../lib/lanes";
import { formatStoredInstant, parseDatetime, toStoredInstant, utcDay } from "../../../lib/time";
import { DATETIME_INPUT_SCHEMA, type JsonSchema, nullable } from "../../../lib/json-schema";
import { containsUnstorableText, isPlainObject, unstorableTextItem } from "../../../lib/validation";

/**
 * Largest integer accepted for tokens_in, tokens_out and duration_ms: 2^53 − 1 (§11.2). Their sums
 * can exceed it (1,100 runs at the maximum on one day already pass the int64 range); the store holds
 * such sums (numeric rollup columns on PostgreSQL, overflow-free sums everywhere, see
 * services/telemetry/store/run-sums.ts), and an answer carries them as the nearest JSON number.
 */
export const MAX_RUN_INTEGER = Number.MAX_SAFE_INTEGER;
/**
 * Largest cost_usd of one run (issue 7; narrower than §11.2's "finite, ≥ 0"). Costs are summed as
 * doubles, and a sum of finite doubles can reach Infinity (no JSON number; PostgreSQL raises "value
 * out of range" on double overflow). With this bound a sum of N costs is at most N × 10^6 USD, far
 * inside the double range for any number of runs a store can hold, and whole micro-dollars (the 6
 * decimals of the answers) stay exact while a sum is below 2^53 micro-dollars ≈ 9.0 × 10^9 USD.
 */
export const MAX_RUN_COST_USD = 1_000_000;
/** Batch size bounds of POST /telemetry/runs. */
export const MAX_BATCH_RUNS = 5000;
/** How many validation problems an answer lists at most (the contract asks for at least 100). */
export const MAX_REPORTED_PROBLEMS = 1000;

/** A validated, normalised run (§11.2); ts as epoch milliseconds. */
export interface RunInput {
  provider_id: string;
  tool: string;
  route: string | null;
  tokens_in: number;
  tokens_out: number;
  duration_ms: number;
  status: string;
  cost_usd: number | null;
  metadata: Record<string, unknown>;
  ts_ms: number;
  experiment_cohort: string | null;
  experiment_tag: string | null;
}

/** A row of `telemetry_events` as written (without its id). */
export interface TelemetryRowInsert {
  provider_id: string;
  tool: string;
  route: string | null;
  tokens_in: number;
  tokens_out: number;
  duration_ms: number;
  status: string;
  cost_usd: number | null;
  /** JSON object text. */
  metadata: string;
  /** Stored instant text `YYYY-MM-DDTHH:MM:SS.sssZ`. */
  ts: string;
  ingested_at: string;
  experiment_cohort: string | null;
  experiment_tag: string | null;
  /** UTC day of ts, `YYYY-MM-DD`. */
  day: string;
  /** 1 when status = success, else 0. */
  is_success: number;
  /** §10.2 error category label; null for successful runs. */
  error_category: string | null;
  /** 1 hit, 0 miss, null without a cache flag (§10.2). */
  cache_hit: number | null;
  /** This run's contribution to the §10.2 cached_tokens sum. */
  cached_tokens: number;
}

/** A stored row of `telemetry_events`. */
export interface TelemetryRow extends TelemetryRowInsert {
  id: number;
}

/** The Run item of §10.6 (also the payload of `telemetry.run.recorded`). */
export interface RunItem {
  id: number;
  provider_id: string;
  provider_name: string;
  route: string | null;
  lane: Lane | null;
  tool: string;
  ts: string;
  tokens_in: number;
  tokens_out: number;
  duration_ms: number;
  status: string;
  cost_usd: number;
  metadata: Record<string, unknown>;
  experiment_cohort: string | null;
  experiment_tag: string | null;
}

/** What the Run item needs to know about a manifest provider (a ProviderInfo fits). */
export interface RunItemProvider {
  lane: Lane;
  summary: { name: string };
}

// ---------------------------------------------------------------------------------------------
// Status normalisation (§11.2)

const STATUS_ALIASES: Record<string, string> = {
  ok: "success",
  completed: "success",
  success: "success",
  succeeded: "success",
  pass: "success",
  passed: "success",
  failed: "error",
  failure: "error",
  error: "error",
  exception: "error",
  blocked: "denied",
  denied: "denied",
};

/** Trim and lower-case; known synonyms mapped; empty or null → "unknown"; anything else kept. */
export function normaliseStatus(status: string | null | undefined): string {
  if (status === null || status === undefined) return "unknown";
  const text = status.trim().toLowerCase();
  if (text === "") return "unknown";
  // Own keys only: a status such as "constructor" is data, not a key of Object.prototype.
  return Object.hasOwn(STATUS_ALIASES, text) ? STATUS_ALIASES[text] : text;
}

// ---------------------------------------------------------------------------------------------
// Validation (§11.2)

/** Number of characters (code points) of a string. */
function charCount(text: string): number {
  if (text.length <= 1) return text.length;
  let n = 0;
  for (const _ of text) n++;
  return n;
}

const NUMERIC_TEXT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A number field (§6.3): JSON numbers and numeric strings; null when it is neither. */
function numberValue(value: unknown): number | null {
  if (typeof value === "number") return value;
  if (typeof value === "string") {
    const text = value.trim();
    if (NUMERIC_TEXT_RE.test(text)) return Number(text);
  }
  return null;
}

/** Longest text of each text field of a run, in characters (code points) after trimming (§11.2). */
export const RUN_TEXT_LIMITS = {
  provider_id: 200,
  tool: 200,
  route: 200,
  status: 100,
  experiment_cohort: 200,
  experiment_tag: 200,
} as const;

const runText = (field: keyof typeof RUN_TEXT_LIMITS): JsonSchema => nullable({ type: "string", maxLength: RUN_TEXT_LIMITS[field] });
// Defaults are said in the descriptions: a `default` keyword makes some client generators treat the field as always present.
const runCount = (description: string): JsonSchema => ({
  type: "integer",
  minimum: 0,
  maximum: MAX_RUN_INTEGER,
  description: `${description} Absent: 0.`,
});

/**
 * The JSON Schema of one run as validateRun accepts it (§11.2), from the same limits: the OpenAPI
 * document's `RunInput`. Unknown keys are ignored. Not said by the schema: text no store can keep
 * (NUL, lone surrogates) is refused, lengths are counted after trimming, `cost_usd` may be a
 * numeric string (§6.3), and `status` is normalised (synonyms, lower case).
 */
export const RUN_INPUT_SCHEMA: JsonSchema = {
  type: "object",
  required: ["provider_id"],
  properties: {
    provider_id: { type: "string", maxLength: RUN_TEXT_LIMITS.provider_id, pattern: "\\S", description: "Provider (server) id; not blank." },
    tool: { ...runText("tool"), description: "Tool name (null or blank: `unknown`)." },
    route: runText("route"),
    tokens_in: runCount("Input tokens."),
    tokens_out: runCount("Output tokens."),
    duration_ms: runCount("Duration in milliseconds."),
    status: { ...runText("status"), description: "Outcome; `ok`, `completed`, `failed`… are normalised (§11.2); null or blank: `unknown`." },
    cost_usd: {
      ...nullable({ type: "number", minimum: 0, maximum: MAX_RUN_COST_USD }),
      description: "Cost in USD; null: computed from the provider's rates.",
    },
    metadata: { ...nullable({ type: "object" }), description: "Free JSON object (cache and error details, §11.2)." },
    ts: { ...nullable(DATETIME_INPUT_SCHEMA), description: "When the run happened; null or absent: the request time." },
    experiment_cohort: runText("experiment_cohort"),
    experiment_tag: runText("experiment_tag"),
    // A body with `runs` is a batch (validateIngestBody): a single run never has the key.
    runs: false,
  },
};

/** The body of POST /telemetry/runs (§11.1): one run, or `{runs: [...]}` with 1..MAX_BATCH_RUNS runs. */
export const INGEST_BODY_SCHEMA: JsonSchema = {
  oneOf: [
    RUN_INPUT_SCHEMA,
    {
      type: "object",
      required: ["runs"],
      properties: { runs: { type: "array", minItems: 1, maxItems: MAX_BATCH_RUNS, items: RUN_INPUT_SCHEMA } },
    },
  ],
};

export interface ValidateRunOptions {
  /** The request time, used when ts is null or absent. */
  nowMs: number;
  /** true for seed runs: ts must be given. */
  requireTs?: boolean;
}

/**
 * Validates one run. Every problem is pushed to `problems` with a loc starting with `loc`
 * (e.g. ["body"] or ["body", "runs", 3]). Returns the normalised run, or null when invalid.
 */
export function validateRun(input: unknown, loc: (string | number)[], options: ValidateRunOptions, problems: ValidationItem[] = []): RunInput | null {
  if (!isPlainObject(input)) {
    problems.push({ type: "model_type", loc, msg: "Input should be a JSON object", input });
    return null;
  }
  const before = problems.length;
  const at = (field: string) => [...loc, field];

  const text = (field: string, max: number, required: boolean): string | null => {
    const value = input[field];
    if (value === undefined || value === null) {
      if (required) problems.push({ type: "missing", loc: at(field), msg: "Field required" });
      return null;
    }
    if (typeof value !== "string") {
      problems.push({ type: "string_type", loc: at(field), msg: "Input should be a valid string", input: value });
      return null;
    }
    if (containsUnstorableText(value)) {
      problems.push(unstorableTextItem(at(field), value));
      return null;
    }
    const trimmed = value.trim();
    if (required && trimmed === "") {
      problems.push({
        type: "too_short",
        loc: at(field),
        msg: "String should have at least 1 character",
        input: value,
        ctx: { min_length: 1 },
      });
      return null;
    }
    if (charCount(trimmed) > max) {
      problems.push({
        type: "too_long",
        loc: at(field),
        msg: `String should have at most ${max} characters`,
        input: value,
        ctx: { max_length: max },
      });
      return null;
    }
    return trimmed === "" ? null : trimmed;
  };

  const integer = (field: string): number => {
    const value = input[field];
    if (value === undefined) return 0;
    if (typeof value !== "number" || !Number.isInteger(value)) {
      problems.push({ type: "int_parsing", loc: at(field), msg: "Input should be a valid integer", input: value });
      return 0;
    }
    if (value < 0) {
      problems.push({
        type: "greater_than_equal",
        loc: at(field),
        msg: "Input should be greater than or equal to 0",
        input: value,
        ctx: { ge: 0 },
      });
      return 0;
    }
    if (value > MAX_RUN_INTEGER) {
      problems.push({
        type: "less_than_equal",
        loc: at(field),
        msg: `Input should be less than or equal to ${MAX_RUN_INTEGER}`,
        input: value,
        ctx: { le: MAX_RUN_INTEGER },
      });
      return 0;
    }
    return value + 0; // -0 → 0
  };

  const providerId = text("provider_id", RUN_TEXT_LIMITS.provider_id, true);
  const tool = text("tool", RUN_TEXT_LIMITS.tool, false) ?? "unknown";
  const route = text("route", RUN_TEXT_LIMITS.route, false);
  const tokensIn = integer("tokens_in");
  const tokensOut = integer("tokens_out");
  const durationMs = integer("duration_ms");
  const status = normaliseStatus(text("status", RUN_TEXT_LIMITS.status, false));

  let costUsd: number | null = null;
  const cost = input.cost_usd;
  if (cost !== undefined && cost !== null) {
    const n = numberValue(cost);
    if (n === null || !Number.isFinite(n)) {
      problems.push({ type: "float_parsing", loc: at("cost_usd"), msg: "Input should be a valid finite number", input: cost });
    } else if (n < 0) {
      problems.push({
        type: "greater_than_equal",
        loc: at("cost_usd"),
        msg: "Input should be greater than or equal to 0",
        input: cost,
        ctx: { ge: 0 },
      });
    } else if (n > MAX_RUN_COST_USD) {
      problems.push({
        type: "less_than_equal",
        loc: at("cost_usd"),
        msg: `Input should be less than or equal to ${MAX_RUN_COST_USD}`,
        input: cost,
        ctx: { le: MAX_RUN_COST_USD },
      });
    } else {
      costUsd = n + 0;
    }
  }

  let metadata: Record<string, unknown> = {};
  const meta = input.metadata;
  if (meta !== undefined && meta !== null) {
    if (isPlainObject(meta)) metadata = meta;
    else problems.push({ type: "model_type", loc: at("metadata"), msg: "Input should be a JSON object", input: meta });
  }

  let tsMs = options.nowMs;
  const ts = input.ts;
  if (ts === undefined || ts === null) {
    if (options.requireTs) problems.push({ type: "missing", loc: at("ts"), msg: "Field required" });
  } else {
    const ms = typeof ts === "string" || typeof ts === "number" ? parseDatetime(ts) : null;
    if (ms === null) problems.push({ type: "datetime_parsing", loc: at("ts"), msg: "Input should be a valid datetime", input: ts });
    else tsMs = ms;
  }

  const cohort = text("experiment_cohort", RUN_TEXT_LIMITS.experiment_cohort, false);
  const tag = text("experiment_tag", RUN_TEXT_LIMITS.experiment_tag, false);

  if (problems.length > before || providerId === null) return null;
  return {
    provider_id: providerId,
    tool,
    route,
    tokens_in: tokensIn,
    tokens_out: tokensOut,
    duration_ms: durationMs,
    status,
    cost_usd: costUsd,
    metadata,
    ts_ms: tsMs,
    experiment_cohort: cohort,
    experiment_tag: tag,
  };
}

/**
 * Validates a whole ingestion body (§11.1): one run, or `{runs: [...]}` with 1..5000 runs.
 * All-or-nothing: returns every run, or throws a 422 listing the problems (the first
 * MAX_REPORTED_PROBLEMS of them).
 */
export function validateIngestBody(body: unknown, nowMs: number): RunInput[] {
  if (!isPlainObject(body)) {
    throw validationFailed([{ type: "model_type", loc: ["body"], msg: "Input should be a JSON object", input: body }]);
  }
  if (!Object.hasOwn(body, "runs")) {
    const problems: ValidationItem[] = [];
    const run = validateRun(body, ["body"], { nowMs }, problems);
    if (run === null) throw validationFailed(problems);
    return [run];
  }
  const list = body.runs;
  if (!Array.isArray(list)) {
    throw validationFailed([{ type: "list_type", loc: ["body", "runs"], msg: "Input should be a valid list", input: list }]);
  }
  if (list.length < 1) {
    throw validationFailed([
      {
        type: "too_short",
        loc: ["body", "runs"],
        msg: "List should have at least 1 item after validation, not 0",
        ctx: { min_length: 1, actual_length: 0 },
      },
    ]);
  }
  if (list.length > MAX_BATCH_RUNS) {
    throw validationFailed([
      {
        type: "too_long",
        loc: ["body", "runs"],
        msg: `List should have at most ${MAX_BATCH_RUNS} items after validation, not ${list.length}`,
        ctx: { max_length: MAX_BATCH_RUNS, actual_length: list.length },
      },
    ]);
  }
  const problems: ValidationItem[] = [];
  const runs: RunInput[] = [];
  for (let i = 0; i < list.length && problems.length < MAX_REPORTED_PROBLEMS; i++) {
    const run = validateRun(list[i], ["body", "runs", i], { nowMs }, problems);
    if (run !== null) runs.push(run);
  }
  if (problems.length > 0) throw validationFailed(problems.slice(0, MAX_REPORTED_PROBLEMS));
  return runs;
}

// ---------------------------------------------------------------------------------------------
// Error category (§10.2)

/** Label of a text: trim, `_` → space, split on spaces dropping empty parts, capitalise, join. */
export function errorLabel(text: string): string {
  return text
    .trim()
    .replace(/_/g, " ")
    .split(" ")
    .filter((word) => word !== "")
    .map((word) => {
      const first = String.fromCodePoint(word.codePointAt(0) as number);
      return first.toUpperCase() + word.slice(first.length).toLowerCase();
    })
    .join(" ");
}

/** Label of a metadata value: strings and numbers only (numbers in shortest decimal form). */
function valueLabel(value: unknown): string {
  if (typeof value === "string") return errorLabel(value);
  if (typeof value === "number" && Number.isFinite(value)) return errorLabel(String(value));
  return "";
}

const ERROR_OBJECT_KEYS = ["category", "type", "code", "name", "kind"] as const;
const ERROR_TOP_LEVEL_KEYS = [
  "error_category",
  "errorCategory",
  "error_type",
  "errorType",
  "error_code",
  "errorCode",
  "failure_reason",
  "failureReason",
] as const;

/** The §10.2 error category of a non-success run (status already normalised). */
export function errorCategory(status: string, metadata: Record<string, unknown>): string {
  const candidates: unknown[] = [];
  const error = metadata.error;
  if (isPlainObject(error)) {
    for (const key of ERROR_OBJECT_KEYS) if (Object.hasOwn(error, key)) candidates.push(error[key]);
  } else if (typeof error === "string") {
    candidates.push(error);
  }
  for (const key of ERROR_TOP_LEVEL_KEYS) if (Object.hasOwn(metadata, key)) candidates.push(metadata[key]);
  candidates.push(status);
  for (const candidate of candidates) {
    const label = valueLabel(candidate);
    if (label !== "") return label;
  }
  return "Unknown";
}

// ---------------------------------------------------------------------------------------------
// Cache (§10.2)

const HIT_TEXTS = new Set(["hit", "true", "yes", "y", "1"]);
const MISS_TEXTS = new Set(["miss", "false", "no", "n", "0"]);

/** A cache flag: true hit, false miss, null when the value does not convert. */
export function cacheFlag(value: unknown): boolean | null {
  if (value === true || value === 1) return true;
  if (value === false || value === 0) return false;
  if (typeof value === "string") {
    const text = value.trim().toLowerCase();
    if (HIT_TEXTS.has(text)) return true;
    if (MISS_TEXTS.has(text)) return false;
  }
  return null;
}

/**
 * A token count: a number or numeric string truncated to an integer; null when not numeric, zero,
 * or beyond 2^53 − 1 in magnitude (such a value cannot be a token count and could not be stored).
 */
function tokenCount(value: unknown): number | null {
  const n = numberValue(value);
  if (n === null || !Number.isFinite(n)) return null;
  const truncated = Math.trunc(n) + 0;
  if (truncated === 0 || Math.abs(truncated) > MAX_RUN_INTEGER) return null;
  return truncated;
}

function firstFlag(source: Record<string, unknown>, keys: readonly string[]): boolean | null {
  for (const key of keys) {
    if (!Object.hasOwn(source, key)) continue;
    const flag = cacheFlag(source[key]);
    if (flag !== null) return flag;
  }
  return null;
}

function firstCount(source: Record<string, unknown>, keys: readonly string[]): number | null {
  for (const key of keys) {
    if (!Object.hasOwn(source, key)) continue;
    const count = tokenCount(source[key]);
    if (count !== null) return count;
  }
  return null;
}

export interface CacheValues {
  /** 1 hit, 0 miss, null no flag (not a sample). */
  cache_hit: number | null;
  /** This run's contribution to cached_tokens. */
  cached_tokens: number;
}

/** The §10.2 cache flag and cached-token contribution of one run. */
export function cacheValues(metadata: Record<string, unknown>, tokensOut: number): CacheValues {
  let flag: boolean | null = null;
  let count: number | null = null;
  const cache = metadata.cache;
  if (isPlainObject(cache)) {
    flag = firstFlag(cache, ["hit", "cache_hit", "status", "result"]);
    count = firstCount(cache, ["tokens", "token_count", "cached_tokens"]);
  }
  if (flag === null && count === null) {
    flag = firstFlag(metadata, ["cache_hit", "cacheHit", "cache_status", "cacheStatus"]);
    count = firstCount(metadata, ["cached_tokens", "cache_tokens", "cacheHitTokens"]);
  }
  if (flag === true) return { cache_hit: 1, cached_tokens: count ?? tokensOut };
  if (flag === false) return { cache_hit: 0, cached_tokens: 0 };
  return { cache_hit: null, cached_tokens: count !== null && count > 0 ? count : 0 };
}

// ---------------------------------------------------------------------------------------------
// Rows and Run items

/** The stored row of a validated run, with every derived column. */
export function rowFromRun(run: RunInput, ingestedAtMs: number): TelemetryRowInsert {
  const success = run.status === "success";
  const cache = cacheValues(run.metadata, run.tokens_out);
  return {
    provider_id: run.provider_id,
    tool: run.tool,
    route: run.route,
    tokens_in: run.tokens_in,
    tokens_out: run.tokens_out,
    duration_ms: run.duration_ms,
    status: run.status,
    cost_usd: run.cost_usd,
    metadata: JSON.stringify(run.metadata),
    ts: toStoredInstant(run.ts_ms),
    ingested_at: toStoredInstant(ingestedAtMs),
    experiment_cohort: run.experiment_cohort,
    experiment_tag: run.experiment_tag,
    day: utcDay(run.ts_ms),
    is_success: success ? 1 : 0,
    error_category: success ? null : errorCategory(run.status, run.metadata),
    cache_hit: cache.cache_hit,
    cached_tokens: cache.cached_tokens,
  };
}

/** Metadata text of a row as an object (`{}` if the text is somehow not a JSON object). */
function metadataObject(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return isPlainObject(value) ? value : {};
  } catch {
    return {};
  }
}

/**
 * The Run item (§10.6) of a stored row. providerById: manifest providers by id; a provider not in
 * the manifest gets its id as name and a null lane.
 */
export function runItemFromRow(
  row: Pick<
    TelemetryRow,
    | "id"
    | "provider_id"
    | "route"
    | "tool"
    | "ts"
    | "tokens_in"
    | "tokens_out"
    | "duration_ms"
    | "status"
    | "cost_usd"
    | "metadata"
    | "experiment_cohort"
    | "experiment_tag"
  >,
  providerById: ReadonlyMap<string, RunItemProvider>,
): RunItem {
  const provider = providerById.get(row.provider_id);
  return {
    id: Number(row.id),
    provider_id: row.provider_id,
    provider_name: provider?.summary.name ?? row.provider_id,
    route: row.route,
    lane: provider?.lane ?? null,
    tool: row.tool,
    ts: formatStoredInstant(row.ts),
    tokens_in: Number(row.tokens_in),
    tokens_out: Number(row.tokens_out),
    duration_ms: Number(row.duration_ms),
    status: row.status,
    cost_usd: row.cost_usd === null ? 0 : roundHalfEven(Number(row.cost_usd), 6),
    metadata: metadataObject(row.metadata),
    experiment_cohort: row.experiment_cohort,
    experiment_tag: row.experiment_tag,
  };
}
