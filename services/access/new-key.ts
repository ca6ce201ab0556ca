/**
 * The body of POST /security/api-keys (runtime-contract §25.1, §25.3): its check and its JSON
 * Schema, side by side.
 */
import { isRole, ROLES, type Role } from "../../lib/access";
import { validationFailed, type ValidationItem } from "../../lib/errors";
import { DATETIME_INPUT_SCHEMA, type JsonSchema, nullable } from "../../lib/json-schema";
import { parseDatetime } from "../../lib/time";
import { charCount, containsUnstorableText } from "../../lib/validation";

/** Longest key name. */
export const MAX_KEY_NAME_CHARS = 128;
/** Largest per-key rate limit (requests or runs per second). */
export const MAX_KEY_RATE = 1_000_000;

const rateSchema = (description: string): JsonSchema => ({ ...nullable({ type: "number", minimum: 0, maximum: MAX_KEY_RATE }), description });

/**
 * The JSON Schema of the body as parseNewKey accepts it. Not said by the schema: `expires_at` must
 * be in the future, text no store can keep (NUL, lone surrogates) is refused, and the limits may be numeric strings (§6.3).
 */
export const NEW_KEY_BODY_SCHEMA: JsonSchema = {
  type: "object",
  required: ["name", "role"],
  properties: {
    name: { type: "string", maxLength: MAX_KEY_NAME_CHARS, pattern: "\\S", description: "A name to recognise the key by (the audit log's actor)." },
    role: { type: "string", enum: [...ROLES], description: "viewer ⊂ operator ⊂ admin (GET /security/roles)." },
    expires_at: { ...nullable(DATETIME_INPUT_SCHEMA), description: "When the key stops working (in the future); null: never." },
    rate_limit_rps: rateSchema("This key's request rate limit per second (null: the configured default; 0: none)."),
    rate_limit_runs: rateSchema("This key's ingested-runs rate limit per second (null: the configured default; 0: none)."),
  },
};

/** The optional per-key limit fields (§25.3): null/absent = the configured default; 0 = no limit for this key. */
function rateField(body: Record<string, unknown>, name: string, items: ValidationItem[]): number | null {
  const v = body[name];
  if (v === undefined || v === null) return null;
  const loc = ["body", name];
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v)) ? Number(v) : NaN;
  if (typeof v === "boolean" || !Number.isFinite(n)) {
    items.push({ type: "float_parsing", loc, msg: "Input should be a valid number", input: v });
    return null;
  }
  if (n < 0) items.push({ type: "greater_than_equal", loc, msg: "Input should be greater than or equal to 0", input: v, ctx: { ge: 0 } });
  else if (n > MAX_KEY_RATE)
    items.push({ type: "less_than_equal", loc, msg: `Input should be less than or equal to ${MAX_KEY_RATE}`, input: v, ctx: { le: MAX_KEY_RATE } });
  return n;
}

export interface NewKeyFields {
  name: string;
  role: Role;
  expiresAtMs: number | null;
  rateLimitRps: number | null;
  rateLimitRuns: number | null;
}

/** The body of POST /security/api-keys (§25.1); 422 per field. */
export function parseNewKey(body: Record<string, unknown>, nowMs: number): NewKeyFields {
  const items: ValidationItem[] = [];
  const name = body.name;
  if (name === undefined || name === null) items.push({ type: "missing", loc: ["body", "name"], msg: "Field required" });
  else if (typeof name !== "string") items.push({ type: "string_type", loc: ["body", "name"], msg: "Input should be a valid string", input: name });
  else if (name.trim().length < 1)
    items.push({ type: "too_short", loc: ["body", "name"], msg: "String should have at least 1 character", input: name });
  else if (charCount(name) > MAX_KEY_NAME_CHARS) {
    items.push({
      type: "too_long",
      loc: ["body", "name"],
      msg: `String should have at most ${MAX_KEY_NAME_CHARS} characters`,
      ctx: { max_length: MAX_KEY_NAME_CHARS },
    });
  } else if (containsUnstorableText(name)) {
    items.push({ type: "string_unicode", loc: ["body", "name"], msg: "Input should be valid Unicode text without NUL characters" });
  }
  const role = body.role;
  if (role === undefined || role === null) items.push({ type: "missing", loc: ["body", "role"], msg: "Field required" });
  else if (!isRole(role)) {
    items.push({
      type: "literal_error",
      loc: ["body", "role"],
      msg: `Input should be ${ROLES.map((r) => `'${r}'`).join(", ")}`,
      input: role,
      ctx: { expected: ROLES.join(", ") },
    });
  }
  let expiresAtMs: number | null = null;
  if (body.expires_at !== undefined && body.expires_at !== null) {
    const parsed = typeof body.expires_at === "string" || typeof body.expires_at === "number" ? parseDatetime(body.expires_at) : null;
    if (parsed === null)
      items.push({ type: "datetime_parsing", loc: ["body", "expires_at"], msg: "Input should be a valid datetime", input: body.expires_at });
    else if (parsed <= nowMs)
      items.push({ type: "value_error", loc: ["body", "expires_at"], msg: "expires_at must be in the future", input: body.expires_at });
    else expiresAtMs = parsed;
  }
  const rateLimitRps = rateField(body, "rate_limit_rps", items);
  const rateLimitRuns = rateField(body, "rate_limit_runs", items);
  if (items.length > 0) throw validationFailed(items);
  return { name: name as string, role: role as Role, expiresAtMs, rateLimitRps, rateLimitRuns };
}
