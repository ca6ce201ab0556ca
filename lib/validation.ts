/**
 * Input validation shared by every service: fastest-validator schemas whose errors become the
 * contract's ValidationItems (§6.4), plus the query-parameter parsers of §6.1 (int, datetime,
 * string filter) that both the telemetry and FinOps services use.
 */
import Validator, { ValidationError as FvError, ValidationSchema } from "fastest-validator";
import { ValidationItem, validationFailed } from "./errors";
import { parseDatetime } from "./time";

export const validator = new Validator({
  useNewCustomCheckerFunction: true,
  // The library's own enum message puts the allowed values where the submitted one belongs
  // ("field value 'a, b' does not match"): the submitted value is the item's `input`, the
  // allowed list its `ctx.expected`, and the message names the allowed list as what is expected.
  messages: { enumValue: "Input should be one of {expected}" },
});

/** fastest-validator error types → the recommended contract types. */
const TYPE_NAMES: ReadonlyMap<string, string> = new Map([
  ["required", "missing"],
  ["string", "string_type"],
  ["stringMin", "too_short"],
  ["stringMax", "too_long"],
  ["stringEmpty", "too_short"],
  ["number", "float_parsing"],
  ["numberInteger", "int_parsing"],
  ["numberMin", "greater_than_equal"],
  ["numberMax", "less_than_equal"],
  ["array", "list_type"],
  ["arrayMin", "too_short"],
  ["arrayMax", "too_long"],
  ["object", "model_type"],
  ["enumValue", "literal_error"],
]);

/** "runs[2].tokens_in" → ["runs", 2, "tokens_in"]. */
export function fieldPath(field: string | undefined): (string | number)[] {
  if (field === undefined || field === "" || field === "$$root") return [];
  const parts: (string | number)[] = [];
  for (const piece of field.split(".")) {
    const m = /^([^[]*)((?:\[\d+\])*)$/.exec(piece);
    if (m === null) {
      parts.push(piece);
      continue;
    }
    if (m[1] !== "") parts.push(m[1]);
    for (const idx of m[2].matchAll(/\[(\d+)\]/g)) parts.push(Number(idx[1]));
  }
  return parts;
}

export function toValidationItem(err: FvError, loc: (string | number)[]): ValidationItem {
  const item: ValidationItem = {
    type: TYPE_NAMES.get(err.type) ?? err.type,
    loc: [...loc, ...fieldPath(err.field)],
    msg: err.message ?? err.type,
  };
  if (err.actual !== undefined) item.input = err.actual;
  if (err.expected !== undefined) item.ctx = { expected: err.expected };
  return item;
}

export type Check = (value: unknown) => true | FvError[] | Promise<true | FvError[]>;

/** Compiles a schema into a synchronous checker whose failure is a list of ValidationItems. */
export function compileSchema(schema: ValidationSchema): (value: unknown, loc: (string | number)[]) => ValidationItem[] {
  const check = validator.compile({ $$async: false, ...schema }) as (value: unknown) => true | FvError[];
  return (value, loc) => {
    const result = check(value);
    return result === true ? [] : result.map((e) => toValidationItem(e, loc));
  };
}

/** Throws a 422 ContractError when items is not empty. */
export function throwIfInvalid(items: ValidationItem[]): void {
  if (items.length > 0) throw validationFailed(items);
}

/**
 * Text no store can keep verbatim: NUL (PostgreSQL text rejects it) and lone UTF-16 surrogates (not
 * encodable as UTF-8; the store would keep U+FFFD instead). Stored strings never contain either, so
 * such input is a 422 where it would be stored and matches nothing where it filters.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is the point: PostgreSQL text cannot store it
const UNSTORABLE_TEXT = /\u0000|\p{Cs}/u;

export function containsUnstorableText(value: string): boolean {
  return UNSTORABLE_TEXT.test(value);
}

/** The message of unstorableTextItem: it names both kinds of text no store can keep. */
export const UNSTORABLE_TEXT_MESSAGE = "Input should be text that can be stored: no NUL characters and no lone (unpaired) surrogates";

/** The 422 item for a string field whose text the store could not keep verbatim (NUL or a lone surrogate). */
export function unstorableTextItem(loc: (string | number)[], input: string): ValidationItem {
  return { type: "string_unicode", loc, msg: UNSTORABLE_TEXT_MESSAGE, input };
}

/**
 * The length of a text in characters (Unicode code points), as JSON Schema's minLength/maxLength
 * count it: a character outside the Basic Multilingual Plane counts 1, not 2 (its UTF-16 units).
 */
export function charCount(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------------------------
// Query parameters (§6.1): each parser returns its value or pushes a ValidationItem.

/**
 * The gateway's query parser (services/api/query.ts) gives every parameter as a string, except a
 * key or value that is not valid percent-encoded UTF-8: that value is `{[INVALID_QUERY_ENCODING]:
 * <raw text>}`, and reading it as a parameter is a 422 for that parameter (an endpoint that does not
 * read the key ignores it, like any unlisted key).
 */
export const INVALID_QUERY_ENCODING = "invalid_percent_encoding";

export interface InvalidQueryValue {
  [INVALID_QUERY_ENCODING]: string;
}

export function isInvalidQueryValue(value: unknown): value is InvalidQueryValue {
  return isPlainObject(value) && typeof value[INVALID_QUERY_ENCODING] === "string";
}

/** For repeated query keys the last occurrence wins (the gateway already keeps only the last one). */
export function lastValue(raw: unknown): unknown {
  return Array.isArray(raw) ? raw[raw.length - 1] : raw;
}

export class QueryReader {
  readonly problems: ValidationItem[] = [];
  /** True once a string filter holds text no stored value can contain: the query matches nothing. */
  matchesNothing = false;

  constructor(private readonly query: Record<string, unknown>) {}

  /**
   * The text of a parameter as given ("" included); undefined when absent, or when it is not valid
   * percent-encoded UTF-8 (then the 422 item `value_error` at ["query", name] is pushed). Every
   * reader below starts here, so a listed parameter's encoding is checked the same way everywhere.
   */
  text(name: string): string | undefined {
    const v = lastValue(Object.hasOwn(this.query, name) ? this.query[name] : undefined);
    if (v === undefined || v === null) return undefined;
    if (typeof v === "string") return v;
    if (isInvalidQueryValue(v)) {
      this.problems.push({
        type: "value_error",
        loc: ["query", name],
        msg: "Query parameter is not valid percent-encoded UTF-8",
        input: v[INVALID_QUERY_ENCODING],
      });
      return undefined;
    }
    return String(v);
  }

  /** String filter: an empty value means "not given". */
  filter(name: string): string | undefined {
    const v = this.text(name);
    if (v !== undefined && containsUnstorableText(v)) this.matchesNothing = true;
    return v === undefined || v === "" ? undefined : v;
  }

  /** Integer with bounds and default: optional sign and decimal digits only. */
  int(name: string, fallback: number, min: number, max: number): number {
    const v = this.text(name);
    if (v === undefined) return fallback;
    if (!/^[+-]?\d+$/.test(v)) {
      this.problems.push({ type: "int_parsing", loc: ["query", name], msg: "Input should be a valid integer", input: v });
      return fallback;
    }
    const n = Number(v);
    if (n < min) {
      this.problems.push({
        type: "greater_than_equal",
        loc: ["query", name],
        msg: `Input should be greater than or equal to ${min}`,
        input: v,
        ctx: { ge: min },
      });
    } else if (n > max) {
      this.problems.push({
        type: "less_than_equal",
        loc: ["query", name],
        msg: `Input should be less than or equal to ${max}`,
        input: v,
        ctx: { le: max },
      });
    }
    return n;
  }

  /**
   * Boolean flag: `true`/`1` or `false`/`0`; absent or empty → `fallback`; anything else is a 422
   * `bool_parsing` (runtime-contract §18.5 `wait`).
   */
  bool(name: string, fallback: boolean): boolean {
    const v = this.text(name);
    if (v === undefined || v === "") return fallback;
    if (v === "true" || v === "1") return true;
    if (v === "false" || v === "0") return false;
    this.problems.push({ type: "bool_parsing", loc: ["query", name], msg: "Input should be a valid boolean", input: v });
    return fallback;
  }

  /** Datetime (§6.2) as epoch ms; an empty value is an error. */
  datetime(name: string): number | undefined {
    const v = this.text(name);
    if (v === undefined) return undefined;
    const ms = parseDatetime(v);
    if (ms === null) {
      this.problems.push({ type: "datetime_parsing", loc: ["query", name], msg: "Input should be a valid datetime", input: v });
      return undefined;
    }
    return ms;
  }

  /** Throws the 422 when any parameter was invalid. */
  done(): void {
    throwIfInvalid(this.problems);
  }
}
