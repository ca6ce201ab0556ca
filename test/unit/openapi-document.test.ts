/**
 * The OpenAPI document's generation without a broker (runtime-contract §27,
 * services/api/openapi/): every route of the table is in it with its method, path parameters,
 * query parameters (the very tables the readers read), body and statuses; the fastest-validator
 * conversion agrees with fastest-validator; the query tables' reader (lib/query-params.ts).
 */
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { fastestValidatorToJsonSchema } from "../../lib/fv-json-schema";
import { readQuery } from "../../lib/query-params";
import { seededRandom } from "../../lib/prng";
import { compileSchema } from "../../lib/validation";
import { buildOpenApiDocument, documentPath, openApiDocument, pathParameterNames } from "../../services/api/openapi/document";
import { OPERATIONS } from "../../services/api/openapi/operations";
import { checksIgnoredBody, ROUTES, type RouteSpec } from "../../services/api/routes";
import { SIMULATION_TYPED_FIELDS } from "../../services/routing/request";
import { SESSION_BODY_FIELDS } from "../../services/sessions/session";
import { QUERY_PARAMETERS } from "../helpers/bad-input-corpus";

type Doc = { paths: Record<string, Record<string, any>>; components: { schemas: Record<string, any> } };
const doc = buildOpenApiDocument() as unknown as Doc;
const opOf = (r: RouteSpec) => doc.paths[documentPath(r)]?.[r.method.toLowerCase()];

describe("the document and the route table", () => {
  it("has one operation per route, with its method, and nothing else", () => {
    for (const route of ROUTES) expect(opOf(route)).toBeDefined();
    const operations = Object.values(doc.paths).flatMap((methods) => Object.keys(methods));
    expect(operations.length).toBe(ROUTES.length);
    expect(Object.keys(OPERATIONS).sort()).toEqual([...new Set(ROUTES.map((r) => r.action))].sort());
  });

  it("a route whose action has no entry cannot be generated", () => {
    const extra: RouteSpec = { method: "GET", path: "/nope", action: "nope.nope", input: "query", role: "viewer" };
    expect(() => buildOpenApiDocument([...ROUTES, extra])).toThrow("/nope (nope.nope) has no OpenAPI entry");
  });

  it.each(ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))(
    "%s: path parameters, query parameters, body, statuses, role",
    (_label, route) => {
      const op = opOf(route);
      const params = (op.parameters ?? []) as { name: string; in: string; required: boolean }[];
      // path parameters: exactly the route's, required
      expect(params.filter((p) => p.in === "path").map((p) => p.name)).toEqual(pathParameterNames(route));
      expect(params.filter((p) => p.in === "path").every((p) => p.required)).toBe(true);
      for (const name of pathParameterNames(route)) expect(documentPath(route)).toContain(`{${name}}`);
      // query parameters: the ones the bad-input corpus lists for the route (an independent list)
      const query = params
        .filter((p) => p.in === "query")
        .map((p) => p.name)
        .sort();
      expect(query).toEqual([...(QUERY_PARAMETERS.get(`${route.method} ${route.path}`) ?? [])].sort());
      // body: where the route reads one
      expect(op.requestBody !== undefined).toBe(route.input.includes("body"));
      if (op.requestBody !== undefined) expect(op.requestBody.required).toBe(route.input !== "path-and-optional-body");
      // success status, errors, security
      expect(Object.keys(op.responses)).toContain(String(route.status ?? 200));
      expect(Object.keys(op.responses)).toContain("403");
      if (route.input.includes("body") || checksIgnoredBody(route)) expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(["413", "422"]));
      if (query.length > 0) expect(Object.keys(op.responses)).toContain("422");
      expect(op["x-required-role"]).toBe(route.role);
      if (route.role === "public") expect(op.security).toEqual([]);
      else expect(op.security).toEqual([{ ApiKeyHeader: [] }, { BearerKey: [] }]);
      if (route.role !== "public") expect(op.responses["401"].content["application/json"].schema).toEqual({ $ref: "#/components/schemas/Error" });
      if (route.idempotencyKey === true) expect(params.some((p) => p.in === "header" && p.name === "Idempotency-Key")).toBe(true);
      // every error answer has the contract's error body (§6.4)
      for (const [code, answer] of Object.entries<any>(op.responses)) {
        if (Number(code) < 400) continue;
        const schema = answer.content["application/json"].schema;
        expect(schema).toEqual({ $ref: `#/components/schemas/${code === "422" ? "ValidationError" : "Error"}` });
      }
    },
  );

  it("a route outside /api/v1 is at its own path, and a text answer keeps its media type", () => {
    const root = { method: "GET", prefix: "", path: "/things/:id", action: "things.text", input: "query", role: "viewer" } as RouteSpec;
    const entry = {
      summary: "Text",
      contract: "x",
      response: { name: "Text", description: "Some text." },
      responseMediaType: "text/plain; version=0.0.4",
    };
    const built = buildOpenApiDocument([...ROUTES, root], { ...OPERATIONS, "things.text": entry }) as unknown as Doc;
    const op = built.paths["/things/{id}"].get;
    expect(op.parameters.map((p: { name: string; in: string }) => [p.in, p.name])).toEqual([["path", "id"]]);
    expect(op.responses["200"].content).toEqual({ "text/plain; version=0.0.4": { schema: { type: "string" } } });
    expect(built.components.schemas.Text).toBeUndefined();
    expect(built.paths["/api/v1/healthz"].get).toBeDefined();
  });

  it("GET /events is a text/event-stream", () => {
    const op = opOf(ROUTES.find((r) => r.action === "api.events") as RouteSpec);
    expect(Object.keys(op.responses["200"].content)).toEqual(["text/event-stream"]);
    expect(op.parameters.find((p: { name: string }) => p.name === "types").schema.items.enum).toContain("process");
  });

  it("every $ref resolves", () => {
    const refs: string[] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (typeof v === "object" && v !== null) {
        for (const [k, x] of Object.entries(v))
          if (k === "$ref") refs.push(x as string);
          else walk(x);
      }
    };
    walk(doc);
    expect(refs.length).toBeGreaterThan(100);
    for (const r of new Set(refs)) {
      const name = /^#\/components\/schemas\/(.+)$/.exec(r)?.[1];
      expect(name !== undefined && doc.components.schemas[name] !== undefined ? r : `unresolved ${r}`).toBe(r);
    }
  });

  it("every named schema compiles as JSON Schema 2020-12 (the dialect of OpenAPI 3.1)", () => {
    const ajv = new Ajv2020({ strict: false });
    addFormats(ajv);
    ajv.addSchema({ $id: "doc", components: doc.components });
    for (const name of Object.keys(doc.components.schemas)) {
      expect(() => ajv.getSchema(`doc#/components/schemas/${name}`)).not.toThrow();
      expect(typeof ajv.getSchema(`doc#/components/schemas/${name}`)).toBe("function");
    }
  });

  it("is built once", () => {
    expect(openApiDocument()).toBe(openApiDocument());
    expect(JSON.stringify(buildOpenApiDocument())).toBe(JSON.stringify(doc));
  });
});

describe("fastest-validator schemas converted to JSON Schema", () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);

  it("refuses a rule it cannot convert", () => {
    expect(() => fastestValidatorToJsonSchema({ a: { type: "email" } })).toThrow("rule type 'email' at a");
    expect(() => fastestValidatorToJsonSchema({ a: { type: "number", convert: true } })).toThrow("'number.convert' at a");
  });

  it("converts the subset: types, bounds, optional (null passes), nullable, enum, items, strict", () => {
    expect(
      fastestValidatorToJsonSchema({
        $$strict: true,
        s: { type: "string", empty: false, max: 5 },
        n: "number|optional",
        i: { type: "number", integer: true, min: 1, max: 9 },
        e: { type: "enum", values: ["a", "b"] },
        l: { type: "array", items: "string" },
        b: { type: "boolean", nullable: true },
      }),
    ).toEqual({
      type: "object",
      properties: {
        s: { type: "string", minLength: 1, maxLength: 5 },
        n: { type: ["number", "null"] },
        i: { type: "integer", minimum: 1, maximum: 9 },
        e: { type: "string", enum: ["a", "b"] },
        l: { type: "array", items: { type: "string" } },
        b: { type: ["boolean", "null"] },
      },
      required: ["s", "i", "e", "l", "b"],
      additionalProperties: false,
    });
  });

  // Values of every kind, for comparing the validator with the converted schema.
  const VALUES: unknown[] = [
    undefined,
    null,
    "",
    "a",
    " ",
    "balanced",
    "finops",
    "latency",
    "resilience",
    "none",
    0,
    1,
    -1,
    2.5,
    true,
    false,
    [],
    ["a"],
    [1],
    [null],
    {},
    { a: 1 },
    "x".repeat(300),
  ];
  const PLAUSIBLE: unknown[] = [null, "a", "ab", 0, 1, [], ["a"], "balanced"];

  it.each([
    ["sessions.create", SESSION_BODY_FIELDS],
    ["routing.simulate (typed fields)", SIMULATION_TYPED_FIELDS],
    [
      "a synthetic schema",
      {
        $$strict: false,
        s: { type: "string", empty: false, max: 4 },
        n: { type: "number", integer: true, min: 0, max: 1, optional: true },
        l: { type: "array", items: "string", max: 1, optional: true },
        e: { type: "enum", values: ["a", " "], nullable: true },
      },
    ],
  ] as const)("%s: fastest-validator and the converted schema agree on every body of a generated corpus", (_label, fv) => {
    const check = compileSchema(fv as unknown as Parameters<typeof compileSchema>[0]);
    const validate = ajv.compile(fastestValidatorToJsonSchema(fv as unknown as Record<string, unknown>));
    const fields = Object.keys(fv).filter((k) => !k.startsWith("$$"));
    const rng = seededRandom(12);
    let accepted = 0;
    for (let n = 0; n < 3000; n++) {
      const body: Record<string, unknown> = {};
      for (const f of fields) {
        const pool = rng() < 0.5 ? PLAUSIBLE : VALUES;
        const v = pool[Math.floor(rng() * pool.length)];
        if (v !== undefined) body[f] = structuredClone(v);
      }
      if (rng() < 0.2) body.extra = 1;
      const byValidator = check(structuredClone(body), ["body"]).length === 0;
      const bySchema = validate(body) === true;
      if (byValidator !== bySchema) throw new Error(`disagree on ${JSON.stringify(body)}: validator ${byValidator}, schema ${bySchema}`);
      if (byValidator) accepted++;
    }
    expect(accepted).toBeGreaterThan(5);
  });
});

describe("readQuery (the query tables' reader)", () => {
  const spec = {
    at: { kind: "datetime", description: "" },
    f: { kind: "filter", description: "" },
    t: { kind: "text", description: "" },
    n: { kind: "int", min: 1, max: 10, default: 3, description: "" },
    m: { kind: "int", min: 1, max: 10, description: "" },
    b: { kind: "bool", default: true, description: "" },
    l: { kind: "list", values: ["x", "y"], itemName: "thing", description: "" },
  } as const;

  it("reads each kind, with defaults", () => {
    expect(readQuery(spec, {}).values).toEqual({ at: undefined, f: undefined, t: undefined, n: 3, m: undefined, b: true, l: undefined });
    const r = readQuery(spec, { at: "2025-01-01", f: "", t: "", n: "+7", m: "10", b: "0", l: " y,,x ", other: "%zz" });
    expect(r.values).toEqual({ at: Date.UTC(2025, 0, 1), f: undefined, t: "", n: 7, m: 10, b: false, l: ["y", "x"] });
    expect(r.given).toEqual(new Set(["at", "f", "t", "n", "m", "b", "l"]));
    expect(readQuery(spec, { f: "a\u0000" }).matchesNothing).toBe(true);
  });

  it("one 422 listing every bad parameter", () => {
    let items: { loc: unknown[]; type: string }[] = [];
    try {
      readQuery(spec, { at: "", n: "11", m: "x", b: "yes", l: "x,z,w", t: { invalid_percent_encoding: "%zz" } });
    } catch (err) {
      items = (err as { data: typeof items }).data;
    }
    expect(items.map((i) => [i.loc[1], i.type])).toEqual([
      ["at", "datetime_parsing"],
      ["t", "value_error"],
      ["n", "less_than_equal"],
      ["m", "int_parsing"],
      ["b", "bool_parsing"],
      ["l", "literal_error"],
      ["l", "literal_error"],
    ]);
  });
});
