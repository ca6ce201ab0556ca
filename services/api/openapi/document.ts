/**
 * GET /api/v1/openapi.json (runtime-contract §27): the OpenAPI 3.1 document of every route of the
 * route table, generated — never written by hand — from
 * - the route table (../routes.ts): which operations exist, method, path and path parameters,
 *   role (security, `x-required-role`), success status, `Idempotency-Key`, which bodies are read;
 * - ./operations.ts: per action, the query-parameter table and body schema its code validates with,
 *   its success answer and its particular errors;
 * - ./schemas.ts: the error bodies of api-contract §6.4 and the records answered.
 *
 * Plain functions, no broker: the gateway builds the document once, when it starts
 * (openApiDocument), and answers that same object afterwards.
 */
import { VERSION } from "../../../lib/config";
import { DATETIME_QUERY_SCHEMA, type JsonSchema } from "../../../lib/json-schema";
import type { QueryParam, QuerySpec } from "../../../lib/query-params";
import { IDEMPOTENCY_KEY_PATTERN } from "../../../lib/store/idempotency";
import { checksIgnoredBody, fullPath, ROUTES, type RouteSpec } from "../routes";
import { OPERATIONS, SHARED_INPUT_SCHEMAS, type OperationDoc } from "./operations";
import { ref, SCHEMAS } from "./schemas";

export const OPENAPI_VERSION = "3.1.0";

/**
 * The URL path of a route as the document writes it: its whole path (fullPath: /api/v1 or the
 * route's own prefix, `/metrics` at the root) with `{name}` for each `:name`. The document's server
 * is the root, so every path carries its prefix.
 */
export function documentPath(route: Pick<RouteSpec, "path" | "prefix">): string {
  return fullPath(route).replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, "{$1}");
}

/** The path parameters of a route, in order. */
export function pathParameterNames(route: Pick<RouteSpec, "path">): string[] {
  return [...route.path.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]);
}

/** `providers.createServer` → `providersCreateServer`. */
export function operationId(action: string): string {
  return action.replace(/\.([a-zA-Z])/g, (_m, c: string) => c.toUpperCase());
}

/** The schema of one query parameter (its value as text is parsed by the kind's rules, lib/query-params.ts). */
export function queryParameterSchema(param: QueryParam): JsonSchema {
  switch (param.kind) {
    case "datetime":
      return { ...DATETIME_QUERY_SCHEMA };
    case "filter":
    case "text":
      return { type: "string" };
    case "int":
      return { type: "integer", minimum: param.min, maximum: param.max, ...(param.default === undefined ? {} : { default: param.default }) };
    case "bool":
      return { type: "boolean", default: param.default };
    case "list":
      return { type: "array", items: { type: "string", enum: [...param.values] } };
  }
}

/** The OpenAPI Parameter objects of a query table. */
export function queryParameters(spec: QuerySpec): JsonSchema[] {
  return Object.entries(spec).map(([name, param]) => {
    const out: JsonSchema = { name, in: "query", required: false, description: param.description, schema: queryParameterSchema(param) };
    // A comma list: `types=process,health` (form style, not exploded).
    if (param.kind === "list") Object.assign(out, { style: "form", explode: false });
    return out;
  });
}

/** Replaces every schema object that is one of `named` (the same object) by a reference to its name. */
function withReferences(value: unknown, named: ReadonlyMap<JsonSchema, string>, top: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => withReferences(v, named, top));
  if (typeof value !== "object" || value === null) return value;
  const name = value !== top ? named.get(value as JsonSchema) : undefined;
  if (name !== undefined) return ref(name);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withReferences(v, named, top)]));
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: "Bad request",
  401: "Missing or invalid API key (keyed mode)",
  403: "Forbidden",
  404: "Not found",
  409: "Conflict",
  413: "Request body too large (over 1 MiB)",
  422: "Validation error",
  429: "Rate limit exceeded",
  502: "Bad gateway",
  503: "Service unavailable",
  504: "Timed out",
};

const ROLE_TEXT: Readonly<Record<string, string>> = {
  public: "Open in every mode: no key needed.",
  viewer: "Role **viewer** or above in keyed mode.",
  operator: "Role **operator** or above in keyed mode.",
  admin: "Role **admin** in keyed mode.",
};

function errorResponse(status: number, description: string): JsonSchema {
  const schema = status === 422 ? ref("ValidationError") : ref("Error");
  const out: JsonSchema = { description, content: { "application/json": { schema } } };
  if (status === 429 || status === 503) {
    out.headers = { "Retry-After": { description: "Seconds to wait before trying again.", schema: { type: "integer", minimum: 0 } } };
  }
  return out;
}

/** The responses of an operation: its success answer(s), its own errors, and the errors every route of its kind may give. */
function responses(route: RouteSpec, op: OperationDoc): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {};
  const status = route.status ?? 200;
  if (route.input === "event-stream") {
    out[String(status)] = {
      description: "The event stream: `id:`, `event:` (the type) and `data:` (one JSON object) per event; `: keep-alive` comments.",
      content: { "text/event-stream": { schema: { type: "string" } } },
    };
  } else if (status === 204) {
    out["204"] = { description: "Done (no body)." };
  } else if (op.responseMediaType !== undefined) {
    out[String(status)] = { description: op.response.description, content: { [op.responseMediaType]: { schema: { type: "string" } } } };
  } else {
    out[String(status)] = { description: op.response.description, content: { "application/json": { schema: ref(op.response.name) } } };
  }
  for (const [code, description] of Object.entries(op.otherSuccess ?? {})) {
    out[code] = { description, content: { "application/json": { schema: ref(op.response.name) } } };
  }
  const errors = new Map<number, string>();
  const readsBody = op.body !== undefined || checksIgnoredBody(route);
  const hasInput = readsBody || Object.keys(op.query ?? {}).length > 0 || route.idempotencyKey === true;
  for (const [code, description] of Object.entries(op.errors ?? {})) errors.set(Number(code), description);
  if (route.role !== "public") errors.set(401, STATUS_TEXT[401]);
  const forbidden =
    route.role === "public"
      ? "`Host not allowed` (the rebinding guard, runtime-contract §25.1)"
      : "The key's role is too low, the Origin or Host is not allowed (runtime-contract §25.1)" +
        (route.loopbackOnlyInOpenMode === true ? ", or open mode and the client is not on a loopback address" : "");
  errors.set(403, forbidden);
  if (readsBody) errors.set(413, STATUS_TEXT[413]);
  if (hasInput) {
    errors.set(
      422,
      readsBody
        ? "The body (content type, JSON syntax, nesting over 64 levels, fields) or a query parameter is not valid"
        : "A query parameter is not valid",
    );
  }
  if (route.role !== "public") {
    errors.set(429, "Rate limit exceeded (runtime-contract §25.3)");
    if (!errors.has(503)) errors.set(503, "A service the request needs is not available; try again shortly");
  }
  for (const code of [...errors.keys()].sort((a, b) => a - b)) out[String(code)] = errorResponse(code, errors.get(code) as string);
  return out;
}

function operation(route: RouteSpec, op: OperationDoc): JsonSchema {
  const parameters: JsonSchema[] = pathParameterNames(route).map((name) => ({
    name,
    in: "path",
    required: true,
    schema: { type: "string" },
  }));
  parameters.push(...queryParameters(op.query ?? {}));
  if (route.idempotencyKey === true) {
    parameters.push({
      name: "Idempotency-Key",
      in: "header",
      required: false,
      description: "Repeating a request with the same key within 24 h answers the first answer again and stores nothing (api-contract §11.1).",
      schema: { type: "string", pattern: IDEMPOTENCY_KEY_PATTERN.source },
    });
  }
  if (route.input === "event-stream") {
    parameters.push({
      name: "Last-Event-ID",
      in: "header",
      required: false,
      description: "Resume after this event (what EventSource sends when it reconnects); wins over `last_event_id`.",
      schema: { type: "string" },
    });
  }
  const lines = [`${ROLE_TEXT[route.role]}`];
  if (route.loopbackOnlyInOpenMode === true) lines.push("In open mode (no API key exists) only a client on a loopback address may call it.");
  if (route.audit !== undefined) lines.push(`Recorded in the audit log as \`${route.audit}\`.`);
  lines.push(`Contract: ${op.contract}.`);
  const out: JsonSchema = {
    operationId: operationId(route.action),
    summary: op.summary,
    description: lines.join("\n\n"),
    tags: [route.action.split(".")[0]],
    "x-required-role": route.role,
    "x-action": route.action,
  };
  if (route.audit !== undefined) out["x-audit-action"] = route.audit;
  if (route.loopbackOnlyInOpenMode === true) out["x-loopback-only-in-open-mode"] = true;
  if (parameters.length > 0) out.parameters = parameters;
  if (op.body !== undefined) {
    out.requestBody = {
      required: op.body.required,
      ...(op.body.required ? {} : { description: "Optional: an empty body or JSON `null` is no body." }),
      content: { "application/json": { schema: ref(op.body.name) } },
    };
  }
  out.responses = responses(route, op);
  out.security = route.role === "public" ? [] : [{ ApiKeyHeader: [] }, { BearerKey: [] }];
  return out;
}

const DESCRIPTION = [
  "The REST API of the Console MCP backend: the MCP server catalog and their supervised processes, sessions, usage telemetry, FinOps reports and routing simulations (api-contract Part I, runtime-contract Part II).",
  "Generated from the route table and the validation tables and schemas the server checks requests with.",
  "**Keys.** In *open mode* (no API key exists) requests need no key, except that catalog writes, revealing a secret and creating the first key are allowed only from a loopback address. Once a key exists (*keyed mode*) every request but `/healthz` and `/readyz` needs `X-API-Key: <key>` or `Authorization: Bearer <key>` of a sufficient role (`x-required-role`: viewer ⊂ operator ⊂ admin).",
  '**Inputs.** Unknown body keys and unlisted query parameters are ignored; for a repeated query key the last one wins; an empty value of a string filter means not given. A `number` body field also takes a numeric string (`"10"`); text lengths of trimmed fields are counted after trimming; text no store can keep (NUL, lone surrogates) is refused with 422 `string_unicode`.',
  '**Errors.** A 422 lists one ValidationItem per problem; every other error is `{"detail": "<message>"}`. Unknown path → 404, wrong method → 405 (with `Allow`).',
].join("\n\n");

/** Names a schema; a name given to two different schemas is a mistake in the tables. */
function addSchema(schemas: Record<string, JsonSchema>, name: string, schema: JsonSchema | undefined): void {
  if (schema === undefined) {
    if (schemas[name] === undefined) throw new Error(`No schema named ${name}`);
    return;
  }
  if (schemas[name] !== undefined && schemas[name] !== schema) throw new Error(`Two schemas named ${name}`);
  schemas[name] = schema;
}

/**
 * The OpenAPI 3.1 document of `routes` (default: the route table). Throws when a route's action has
 * no entry in OPERATIONS, so a new route cannot be left out of the document.
 */
export function buildOpenApiDocument(
  routes: readonly RouteSpec[] = ROUTES,
  operations: Readonly<Record<string, OperationDoc>> = OPERATIONS,
): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  const schemas: Record<string, JsonSchema> = { ...SCHEMAS };
  const named = new Map(SHARED_INPUT_SCHEMAS);
  for (const [schema, name] of SHARED_INPUT_SCHEMAS) schemas[name] = schema;
  for (const route of routes) {
    const op = operations[route.action];
    if (op === undefined)
      throw new Error(`The route ${route.method} ${route.path} (${route.action}) has no OpenAPI entry (services/api/openapi/operations.ts)`);
    const path = documentPath(route);
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = operation(route, op);
    if (op.body !== undefined) addSchema(schemas, op.body.name, op.body.schema);
    const jsonAnswer = route.input !== "event-stream" && (route.status ?? 200) !== 204 && op.responseMediaType === undefined;
    if (jsonAnswer) addSchema(schemas, op.response.name, op.response.schema);
  }
  const components = {
    schemas: Object.fromEntries(Object.entries(schemas).map(([name, schema]) => [name, withReferences(schema, named, schema)])),
    securitySchemes: {
      ApiKeyHeader: { type: "apiKey", in: "header", name: "X-API-Key", description: "An API key (runtime-contract §25.1)." },
      BearerKey: { type: "http", scheme: "bearer", description: "The same key as a bearer token." },
    },
  };
  return {
    openapi: OPENAPI_VERSION,
    info: { title: "Console MCP backend API", version: VERSION, description: DESCRIPTION },
    servers: [{ url: "/", description: "This server (paths include their prefix, /api/v1)" }],
    tags: [...new Set(routes.map((r) => r.action.split(".")[0]))].map((name) => ({ name })),
    paths,
    components,
  };
}

let cached: JsonSchema | null = null;

/**
 * The route table's document, built on first use and kept (the table is fixed for the process);
 * the gateway asks for it when it starts, so a route without an entry fails the start.
 */
export function openApiDocument(): JsonSchema {
  cached ??= buildOpenApiDocument();
  return cached;
}
