/**
 * The pull-request registration format (§12.3), shared by the finops service (POST
 * /telemetry/finops/pull-requests) and the store seed (fixtures/finops_pull_requests.json).
 */
import type { ValidationItem } from "./errors";
import { containsUnstorableText, isPlainObject, unstorableTextItem } from "./validation";
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
    else if (charCount(text) > max) problems.push({ type: "too_long", loc: [...loc, field], msg: `String should have at most ${max} characters`, input: value });
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
    if (charCount(text) > max) problems.push({ type: "too_long", loc: [...loc, field], msg: `String should have at most ${max} characters`, input: value });
    return text === "" ? null : text;
  };

  const id = requiredText("id", 100);
  const title = requiredText("title", 300);
  const owner = optionalText("owner", 200) ?? UNKNOWN_OWNER;
  let mergedAtMs = 0;
  const merged = input.merged_at;
  if (merged === undefined || merged === null) {
    problems.push({ type: "missing", loc: [...loc, "merged_at"], msg: "Field required" });
  } else {
    const ms = typeof merged === "string" || typeof merged === "number" ? parseDatetime(merged) : null;
    if (ms === null) problems.push({ type: "datetime_parsing", loc: [...loc, "merged_at"], msg: "Input should be a valid datetime", input: merged });
    else mergedAtMs = ms;
  }
  const providerId = requiredText("provider_id", 200);
  const route = optionalText("route", 200);

  if (problems.length > 0) return { record: null, problems };
  return { record: { id, title, owner, merged_at_ms: mergedAtMs, provider_id: providerId, route }, problems: [] };
}
