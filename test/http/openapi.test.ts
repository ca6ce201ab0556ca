/**
 * GET /api/v1/openapi.json over real HTTP (runtime-contract §27): the served document is valid
 * OpenAPI 3.1 under a standard validator (@seriousme/openapi-schema-validator, run as its CLI in a
 * child process: the package is an ES module, which Jest's CommonJS runtime cannot load), it lists
 * every route of the route table, and what it says agrees with what the server does:
 * - query parameters: values generated from each documented parameter schema are refused with a
 *   422 naming the parameter exactly when the schema refuses them; undocumented parameters are
 *   ignored;
 * - bodies: every generated body the documented schema accepts gets no 422 (apart from the checks
 *   the schema says it does not express), and a body made invalid by one field in a way no server
 *   coercion rescues (a wrong type, an enum value, a missing required field) is refused by both;
 * - answers: real answers of many endpoints are valid under their documented schemas.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import Ajv2020, { type ValidateFunction } from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { seededRandom } from "../../lib/prng";
import { documentPath } from "../../services/api/openapi/document";
import { fullPath, ROUTES, type RouteSpec } from "../../services/api/routes";
import { request, startTestServer, TestServer } from "../helpers/server";

const ADMIN_KEY = "cmk_openapi-test-admin-key-0123456789abcdefghij";
const VALIDATOR_CLI = path.join(__dirname, "../../node_modules/@seriousme/openapi-schema-validator/bin/validate-api-cli.js");

type Json = any;
type Rng = () => number;

let server: TestServer;
let doc: Json;
let ajv: Ajv2020;
let served: { status: number; contentType: string | null };

const headers = (extra: Record<string, string> = {}) => ({ "x-api-key": ADMIN_KEY, ...extra });

beforeAll(async () => {
  server = await startTestServer({ CONSOLE_MCP_ADMIN_KEY: ADMIN_KEY });
  const res = await request(`${server.baseUrl}/openapi.json`, { headers: headers() });
  served = { status: res.status, contentType: res.headers.get("content-type") };
  doc = res.body;
  ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: "doc", components: doc.components });
}, 60_000);
afterAll(() => server?.stop());

/** The validator of a schema of the document (its `$ref`s resolved within the document). */
const validators = new Map<string, ValidateFunction>();
function validatorOf(schema: Json): ValidateFunction {
  const text = JSON.stringify(schema).replace(/"#\/components\//g, '"doc#/components/');
  let v = validators.get(text);
  if (v === undefined) {
    v = ajv.compile(JSON.parse(text));
    validators.set(text, v);
  }
  return v;
}

function resolve(schema: Json): Json {
  let s = schema;
  while (s !== undefined && typeof s.$ref === "string") s = doc.components.schemas[s.$ref.replace("#/components/schemas/", "")];
  return s;
}

const opOf = (route: RouteSpec): Json => doc.paths[documentPath(route)][route.method.toLowerCase()];

describe("the served document", () => {
  it("is JSON, answered in keyed mode to a key (role viewer), refused without one", async () => {
    expect(served.status).toBe(200);
    expect(served.contentType).toMatch(/^application\/json/);
    expect(doc.openapi).toBe("3.1.0");
    const anonymous = await request(`${server.baseUrl}/openapi.json`);
    expect(anonymous.status).toBe(401);
    // the same document every time (built once)
    const again = await request(`${server.baseUrl}/openapi.json`, { headers: headers() });
    expect(again.text).toBe(JSON.stringify(doc));
  });

  it("is valid OpenAPI 3.1 under @seriousme/openapi-schema-validator", async () => {
    const file = path.join(server.dir, "openapi.json");
    fs.writeFileSync(file, JSON.stringify(doc));
    // The CLI prints its verdict as JSON and exits 1 when the document is not valid.
    const run = (f: string) =>
      new Promise<{ verdict: Json; code: number }>((resolve, reject) => {
        execFile(process.execPath, [VALIDATOR_CLI, f], { timeout: 60_000 }, (err, stdout) => {
          const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
          try {
            resolve({ verdict: JSON.parse(stdout), code });
          } catch {
            reject(err ?? new Error(`not JSON: ${stdout}`));
          }
        });
      });
    expect(await run(file)).toEqual({ verdict: { valid: true }, code: 0 });
    // The validator does refuse a broken document (so the check above can fail).
    const broken = structuredClone(doc);
    delete broken.info.version;
    broken.paths[Object.keys(broken.paths)[0]].get.responses = { 200: { content: {} } };
    fs.writeFileSync(file, JSON.stringify(broken));
    const { verdict, code } = await run(file);
    expect(verdict.valid).toBe(false);
    expect(code).not.toBe(0);
  }, 60_000);

  it("has every route of the route table with its method and path parameters", () => {
    for (const route of ROUTES) {
      const op = opOf(route);
      expect(op).toBeDefined();
      const names = (op.parameters ?? []).filter((p: Json) => p.in === "path").map((p: Json) => p.name);
      expect(names).toEqual([...route.path.matchAll(/:([a-z_]+)/g)].map((m) => m[1]));
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Query parameters

/** A request path of a route: path parameters filled with a name no server has (422 is checked before 404). */
function routeUrl(route: RouteSpec, query: string): string {
  const p = fullPath(route).replace(/:([a-z_]+)/g, (_m, name: string) => (name === "provider_id" ? "gemini" : "openapi-none"));
  return `${server.baseUrl.replace(/\/api\/v1$/, "")}${p}${query === "" ? "" : `?${query}`}`;
}

const DATE_TEXTS = ["2025-03-07T21:45:12Z", "2025-03-07T21:45:12.5+02:00", "2030-01-01T00:00:00Z", "2024-02-29T00:00:00Z"];

/** A typed value for a parameter schema: mostly valid, sometimes not; with its text on the query string. */
function queryValue(schema: Json, rng: Rng): { value: unknown; text: string } {
  const r = rng();
  switch (schema.type) {
    case "integer": {
      const { minimum: min, maximum: max } = schema;
      const n = [min, max, min + 1, Math.floor(min + rng() * (max - min)), min - 1, max + 1, -5][Math.floor(r * 7)];
      return { value: n, text: String(n) };
    }
    case "boolean": {
      if (r < 0.15) return { value: "yes", text: "yes" };
      const b = rng() < 0.5;
      return { value: b, text: String(b) };
    }
    case "array": {
      const pool = [...schema.items.enum, "nope"];
      const items = Array.from({ length: 1 + Math.floor(rng() * 3) }, () => pool[Math.floor(rng() * pool.length)]);
      return { value: items, text: items.join(",") };
    }
    default:
      if (schema.format === "date-time") {
        const t = r < 0.2 ? "not-a-date" : DATE_TEXTS[Math.floor(rng() * DATE_TEXTS.length)];
        return { value: t, text: encodeURIComponent(t) };
      }
      return { value: r < 0.5 ? "gemini" : "x y", text: encodeURIComponent(r < 0.5 ? "gemini" : "x y") };
  }
}

// The stream never ends (its query is checked like the others': test/http/events.test.ts); body routes list no query parameter.
const QUERY_ROUTES = ROUTES.filter((r) => r.input !== "event-stream" && !r.input.includes("body"));

describe("query parameters: the documented schemas and the server agree", () => {
  it.each(QUERY_ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))(
    "%s",
    async (_label, route) => {
      const params = (opOf(route).parameters ?? []).filter((p: Json) => p.in === "query");
      const rng = seededRandom(route.path.length * 31 + route.method.length);
      const tries = params.length === 0 ? 2 : 25;
      for (let n = 0; n < tries; n++) {
        const parts: string[] = [];
        const invalid = new Set<string>();
        for (const p of params) {
          if (rng() < 0.4) continue;
          const { value, text } = queryValue(p.schema, rng);
          if (!validatorOf(p.schema)(value)) invalid.add(p.name);
          parts.push(`${p.name}=${text}`);
        }
        // an undocumented parameter with a value no reader would take is ignored
        parts.push(`undocumented_${n}=%zz`, "limitx=abc");
        const method = route.method;
        const res = await request(routeUrl(route, parts.join("&")), { method, headers: headers() });
        const where = `${method} ${route.path}?${parts.join("&")} → ${res.status} ${res.text.slice(0, 300)}`;
        if (invalid.size === 0) {
          expect(res.status === 422 ? where : "no 422").toBe("no 422");
        } else {
          expect(res.status === 422 ? "422" : where).toBe("422");
          const locs = new Set(res.body.detail.map((i: Json) => i.loc[1]));
          expect([...locs].sort()).toEqual([...invalid].sort());
        }
      }
    },
    60_000,
  );
});

// ---------------------------------------------------------------------------------------------
// Bodies

const TEXTS = ["a", "ab", "Chat", " padded ", "x".repeat(64), "é", "openapi"];
const BODY_DATES: unknown[] = [
  "2030-01-01T00:00:00Z",
  "2031-06-15T12:30:00.5Z",
  "2029-12-31T23:59:59+02:00",
  1_900_000_000,
  1_900_000_000_000,
  "2001-01-01T00:00:00Z",
];

let unique = 0;

/** A value for a JSON Schema, mostly valid: the generator of the body corpus. */
function generate(schema: Json, rng: Rng, depth = 0): unknown {
  const s = resolve(schema);
  if (s === true || s === undefined || Object.keys(s).length === 0) return TEXTS[Math.floor(rng() * TEXTS.length)];
  if (s === false) return 1;
  if (s.oneOf !== undefined || s.anyOf !== undefined) {
    const branches = s.oneOf ?? s.anyOf;
    return generate(branches[Math.floor(rng() * branches.length)], rng, depth);
  }
  if (s.const !== undefined) return s.const;
  if (s.enum !== undefined) {
    const values = rng() < 0.1 ? [...s.enum, "not-a-listed-value"] : s.enum;
    return values[Math.floor(rng() * values.length)];
  }
  const types: string[] = Array.isArray(s.type) ? s.type : [s.type ?? "object"];
  const nonNull = types.filter((t) => t !== "null");
  const type = types.includes("null") && rng() < 0.15 ? "null" : nonNull[Math.floor(rng() * nonNull.length)];
  const min = s.minimum ?? 0;
  const max = s.maximum ?? 1000;
  switch (type) {
    case "null":
      return null;
    case "boolean":
      return rng() < 0.5;
    case "integer":
      return [min, max, Math.floor(min + rng() * (max - min)), max + 1, min - 1][Math.floor(rng() * 5)];
    case "number":
      return [min, max, min + (max - min) * rng(), max + 0.5, min - 0.5][Math.floor(rng() * 5)];
    case "string": {
      if (s.format === "date-time") return BODY_DATES[Math.floor(rng() * BODY_DATES.length)];
      if (s.pattern !== undefined && s.pattern !== "\\S") return `oa${unique++}_${Math.floor(rng() * 1000)}`;
      const maxLength = s.maxLength ?? 100;
      const r = rng();
      if (r < 0.08) return "x".repeat(maxLength);
      if (r < 0.14) return "x".repeat(maxLength + 1);
      if (r < 0.18) return " ";
      if (r < 0.22) return "";
      return `${TEXTS[Math.floor(rng() * TEXTS.length)]}${unique++}`;
    }
    case "array": {
      const length = depth > 2 ? 0 : Math.max(s.minItems ?? 0, Math.floor(rng() * 3));
      return Array.from({ length }, () => generate(s.items ?? {}, rng, depth + 1));
    }
    default: {
      const out: Record<string, unknown> = {};
      const required = new Set<string>(s.required ?? []);
      for (const [name, prop] of Object.entries<Json>(s.properties ?? {})) {
        if (prop === false) continue;
        if (rng() < (required.has(name) ? 0.95 : 0.6)) out[name] = generate(prop, rng, depth + 1);
      }
      if (typeof s.additionalProperties === "object" && depth < 3) {
        for (let i = Math.floor(rng() * 3); i > 0; i--) {
          out[rng() < 0.9 ? `VAR_${unique++}` : "1bad"] = generate(s.additionalProperties, rng, depth + 1);
        }
      }
      if (rng() < 0.2) out.unknown_key = "ignored";
      return out;
    }
  }
}

/**
 * What a documented schema says it does not express (services/…: each schema's docstring), as
 * 422 items the server may still answer for a body the schema accepts.
 */
function notExpressedBySchema(item: Json): boolean {
  if (item.type === "string_unicode") return true; // NUL, lone surrogates
  if (item.type === "value_error" && item.loc[1] === "expires_at") return true; // must be in the future
  return false;
}

/** A path to send a body route's requests to, with what must exist first. */
async function bodyTarget(route: RouteSpec): Promise<string> {
  if (route.action === "providers.updateServer") {
    const made = await request(`${server.baseUrl}/servers`, {
      method: "POST",
      headers: headers(),
      json: { id: "openapi-put", name: "For PUT", command: "/nonexistent/openapi-put" },
    });
    expect([201, 409]).toContain(made.status);
    return `${server.baseUrl}/servers/openapi-put`;
  }
  return routeUrl(route, "");
}

const BODY_ROUTES = ROUTES.filter((r) => r.input.includes("body"));

describe("bodies: what the documented schema accepts, the server does not refuse", () => {
  it.each(BODY_ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))(
    "%s",
    async (_label, route) => {
      const op = opOf(route);
      const schema = op.requestBody.content["application/json"].schema;
      const validate = validatorOf(schema);
      const url = await bodyTarget(route);
      const rng = seededRandom(route.path.length * 7 + route.action.length);
      let accepted = 0;
      let refused = 0;
      for (let n = 0; n < 120; n++) {
        const body = generate(schema, rng);
        const valid = validate(body) === true;
        const res = await request(url, { method: route.method, headers: headers(), json: body });
        const where = `${route.method} ${url} ${JSON.stringify(body).slice(0, 400)} → ${res.status} ${res.text.slice(0, 400)}`;
        expect(res.status >= 500 ? where : "no 5xx").toBe("no 5xx");
        if (valid) {
          accepted++;
          const items = res.status === 422 ? (res.body.detail as Json[]).filter((i) => !notExpressedBySchema(i)) : [];
          expect(items.length === 0 ? "not refused" : where).toBe("not refused");
        } else {
          refused++;
        }
      }
      // The corpus has both kinds.
      expect(accepted).toBeGreaterThan(5);
      expect(refused).toBeGreaterThan(5);
    },
    120_000,
  );

  it.each(BODY_ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))(
    "%s: one field wrong in a way nothing coerces → both refuse",
    async (_label, route) => {
      const schema = resolve(opOf(route).requestBody.content["application/json"].schema);
      const validate = validatorOf(opOf(route).requestBody.content["application/json"].schema);
      const objectSchema = resolve(schema.oneOf?.[0] ?? schema);
      const url = await bodyTarget(route);
      const rng = seededRandom(99 + route.path.length);
      // a valid body to start from
      let base: Record<string, unknown> | null = null;
      for (let i = 0; i < 500 && base === null; i++) {
        const body = generate(objectSchema, rng) as Record<string, unknown>;
        if (validate(body)) base = body;
      }
      expect(base).not.toBeNull();
      const mutations: [string, (b: Record<string, unknown>) => void][] = [];
      for (const [name, raw] of Object.entries<Json>(objectSchema.properties)) {
        const prop = resolve(raw);
        if (prop === false) continue;
        const types: string[] = Array.isArray(prop.type) ? prop.type : prop.type === undefined ? [] : [prop.type];
        const wrong =
          types.includes("string") || prop.enum !== undefined
            ? [true, []]
            : types.includes("boolean")
              ? ["true", 1]
              : types.includes("integer")
                ? [1.5, [1]]
                : types.includes("number")
                  ? [true, [1]]
                  : types.includes("array")
                    ? ["text"]
                    : types.includes("object")
                      ? [[], 1]
                      : [];
        for (const w of wrong) {
          mutations.push([
            `${name} = ${JSON.stringify(w)}`,
            (b) => {
              b[name] = w;
            },
          ]);
        }
        if (prop.enum !== undefined) {
          mutations.push([
            `${name} not listed`,
            (b) => {
              b[name] = "not-a-listed-value";
            },
          ]);
        }
      }
      for (const name of objectSchema.required ?? []) mutations.push([`${name} missing`, (b) => void delete b[name]]);
      expect(mutations.length).toBeGreaterThan(0);
      for (const [label, mutate] of mutations) {
        const body = structuredClone(base) as Record<string, unknown>;
        mutate(body);
        expect(validate(body) ? `schema accepts ${label}` : "schema refuses").toBe("schema refuses");
        const res = await request(url, { method: route.method, headers: headers(), json: body });
        expect(res.status === 422 ? "422" : `${label}: ${JSON.stringify(body).slice(0, 300)} → ${res.status} ${res.text.slice(0, 300)}`).toBe("422");
      }
    },
    120_000,
  );
});

// ---------------------------------------------------------------------------------------------
// Answers

describe("real answers are valid under their documented schemas", () => {
  const answerSchema = (route: RouteSpec, status: number) => opOf(route).responses[String(status)].content["application/json"].schema;
  const routeOf = (method: string, p: string) => ROUTES.find((r) => r.method === method && r.path === p) as RouteSpec;

  it("for the reads and writes of a short session of use", async () => {
    const calls: [string, string, string, unknown?][] = [
      ["GET", "/healthz", "/healthz"],
      ["GET", "/readyz", "/readyz"],
      ["GET", "/providers", "/providers"],
      [
        "POST",
        "/servers",
        "/servers",
        { id: "openapi-answer", name: "Answer", command: "/nonexistent/openapi-answer", args: ["-v"], env: { A: "1" } },
      ],
      ["GET", "/servers", "/servers"],
      ["GET", "/servers/:id", "/servers/openapi-answer"],
      ["GET", "/servers/processes", "/servers/processes"],
      ["GET", "/servers/:id/process", "/servers/openapi-answer/process"],
      ["GET", "/servers/:id/process/logs", "/servers/openapi-answer/process/logs"],
      ["GET", "/servers/:id/health", "/servers/openapi-answer/health"],
      ["POST", "/servers/:id/health/ping", "/servers/openapi-answer/health/ping"],
      ["POST", "/providers/:provider_id/sessions", "/providers/gemini/sessions", { reason: "openapi" }],
      ["GET", "/sessions", "/sessions"],
      ["GET", "/sessions", "/sessions?limit=2"],
      ["POST", "/telemetry/runs", "/telemetry/runs", { runs: [{ provider_id: "gemini", tokens_in: 3, ts: "2025-03-07T10:00:00Z" }] }],
      ["GET", "/telemetry/metrics", "/telemetry/metrics"],
      ["GET", "/telemetry/heatmap", "/telemetry/heatmap"],
      ["GET", "/telemetry/timeseries", "/telemetry/timeseries"],
      ["GET", "/telemetry/pareto", "/telemetry/pareto"],
      ["GET", "/telemetry/runs", "/telemetry/runs?limit=1"],
      ["GET", "/telemetry/finops/sprints", "/telemetry/finops/sprints"],
      ["GET", "/notifications", "/notifications"],
      ["PUT", "/secrets/:id", "/secrets/openapi-answer", { value: "s3cret" }],
      ["GET", "/secrets", "/secrets"],
      ["POST", "/security/api-keys", "/security/api-keys", { name: "openapi-viewer", role: "viewer" }],
      ["GET", "/security/api-keys", "/security/api-keys"],
      ["GET", "/security/roles", "/security/roles"],
      ["GET", "/audit/logs", "/audit/logs?limit=5"],
    ];
    for (const [method, routePath, url, json] of calls) {
      const route = routeOf(method, routePath);
      const res = await request(`${server.baseUrl}${url}`, { method, headers: headers(), ...(json === undefined ? {} : { json }) });
      expect(`${method} ${url} → ${res.status}`).toBe(`${method} ${url} → ${route.status ?? 200}`);
      const validate = validatorOf(answerSchema(route, res.status));
      const ok = validate(res.body);
      expect(ok ? "valid" : `${method} ${url}: ${JSON.stringify(validate.errors).slice(0, 600)} in ${res.text.slice(0, 600)}`).toBe("valid");
    }
  }, 60_000);

  it("error answers are valid under the error schemas", async () => {
    const cases: [string, string, number, unknown?][] = [
      ["GET", "/telemetry/runs?limit=0", 422],
      ["GET", "/telemetry/runs?start=2025-02-01&end=2025-01-01", 400],
      ["GET", "/servers/openapi-none", 404],
      ["POST", "/servers", 422, { id: 5 }],
    ];
    for (const [method, url, status, json] of cases) {
      const res = await request(`${server.baseUrl}${url}`, { method, headers: headers(), ...(json === undefined ? {} : { json }) });
      expect(res.status).toBe(status);
      const route = ROUTES.find(
        (r) => r.method === method && documentPath(r).replace(/\{[a-z_]+\}/g, "openapi-none") === `/api/v1${url.split("?")[0]}`,
      ) as RouteSpec;
      const validate = validatorOf(opOf(route).responses[String(status)].content["application/json"].schema);
      expect(validate(res.body) ? "valid" : JSON.stringify(validate.errors)).toBe("valid");
    }
  });
});
