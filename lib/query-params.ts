/**
 * The query parameters of an endpoint, declared once (api-contract §6.1, §1.1): a table of names
 * and kinds that both the endpoint's reader (readQuery, over lib/validation.ts QueryReader) and the
 * OpenAPI document (services/api/openapi/) use, so the document lists exactly what the server reads.
 *
 * Kinds:
 * - `datetime`: §6.2 (an empty value is a 422 `datetime_parsing`) → epoch ms;
 * - `filter`: a string filter, an empty value = not given (§1.1); text no stored value can contain
 *   (NUL, a lone surrogate) makes the query match nothing (`matchesNothing`);
 * - `text`: the text as given ("" included), checked further by the endpoint (e.g. a log cursor);
 * - `int`: optional sign and decimal digits, then `min`..`max` (422 `int_parsing`,
 *   `greater_than_equal`, `less_than_equal`); `default` when absent (undefined without one);
 * - `bool`: `true`/`1`, `false`/`0`; absent or empty → `default`; anything else 422 `bool_parsing`;
 * - `list`: a comma list of `values` (items trimmed, empty items ignored; an empty value = not
 *   given); an unknown item → one 422 `literal_error` per unknown name.
 *
 * Every kind first reads the parameter's text (the last occurrence of a repeated key; a value that
 * is not valid percent-encoded UTF-8 → 422 `value_error`); unlisted keys are ignored.
 */
import { validationFailed, type ValidationItem } from "./errors";
import { QueryReader } from "./validation";

interface ParamBase {
  /** What the parameter does, for the OpenAPI document (units, defaults, contract section). */
  description: string;
}

export type QueryParam =
  | (ParamBase & { kind: "datetime" })
  | (ParamBase & { kind: "filter" })
  | (ParamBase & { kind: "text" })
  | (ParamBase & { kind: "int"; min: number; max: number; default?: number })
  | (ParamBase & { kind: "bool"; default: boolean })
  | (ParamBase & { kind: "list"; values: readonly string[]; itemName: string });

/** The query parameters an endpoint reads, by name. */
export type QuerySpec = Readonly<Record<string, QueryParam>>;

/** The value readQuery gives for a parameter of this kind. */
export type QueryValueOf<P extends QueryParam> = P extends { kind: "datetime" }
  ? number | undefined
  : P extends { kind: "filter" } | { kind: "text" }
    ? string | undefined
    : P extends { kind: "int"; default: number }
      ? number
      : P extends { kind: "int" }
        ? number | undefined
        : P extends { kind: "bool" }
          ? boolean
          : P extends { kind: "list" }
            ? string[] | undefined
            : never;

export type QueryValues<S extends QuerySpec> = { [K in keyof S]: QueryValueOf<S[K]> };

export interface ReadQueryResult<S extends QuerySpec> {
  values: QueryValues<S>;
  /** A `filter` holds text no stored value can contain: the query matches nothing. */
  matchesNothing: boolean;
  /** The names of the parameters the query gives (present, empty values included). */
  given: ReadonlySet<string>;
}

function readList(reader: QueryReader, name: string, param: Extract<QueryParam, { kind: "list" }>, problems: ValidationItem[]): string[] | undefined {
  const text = reader.text(name);
  if (text === undefined || text === "") return undefined;
  const names = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const known = new Set(param.values);
  const unknown = [...new Set(names.filter((n) => !known.has(n)))];
  for (const item of unknown) {
    problems.push({
      type: "literal_error",
      loc: ["query", name],
      msg: `Unknown ${param.itemName} '${item}'; expected a comma list of ${param.values.join(", ")}`,
      input: item,
      ctx: { expected: param.values.join(", ") },
    });
  }
  return names.length === 0 ? undefined : names;
}

/**
 * Reads every parameter of `spec` from `query` (one string per key, as the gateway parses it:
 * services/api/query.ts), in the spec's order, and throws one 422 listing every problem (§6.5: before
 * any business rule). Returns the values by name.
 */
export function readQuery<S extends QuerySpec>(spec: S, query: Record<string, unknown> | object | undefined): ReadQueryResult<S> {
  const params = (query ?? {}) as Record<string, unknown>;
  const reader = new QueryReader(params);
  const listProblems: ValidationItem[] = [];
  const values: Record<string, unknown> = {};
  const given = new Set<string>();
  for (const [name, param] of Object.entries(spec)) {
    if (Object.hasOwn(params, name) && params[name] !== undefined) given.add(name);
    switch (param.kind) {
      case "datetime":
        values[name] = reader.datetime(name);
        break;
      case "filter":
        values[name] = reader.filter(name);
        break;
      case "text":
        values[name] = reader.text(name);
        break;
      case "int":
        if (param.default !== undefined) {
          values[name] = reader.int(name, param.default, param.min, param.max);
        } else {
          const n = reader.int(name, Number.NaN, param.min, param.max);
          values[name] = Number.isNaN(n) ? undefined : n;
        }
        break;
      case "bool":
        values[name] = reader.bool(name, param.default);
        break;
      case "list":
        values[name] = readList(reader, name, param, listProblems);
        break;
    }
  }
  const problems = [...reader.problems, ...listProblems];
  if (problems.length > 0) throw validationFailed(problems);
  return { values: values as QueryValues<S>, matchesNothing: reader.matchesNothing, given };
}
