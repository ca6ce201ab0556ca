/**
 * JSON Schema (2020-12, the dialect of OpenAPI 3.1) as the input declarations beside each validator
 * write it: the type, and the pieces several of them share. The OpenAPI document
 * (services/api/openapi/) shows these schemas; test/http/openapi.test.ts sends what they accept to
 * the server, which must not refuse it.
 */
import { MAX_INSTANT_MS, MIN_INSTANT_MS } from "./time";

/** A JSON Schema object (keywords by name). */
export type JsonSchema = { [keyword: string]: unknown };

/** The schema that also accepts `null`: `type` gets "null" added (and `enum` the value null). */
export function nullable(schema: JsonSchema): JsonSchema {
  const out: JsonSchema = { ...schema };
  if (typeof out.type === "string") out.type = [out.type, "null"];
  else if (Array.isArray(out.type) && !out.type.includes("null")) out.type = [...out.type, "null"];
  if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  if (out.type === undefined && out.oneOf !== undefined) return { anyOf: [schema, { type: "null" }] };
  return out;
}

/**
 * A datetime in a JSON body (api-contract §6.2): an ISO-8601 text or a Unix time as a number
 * (seconds, or milliseconds when its absolute value exceeds 2 × 10^10), years 0001–9999.
 */
export const DATETIME_INPUT_SCHEMA: JsonSchema = {
  oneOf: [
    {
      type: "string",
      format: "date-time",
      description:
        "ISO-8601: `YYYY-MM-DD(T| )HH:MM[:SS[.f]]` with `Z`, an offset `±HH:MM`/`±HHMM` or nothing (UTC), up to 6 fraction digits; " +
        "also a bare date `YYYY-MM-DD` (midnight UTC) or a decimal number as text. Years 0001–9999; no leap second.",
    },
    {
      type: "number",
      minimum: MIN_INSTANT_MS,
      maximum: MAX_INSTANT_MS,
      description: "Unix time: seconds, or milliseconds when the absolute value exceeds 2 × 10^10.",
    },
  ],
};

/** The same for a query parameter, whose value is always text (api-contract §6.1, §6.2). */
export const DATETIME_QUERY_SCHEMA: JsonSchema = {
  type: "string",
  format: "date-time",
  description:
    "ISO-8601 datetime (naive = UTC; offsets converted; up to 6 fraction digits), a date `YYYY-MM-DD` (midnight UTC), " +
    "or Unix seconds (milliseconds when the absolute value exceeds 2 × 10^10). Years 0001–9999. An empty value → 422.",
};
