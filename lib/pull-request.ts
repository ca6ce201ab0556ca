/**
 * The pull-request registration format (§12.3), shared by the finops service (POST
 * /telemetry/finops/pull-requests) and the store seed (fixtures/finops_pull_requests.json).
 */
import type { ValidationItem } from "./errors";
import { containsUnstorableText, isPlainObject, unstorableTextItem } from "./validation";
import { DATETIME_INPUT_SCHEMA, type JsonSchema, nullable } from "./json-schema";
import { parseDatetime } from "./time";

export const UNKNOWN_OWNER = "\u2014";

/** A validated pull request; merged_at as epoch milliseconds. */
export interface PullRequestInput {
  id: string;
  title: string;
  owner: string;
  merged_at_ms: number;
  provider_id: string;
  route: string | null;
}

/** Longest text of each field, in characters (code points) after trimming. */
export const PULL_REQUEST_TEXT_LIMITS = { id: 100, title: 300, owner: 200, provider_id: 200, route: 200 } as const;

const required = (field: keyof typeof PULL_REQUEST_TEXT_LIMITS, description: string): JsonSchema => ({
  type: "string",
  maxLength: PULL_REQUEST_TEXT_LIMITS[field],
  pattern: "\\S",
  description,
});

/**
 * The JSON Schema of a registration body as validatePullRequest accepts it (§12.3), from the same
 * limits. Unknown keys are ignored. Not said by the schema: text no store can keep (NUL, lone
 * surrogates) is refused, and lengths are counted after trimming.
 */
export const PULL_REQUEST_BODY_SCHEMA: JsonSchema = {
  type: "object",
  required: ["id", "title", "merged_at", "provider_id"],
  properties: {
    id: required("id", "Pull-request id (unique; a second registration → 409)."),
    title: required("title", "Title."),
    owner: { ...nullable({ type: "string", maxLength: PULL_REQUEST_TEXT_LIMITS.owner }), description: "Author; null or blank: `\u2014`." },
    merged_at: { ...DATETIME_INPUT_SCHEMA, description: "When it was merged." },
    provider_id: required("provider_id", "The provider whose runs it is charged with."),
    route: nullable({ type: "string", maxLength: PULL_REQUEST_TEXT_LIMITS.route }),
  },
};

/** Number of characters (code points) of a string: the contract's lengths count characters. */
function charCount(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

function stringProblem(loc: (string | number)[], value: unknown): ValidationItem {
  return { type: "string_type", loc, msg: "Input should be a valid string", input: value };
}

/**
 * Validates one registration body. Returns the normalised record, or the list of problems (each
 * loc starts with `loc`, e.g. ["body"] or ["items", 3]).
 */
export function validatePullRequest(
  input: unknown,
  loc: (string | number)[],
): { record: PullRequestInput; problems: [] } | { record: null; problems: ValidationItem[] } {
  if (!isPlainObject(input)) {
    return { record: null, problems: [{ type: "model_type", loc, msg: "Input should be a JSON object", input }] };
  }
  const problems: ValidationItem[] = [];

  const requiredText = (field: string, max: number): string => {
    const value = input[field];
    if (value === undefined || value === null) {
      problems.push({ type: "missing", loc: [...loc, field], msg: "Field required" });
      return "";
    }
    if (typeof value !== "string") {
      problems.push(stringProblem([...loc, field], value));
      return "";
    }
    if (containsUnstorableText(value)) {
      problems.push(unstorableTextItem([...loc, field], value));
      return "";
    }
    const text = value.trim();
    if (text.length < 1) problems.push({ type: "too_short", loc: [...loc, field], msg: "String should have at least 1 character", input: value });
    else if (charCount(text) > max)
      problems.push({ type: "too_long", loc: [...loc, field], msg: `String should have at most ${max} characters`, input: value });
    return text;
  };
  const optionalText = (field: string, max: number): string | null => {
    const value = input[field];
    if (value === undefined || value === null) return null;
    if (typeof value !== "string") {
      problems.push(stringProblem([...loc, field], value));
      return null;
    }
    if (containsUnstorableText(value)) {
      problems.push(unstorableTextItem([...loc, field], value));
      return null;
    }
    const text = value.trim();
    if (charCount(text) > max)
      problems.push({ type: "too_long", loc: [...loc, field], msg: `String should have at most ${max} characters`, input: value });
    return text === "" ? null : text;
  };

  const id = requiredText("id", PULL_REQUEST_TEXT_LIMITS.id);
  const title = requiredText("title", PULL_REQUEST_TEXT_LIMITS.title);
  const owner = optionalText("owner", PULL_REQUEST_TEXT_LIMITS.owner) ?? UNKNOWN_OWNER;
  let mergedAtMs = 0;
  const merged = input.merged_at;
  if (merged === undefined || merged === null) {
    problems.push({ type: "missing", loc: [...loc, "merged_at"], msg: "Field required" });
  } else {
    const ms = typeof merged === "string" || typeof merged === "number" ? parseDatetime(merged) : null;
    if (ms === null) problems.push({ type: "datetime_parsing", loc: [...loc, "merged_at"], msg: "Input should be a valid datetime", input: merged });
    else mergedAtMs = ms;
  }
  const providerId = requiredText("provider_id", PULL_REQUEST_TEXT_LIMITS.provider_id);
  const route = optionalText("route", PULL_REQUEST_TEXT_LIMITS.route);

  if (problems.length > 0) return { record: null, problems };
  return { record: { id, title, owner, merged_at_ms: mergedAtMs, provider_id: providerId, route }, problems: [] };
}
