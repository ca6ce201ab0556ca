/**
 * The body of `POST /routing/simulate` (§13): validation and defaults. Every problem becomes one
 * ValidationItem located at ["body", field, …]; extra keys are ignored.
 */
import type { ValidationItem } from "../../lib/errors";
import { fastestValidatorToJsonSchema } from "../../lib/fv-json-schema";
import type { JsonSchema } from "../../lib/json-schema";
import { compileSchema, throwIfInvalid } from "../../lib/validation";
import { isStrategy, Strategy, STRATEGIES } from "./plan";

export const DEFAULT_VOLUME_MILLIONS = 10;
export const MAX_VOLUME_MILLIONS = 1_000_000_000;

export interface SimulationRequest {
  /** As sent, duplicates included; empty = every manifest provider. */
  providerIds: string[];
  strategy: Strategy;
  failoverProviderId: string | null;
  volumeMillions: number;
}

/**
 * fastest-validator treats null as "absent" for optional fields, so the fields where null is an
 * error (provider_ids, strategy) are checked for null before this schema runs. It also reports a
 * null array item without its index, so the items of provider_ids are checked by checkIds.
 */
export const SIMULATION_TYPED_FIELDS = {
  $$strict: false,
  provider_ids: {
    type: "array",
    optional: true,
    description: "Providers to plan over, in order (duplicates kept; empty or absent: every manifest provider).",
  },
  strategy: { type: "enum", values: [...STRATEGIES], optional: true, description: "Routing strategy (absent: `balanced`)." },
  failover_provider_id: {
    type: "string",
    optional: true,
    nullable: true,
    description: 'Provider kept for failover and left out of the plan (null, "" or "none": no failover).',
  },
};
const checkTypedFields = compileSchema(SIMULATION_TYPED_FIELDS);

/**
 * The JSON Schema of the body: SIMULATION_TYPED_FIELDS converted (lib/fv-json-schema.ts), then what
 * parseSimulationRequest checks by hand: provider_ids and strategy refuse null, provider_ids' items
 * are strings (checkIds), volume_millions is a number in 0..MAX_VOLUME_MILLIONS (readVolume; numeric
 * strings are accepted too, §6.3). Unknown keys (the console's `intents`, `custom_rules`) are ignored.
 */
export function simulationBodySchema(): JsonSchema {
  const schema = fastestValidatorToJsonSchema(SIMULATION_TYPED_FIELDS);
  const properties = schema.properties as Record<string, JsonSchema>;
  const notNull = (p: JsonSchema): JsonSchema => {
    const { type, enum: values, ...rest } = p;
    const out: JsonSchema = { ...rest };
    if (Array.isArray(type)) out.type = type.filter((t) => t !== "null")[0];
    if (Array.isArray(values)) out.enum = values.filter((v) => v !== null);
    return out;
  };
  properties.provider_ids = { ...notNull(properties.provider_ids), items: { type: "string" } };
  // Defaults are said in the descriptions: a `default` keyword makes some client generators treat the field as always present.
  properties.strategy = notNull(properties.strategy);
  properties.volume_millions = {
    type: "number",
    minimum: 0,
    maximum: MAX_VOLUME_MILLIONS,
    description: `Monthly volume, in millions of requests (absent: ${DEFAULT_VOLUME_MILLIONS}).`,
  };
  return schema;
}

/** A decimal number written as a string ("10", "2.5", "-1", "1e3"), surrounding spaces allowed. */
const NUMERIC_STRING = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

function nullNotAllowed(field: string, type: string, msg: string): ValidationItem {
  return { type, loc: ["body", field], msg, input: null };
}

/** One string_type item per non-string entry of provider_ids, located by its index. */
function checkIds(raw: unknown, problems: ValidationItem[]): void {
  if (!Array.isArray(raw)) return;
  raw.forEach((item, index) => {
    if (typeof item !== "string") {
      problems.push({ type: "string_type", loc: ["body", "provider_ids", index], msg: "Input should be a valid string", input: item });
    }
  });
}

/** volume_millions: a number or numeric string, finite, within 0..1e9. */
function readVolume(raw: unknown, problems: ValidationItem[]): number {
  if (raw === undefined) return DEFAULT_VOLUME_MILLIONS;
  const loc = ["body", "volume_millions"];
  let value: number;
  if (typeof raw === "number") {
    value = raw;
  } else if (typeof raw === "string" && NUMERIC_STRING.test(raw)) {
    value = Number(raw);
  } else {
    problems.push({ type: "float_parsing", loc, msg: "Input should be a valid number", input: raw });
    return DEFAULT_VOLUME_MILLIONS;
  }
  if (!Number.isFinite(value)) {
    problems.push({ type: "finite_number", loc, msg: "Input should be a finite number", input: raw });
  } else if (value < 0) {
    problems.push({
      type: "greater_than_equal",
      loc,
      msg: "Input should be greater than or equal to 0",
      input: raw,
      ctx: { ge: 0 },
    });
  } else if (value > MAX_VOLUME_MILLIONS) {
    problems.push({
      type: "less_than_equal",
      loc,
      msg: `Input should be less than or equal to ${MAX_VOLUME_MILLIONS}`,
      input: raw,
      ctx: { le: MAX_VOLUME_MILLIONS },
    });
  }
  // -0 is a valid 0; normalise it so nothing downstream writes "-0".
  return value === 0 ? 0 : value;
}

/** Validates the body (an object, guaranteed by the gateway); throws the 422 listing every problem. */
export function parseSimulationRequest(body: Record<string, unknown>): SimulationRequest {
  const problems: ValidationItem[] = [];
  if (body.provider_ids === null) {
    problems.push(nullNotAllowed("provider_ids", "list_type", "Input should be a valid list"));
  }
  if (body.strategy === null) {
    problems.push({
      ...nullNotAllowed("strategy", "literal_error", `Input should be one of ${STRATEGIES.join(", ")}`),
      ctx: { expected: STRATEGIES.join(", ") },
    });
  }
  problems.push(...checkTypedFields(body, ["body"]));
  checkIds(body.provider_ids, problems);
  const volumeMillions = readVolume(body.volume_millions, problems);
  throwIfInvalid(problems);

  const providerIds = (body.provider_ids as string[] | undefined) ?? [];
  const strategy = isStrategy(body.strategy) ? body.strategy : "balanced";
  const failoverProviderId = (body.failover_provider_id as string | null | undefined) ?? null;
  return { providerIds: [...providerIds], strategy, failoverProviderId, volumeMillions };
}
