/**
 * The body of PUT /secrets/{id} (runtime-contract §24): its check and its JSON Schema, side by side.
 * The 422 items never echo the value.
 */
import { validationFailed, type ValidationItem } from "../../lib/errors";
import type { JsonSchema } from "../../lib/json-schema";
import { MAX_SECRET_CHARS } from "../../lib/secrets/store";
import { charCount, containsUnstorableText } from "../../lib/validation";

/**
 * The JSON Schema of the body as secretValue accepts it. Not said by the schema: text the process
 * environment cannot carry (NUL, lone surrogates) is refused. The length is counted in characters
 * (code points), as the schema's maxLength counts it.
 */
export const SECRET_BODY_SCHEMA: JsonSchema = {
  type: "object",
  required: ["value"],
  properties: {
    value: {
      type: "string",
      minLength: 1,
      maxLength: MAX_SECRET_CHARS,
      description: "The secret (stored encrypted; handed to the server's process as its `secret_env` variable).",
    },
  },
};

/**
 * The PUT body's `value` (§24: a string of 1..8,192 characters the process environment can carry:
 * no NUL, no lone surrogate). The 422 items never echo the value.
 */
export function secretValue(params: Record<string, unknown>): string {
  const value = params.value;
  const loc = ["body", "value"];
  let item: ValidationItem | null = null;
  if (value === undefined) item = { type: "missing", loc, msg: "Field required" };
  else if (typeof value !== "string") item = { type: "string_type", loc, msg: "Input should be a valid string" };
  else if (value.length < 1) item = { type: "too_short", loc, msg: "String should have at least 1 character", ctx: { min_length: 1 } };
  else if (charCount(value) > MAX_SECRET_CHARS) {
    item = { type: "too_long", loc, msg: `String should have at most ${MAX_SECRET_CHARS} characters`, ctx: { max_length: MAX_SECRET_CHARS } };
  } else if (containsUnstorableText(value)) {
    item = { type: "string_unicode", loc, msg: "Input should be valid Unicode text without NUL characters" };
  }
  if (item !== null) throw validationFailed([item]);
  return value as string;
}
