/**
 * fastest-validator schemas (the ones lib/validation.ts compileSchema compiles) as JSON Schema
 * 2020-12, for the OpenAPI document: the subset this project writes, converted rule by rule, and
 * anything else refused with an error naming it (so a new rule cannot slip into the document
 * unconverted).
 *
 * Supported: the types `string` (`empty`, `min`, `max`, `length`, `pattern`), `number` (`integer`,
 * `min`, `max`, `positive`, `negative`), `boolean`, `array` (`items`, `min`, `max`, `empty`),
 * `object` (`props`/`properties`, `strict`), `enum` (`values`), `equal` (`value`), `any`; the
 * shorthand strings (`"string"`, `"number|optional"`…); on every rule `optional`, `nullable`,
 * `default` and `description`; the root's `$$strict` (absent or false: unknown keys pass).
 *
 * fastest-validator lets `null` through where a field is `optional` (null counts as absent), so an
 * optional field's schema accepts null too: the converted schema accepts what the validator does.
 * One difference: fastest-validator counts a string's `min`/`max` in UTF-16 code units, JSON Schema
 * in characters (code points); they differ only for characters outside the Basic Multilingual Plane.
 */
import type { JsonSchema } from "./json-schema";

type Rule = string | Record<string, unknown>;

const META_KEYS = new Set(["type", "optional", "nullable", "default", "description", "messages", "label"]);

const SUPPORTED: Readonly<Record<string, ReadonlySet<string>>> = {
  string: new Set(["empty", "min", "max", "length", "pattern"]),
  number: new Set(["integer", "min", "max", "positive", "negative"]),
  boolean: new Set(),
  array: new Set(["items", "min", "max", "empty"]),
  object: new Set(["props", "properties", "strict"]),
  enum: new Set(["values"]),
  equal: new Set(["value"]),
  any: new Set(),
};

/** "string|optional" → {type: "string", optional: true}. */
function expand(rule: Rule): Record<string, unknown> {
  if (typeof rule !== "string") return rule;
  const [type, ...flags] = rule.split("|").map((s) => s.trim());
  const out: Record<string, unknown> = { type };
  for (const flag of flags) {
    const [key, value] = flag.split(":");
    out[key] = value === undefined ? true : value === "false" ? false : value;
  }
  return out;
}

function withNull(schema: JsonSchema): JsonSchema {
  if (schema.type === undefined && schema.enum === undefined && schema.const === undefined) return schema; // `any` accepts null already
  if (schema.const !== undefined) return { enum: [schema.const, null] };
  const out: JsonSchema = { ...schema };
  if (typeof out.type === "string") out.type = [out.type, "null"];
  if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
  return out;
}

function convertRule(raw: Rule, where: string): { schema: JsonSchema; optional: boolean } {
  const rule = expand(raw);
  const type = String(rule.type ?? "any");
  const supported = SUPPORTED[type];
  if (supported === undefined) throw new Error(`fastest-validator rule type '${type}' at ${where} has no JSON Schema conversion`);
  for (const key of Object.keys(rule)) {
    if (!META_KEYS.has(key) && !supported.has(key))
      throw new Error(`fastest-validator rule '${type}.${key}' at ${where} has no JSON Schema conversion`);
  }
  let schema: JsonSchema;
  switch (type) {
    case "string":
      schema = { type: "string" };
      if (rule.empty === false) schema.minLength = 1;
      if (typeof rule.min === "number") schema.minLength = Math.max(rule.min, (schema.minLength as number | undefined) ?? 0);
      if (typeof rule.max === "number") schema.maxLength = rule.max;
      if (typeof rule.length === "number") schema.minLength = schema.maxLength = rule.length;
      if (rule.pattern !== undefined) schema.pattern = rule.pattern instanceof RegExp ? rule.pattern.source : String(rule.pattern);
      break;
    case "number":
      schema = { type: rule.integer === true ? "integer" : "number" };
      if (typeof rule.min === "number") schema.minimum = rule.min;
      if (typeof rule.max === "number") schema.maximum = rule.max;
      if (rule.positive === true) schema.exclusiveMinimum = 0;
      if (rule.negative === true) schema.exclusiveMaximum = 0;
      break;
    case "boolean":
      schema = { type: "boolean" };
      break;
    case "array":
      schema = { type: "array" };
      if (rule.items !== undefined) schema.items = convertRule(rule.items as Rule, `${where}[]`).schema;
      if (rule.empty === false) schema.minItems = 1;
      if (typeof rule.min === "number") schema.minItems = rule.min;
      if (typeof rule.max === "number") schema.maxItems = rule.max;
      break;
    case "object": {
      const props = (rule.props ?? rule.properties) as Record<string, Rule> | undefined;
      schema = props === undefined ? { type: "object" } : objectSchema(props, rule.strict, where);
      break;
    }
    case "enum":
      schema = { enum: [...(rule.values as unknown[])] };
      if ((rule.values as unknown[]).every((v) => typeof v === "string")) schema = { type: "string", ...schema };
      break;
    case "equal":
      schema = { const: rule.value };
      break;
    default:
      schema = {};
  }
  if (typeof rule.description === "string") schema.description = rule.description;
  if (rule.default !== undefined && typeof rule.default !== "function") schema.default = rule.default;
  const optional = rule.optional === true || rule.default !== undefined;
  // null passes an optional rule (fastest-validator counts it as absent) and a nullable one.
  if (rule.nullable === true || optional) schema = withNull(schema);
  return { schema, optional };
}

function objectSchema(props: Record<string, Rule>, strict: unknown, where: string): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const [name, rule] of Object.entries(props)) {
    if (name.startsWith("$$")) continue;
    const { schema, optional } = convertRule(rule, where === "" ? name : `${where}.${name}`);
    properties[name] = schema;
    if (!optional) required.push(name);
  }
  const out: JsonSchema = { type: "object", properties };
  if (required.length > 0) out.required = required;
  // `strict: true` refuses unknown keys; "remove" drops them (they pass); false lets them pass.
  if (strict === true) out.additionalProperties = false;
  return out;
}

/**
 * The JSON Schema of a root fastest-validator schema (an object's fields by name, with `$$strict`):
 * an object schema whose properties are the converted rules and whose `required` lists the fields
 * that are neither optional nor defaulted. Throws on a rule outside the supported subset.
 */
export function fastestValidatorToJsonSchema(schema: Record<string, unknown>): JsonSchema {
  const props = Object.fromEntries(Object.entries(schema).filter(([k]) => !k.startsWith("$$"))) as Record<string, Rule>;
  const strict = schema.$$strict;
  return objectSchema(props, strict, "");
}
