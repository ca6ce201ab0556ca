/**
 * Bad request input (issue 7; §6: a clear 4xx, never a 5xx, a hang or a crash; nothing lost): each
 * example of the issue, and a test of its whole class — JSON nesting anywhere in any body (§6.3),
 * how a query string becomes parameters (§1.1, §6.1), request strings used as object keys, and
 * numbers checked against the column they meet. Shared by SQLite (test/http) and PostgreSQL
 * (test/pg).
 */
import http from "node:http";
import type { Dialect } from "../../lib/store/knex";
import { MAX_SERIAL_ID } from "../../lib/store/columns";
import { request, startTestServer, TestServer } from "../helpers/server";
import { ROUTES, RouteSpec } from "../../services/api/routes";
import { QUERY_PARAMETERS } from "../helpers/bad-input-corpus";

const TS = "2025-03-01T10:00:00Z";
const WORDS = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"];
/** The §10.2 label of each word: the error category of a run with it as status, the cost label of its route. */
const LABELS = new Map([
  ["constructor", "Constructor"],
  ["__proto__", "Proto"],
  ["toString", "Tostring"],
  ["hasOwnProperty", "Hasownproperty"],
  ["valueOf", "Valueof"],
]);
const arrays = (depth: number, inner = "1") => "[".repeat(depth) + inner + "]".repeat(depth);
const objects = (depth: number) => '{"a":'.repeat(depth - 1) + "{}" + "}".repeat(depth - 1);
const cursorFor = (id: string, ts = "2025-01-01T00:00:00Z") => Buffer.from(`{"ts":"${ts}","id":${id}}`).toString("base64url");

/** The read endpoints that take query parameters, with a parameter each accepts. */
const READS = [
  "telemetry/metrics",
  "telemetry/heatmap",
  "telemetry/timeseries",
  "telemetry/pareto",
  "telemetry/runs",
  "telemetry/finops/sprints",
  "telemetry/finops/pull-requests",
];

/**
 * The routes whose method carries a body (every one but GET), with their path parameters filled
 * with `fill(name)`: read from the route table, so a new route is covered without a change here.
 */
const BODY_METHOD_ROUTES = ROUTES.filter((r) => r.method !== "GET");
/** Of those, the ones that take no body (their input kind reads none). */
const BODYLESS_ROUTES = BODY_METHOD_ROUTES.filter((r) => !r.input.includes("body"));
const routeUrl = (route: RouteSpec, fill: (param: string) => string) =>
  route.path.replace(/:([A-Za-z_]+)/g, (_m, name: string) => encodeURIComponent(fill(name))).slice(1);

/** Bodies the body rules refuse (§6.3; README "Request input"), with the content type they are sent with. */
const REFUSED_BODIES: [string, string, Buffer][] = [
  ["invalid JSON", "application/json", Buffer.from("{bad")],
  ["a JSON text sent as text/plain", "text/plain", Buffer.from('{"a":1}')],
  ["a form", "application/x-www-form-urlencoded", Buffer.from("a=1")],
  ["JSON nested 100 levels", "application/json", Buffer.from(arrays(100))],
  ["bytes that are not UTF-8", "application/json", Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
];

/** Bodies a route that takes none accepts as none: empty (any content type), `null`, or any valid JSON (ignored). */
const IGNORED_BODIES: [string, string | undefined, string][] = [
  ["no body with application/json (the console UI)", "application/json", ""],
  ["no body with text/plain", "text/plain", ""],
  ["no body, no content type", undefined, ""],
  ["null", "application/json", "null"],
  ["whitespace", "application/json", " \n"],
  ["a JSON object", "application/json", '{"wait":false,"id":"other"}'],
  ["64 levels", "application/json", arrays(64)],
];

/** Any request with a raw body (fetch cannot send one with GET, nor a chosen Content-Length). */
function sendRaw(target: string, method: string, contentType: string | undefined, body: Buffer | string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { "content-length": Buffer.byteLength(body) };
    if (contentType !== undefined) headers["content-type"] = contentType;
    const req = http.request(target, { method, headers }, (res) => {
      // GET /events answers a stream that does not end (runtime-contract §23.1): its status is the answer.
      if (String(res.headers["content-type"]).startsWith("text/event-stream")) {
        resolve({ status: res.statusCode ?? 0, body: null });
        req.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, body: text === "" ? null : JSON.parse(text) });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A GET with a body (fetch cannot send one). */
function getWithBody(target: string, body: string): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      target,
      { method: "GET", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0 }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

export function badInputSuite(env: () => Record<string, string>, backend: Dialect): void {
  let server: TestServer;
  const url = (p: string) => `${server.baseUrl}/${p}`;
  const get = (p: string) => request(url(p));
  const post = (p: string, json: unknown) => request(url(p), { method: "POST", json });
  const postText = (p: string, body: string) => request(url(p), { method: "POST", body, headers: { "content-type": "application/json" } });
  const runCount = async () => (await get("telemetry/metrics")).body.total_runs as number;

  beforeAll(async () => {
    server = await startTestServer(env());
    const runs = [
      { provider_id: "codex", route: "chat", ts: TS, cost_usd: 1, tokens_in: 10, status: "ok" },
      { provider_id: "gemini", route: "chat", ts: TS, cost_usd: 2, tokens_in: 20, status: "error" },
      { provider_id: "gemini", route: "code", ts: "2025-03-02T10:00:00Z", cost_usd: 3, tokens_in: 30, status: "ok" },
      { provider_id: "a b", ts: TS },
      { provider_id: "a+b", ts: TS },
      { provider_id: "a+b", ts: TS },
    ];
    expect((await post("telemetry/runs", { runs })).status).toBe(201);
    const pr = { id: "pr-1", title: "t", merged_at: "2025-03-01T12:00:00Z", provider_id: "gemini", route: "chat" };
    expect((await post("telemetry/finops/pull-requests", pr)).status).toBe(201);
  });
  afterAll(() => server?.stop());

  describe("the issue's examples", () => {
    it("5,000 [ then 5,000 ] on POST /routing/simulate → 422 loc body, and every service keeps answering", async () => {
      const res = await postText("routing/simulate", "[".repeat(5000) + "]".repeat(5000));
      expect(res.status).toBe(422);
      expect(res.body.detail).toEqual([expect.objectContaining({ type: "json_too_deep", loc: ["body"] })]);
      expect((await get("healthz")).status).toBe(200);
      expect((await post("routing/simulate", {})).status).toBe(200);
      expect((await get("sessions")).status).toBe(200);
      expect(await runCount()).toBeGreaterThan(0);
    });

    it("provider_id=codex 21 times then provider_id=gemini → the figures for gemini", async () => {
      const query = `${"provider_id=codex&".repeat(21)}provider_id=gemini`;
      const res = await get(`telemetry/metrics?${query}`);
      expect(res.status).toBe(200);
      expect(res.body.total_runs).toBe(2);
      expect(res.body).toEqual((await get("telemetry/metrics?provider_id=gemini")).body);
    });

    it('POST /telemetry/runs {"provider_id":"x","status":"constructor"} → 201, stored as "constructor"', async () => {
      const res = await post("telemetry/runs", { provider_id: "x", status: "constructor" });
      expect(res.status).toBe(201);
      const runs = await get("telemetry/runs?provider_id=x");
      expect(runs.body.items.map((r: { status: string }) => r.status)).toEqual(["constructor"]);
    });

    it(`a cursor with id 2147483648 → ${backend === "pg" ? "400 invalid cursor (past PostgreSQL's integer id)" : "a position like any other (SQLite ids are 64-bit)"}`, async () => {
      const res = await get(`telemetry/runs?cursor=${cursorFor("2147483648")}`);
      if (backend === "pg") {
        expect(res.status).toBe(400);
        expect(res.body).toEqual({ detail: "invalid cursor" });
      } else {
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ items: [], next_cursor: null });
      }
    });
  });

  describe("class: JSON nested deeper than 64 levels, anywhere in any body (§6.3)", () => {
    const deep = arrays(64);
    const cases: [string, string][] = [
      ["routing/simulate", arrays(65)],
      ["routing/simulate", objects(65)],
      ["routing/simulate", `{"strategy":"finops","intents":${deep}}`],
      ["routing/simulate", `{"provider_ids":${deep}}`],
      ["telemetry/runs", `{"provider_id":"deep","metadata":{"a":${arrays(63)}}}`],
      ["telemetry/runs", `{"runs":[{"provider_id":"deep","metadata":${deep}}]}`],
      ["telemetry/runs", `{"provider_id":"deep","ignored":${deep}}`],
      ["telemetry/finops/pull-requests", `{"id":"pr-deep","title":"t","merged_at":"${TS}","provider_id":"x","extra":${deep}}`],
      ["providers/gemini/sessions", `{"reason":"r","overrides":${deep}}`],
      ["providers/gemini/sessions", objects(100000)],
    ];

    it.each(cases)("POST %s with %s… → 422 loc body, nothing stored", async (p, body) => {
      const before = { runs: await runCount(), sessions: (await get("sessions")).body.sessions.length };
      const res = await postText(p, body);
      expect(res.status).toBe(422);
      expect(res.body.detail).toEqual([expect.objectContaining({ type: "json_too_deep", loc: ["body"] })]);
      expect(await runCount()).toBe(before.runs);
      expect((await get("sessions")).body.sessions).toHaveLength(before.sessions);
      expect((await get("telemetry/finops/pull-requests?provider_id=x&start=2025-01-01")).body.items).toEqual([]);
    });

    it("64 levels are accepted and stored whole (metadata 62 levels inside the run and its metadata)", async () => {
      const metadata = { a: JSON.parse(arrays(62)) };
      const res = await post("telemetry/runs", { provider_id: "deep-ok", metadata });
      expect(res.status).toBe(201);
      const runs = await get("telemetry/runs?provider_id=deep-ok");
      expect(runs.body.items[0].metadata).toEqual(metadata);
      const session = await postText("providers/gemini/sessions", `{"reason":"deep","overrides":${arrays(63)}}`);
      expect(session.status).toBe(200);
    });

    it("a 422 that echoes a 64-level input still answers, with the echo", async () => {
      const res = await postText("routing/simulate", arrays(64));
      expect(res.status).toBe(422);
      expect(res.body.detail[0]).toMatchObject({ loc: ["body"], input: JSON.parse(arrays(64)) });
    });

    it("a 422 that would echo a near-1 MiB input answers briefly, without the echo", async () => {
      const body = `[${"1,".repeat(500000)}1]`;
      const res = await postText("routing/simulate", body);
      expect(res.status).toBe(422);
      expect(res.body.detail).toEqual([{ type: "model_type", loc: ["body"], msg: "Input should be a JSON object" }]);
      expect(res.text.length).toBeLessThan(1000);
    });

    it("GET endpoints ignore a body, however deep", async () => {
      for (const p of ["telemetry/metrics", "sessions", "healthz"]) {
        const res = await getWithBody(url(p), "[".repeat(5000) + "]".repeat(5000));
        expect(res.status).toBe(200);
      }
    });
  });

  describe("class: every route whose method carries a body applies the body rules, also when it takes no body (§6.3, runtime-contract §18.5)", () => {
    const unknown = (name: string) => `no-such-${name}`;

    it("the route table has routes that take no body (the process actions, pings, deletes)", () => {
      const names = BODYLESS_ROUTES.map((r) => `${r.method} ${r.path}`);
      expect(names).toEqual(
        expect.arrayContaining([
          "POST /servers/:id/process/start",
          "POST /servers/:id/process/stop",
          "POST /servers/:id/process/restart",
          "POST /servers/:id/health/ping",
          "DELETE /servers/:id",
          "DELETE /sessions/:session_id",
        ]),
      );
    });

    it.each(BODY_METHOD_ROUTES.flatMap((r) => REFUSED_BODIES.map(([label, type, body]) => [`${r.method} ${r.path}`, label, r, type, body] as const)))(
      "%s with %s → 422 at body, before the path is looked up",
      async (_name, _label, route, type, body) => {
        const res = await sendRaw(url(routeUrl(route, unknown)), route.method, type, body);
        expect(res.status).toBe(422);
        expect(res.body.detail).toHaveLength(1);
        expect(res.body.detail[0].loc[0]).toBe("body");
      },
    );

    it.each(BODYLESS_ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))(
      "%s of an existing server with a refused body → 422, and nothing is done",
      async (_name, route) => {
        const target = url(routeUrl(route, (name) => (name === "id" || name === "provider_id" ? "gemini" : unknown(name))));
        for (const [, type, body] of REFUSED_BODIES) {
          const res = await sendRaw(target, route.method, type, body);
          expect(res.status).toBe(422);
          expect(res.body.detail[0].loc[0]).toBe("body");
        }
        const state = await get("servers/gemini/process");
        expect(state.body.process).toMatchObject({ status: "stopped", desired: "stopped", last_error: null, logs: [] });
        expect((await get("servers/gemini")).status).toBe(200);
      },
    );

    it.each(BODYLESS_ROUTES.flatMap((r) => IGNORED_BODIES.map(([label, type, body]) => [`${r.method} ${r.path}`, label, r, type, body] as const)))(
      "%s with %s answers as without a body",
      async (_name, _label, route, type, body) => {
        const target = url(routeUrl(route, unknown));
        const expected = await request(target, { method: route.method });
        expect(expected.status).toBeLessThan(422);
        const res = await sendRaw(target, route.method, type, body);
        expect({ status: res.status, body: res.body }).toEqual({ status: expected.status, body: expected.body });
      },
    );
  });

  describe("class: a path parameter no store can hold (NUL) names nothing: never a store error", () => {
    const PATH_ROUTES = ROUTES.filter((r) => r.path.includes(":"));

    it.each(PATH_ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))("%s with a%00b → a 4xx with the contract's body", async (_name, route) => {
      const target = url(routeUrl(route, () => "a%00b"));
      const res =
        route.method === "GET" || route.method === "DELETE"
          ? await request(target, { method: route.method })
          : await request(target, { method: route.method, json: {} });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(res.body).toHaveProperty("detail");
    });
  });

  describe("class: a query string becomes one string per key, the last occurrence winning (§1.1)", () => {
    it.each(READS.flatMap((p) => [2, 20, 21, 50, 500].map((n) => [p, n] as const)))(
      "GET %s with provider_id repeated %d times → the answer for the last value",
      async (p, repeats) => {
        const expected = (await get(`${p}?provider_id=gemini&start=2025-01-01&end=2025-04-01`)).body;
        const res = await get(`${p}?${"provider_id=codex&".repeat(repeats)}provider_id=gemini&start=2025-01-01&end=2025-04-01`);
        expect(res.status).toBe(200);
        expect(res.body).toEqual(expected);
      },
    );

    it("numbers and dates repeated more than 20 times are read like once (no false 422)", async () => {
      const runs = await get(`telemetry/runs?${"limit=1&".repeat(25)}limit=2`);
      expect(runs.status).toBe(200);
      expect(runs.body.items).toHaveLength(2);
      const start = await get(`telemetry/metrics?${"start=2000-01-01&".repeat(25)}start=2025-03-02`);
      expect(start.status).toBe(200);
      expect(start.body).toEqual((await get("telemetry/metrics?start=2025-03-02")).body);
      const sprints = await get(
        `telemetry/finops/sprints?${"window_days=3&".repeat(30)}window_days=1&${"limit=2&".repeat(30)}limit=3&start=2025-03-01&end=2025-03-03`,
      );
      expect(sprints.status).toBe(200);
      expect(sprints.body).toEqual((await get("telemetry/finops/sprints?window_days=1&limit=3&start=2025-03-01&end=2025-03-03")).body);
      const bad = await get(`telemetry/runs?${"limit=2&".repeat(25)}limit=0`);
      expect(bad.status).toBe(422);
      expect(bad.body.detail.map((d: { loc: unknown[] }) => d.loc)).toEqual([["query", "limit"]]);
    });

    it.each(READS)("GET %s ignores bracket, dotted and prototype keys (they are other, unlisted keys)", async (p) => {
      const expected = (await get(`${p}?start=2025-01-01&end=2025-04-01`)).body;
      const odd = [
        "provider_id[]=codex",
        "provider_id[a]=codex",
        "provider_id[0]=codex",
        "provider_id.x=codex",
        "a[provider_id]=codex",
        "limit[]=1",
        "start[0]=x",
        "__proto__=x",
        "__proto__[provider_id]=codex",
        "constructor=y",
        "constructor[prototype][limit]=1",
        "toString=1",
        "hasOwnProperty=2",
        "valueOf=3",
        "%5F%5Fproto%5F%5F[limit]=1",
      ].join("&");
      const res = await get(`${p}?${odd}&start=2025-01-01&end=2025-04-01`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual(expected);
    });

    it.each(READS)("GET %s: malformed percent-encoding in a listed parameter is a 422 naming it; in an unlisted key it is ignored", async (p) => {
      for (const raw of ["%E9", "%zz", "%", "%ED%A0%80"]) {
        const res = await get(`${p}?provider_id=${raw}`);
        expect(res.status).toBe(422);
        expect(res.body.detail).toEqual([expect.objectContaining({ loc: ["query", "provider_id"], input: raw })]);
      }
      const expected = (await get(`${p}?start=2025-01-01`)).body;
      const ignored = await get(`${p}?other=%zz&%E9=1&start=2025-01-01`);
      expect(ignored.status).toBe(200);
      expect(ignored.body).toEqual(expected);
    });

    const routeKey = (r: RouteSpec) => `${r.method} ${r.path}`;
    const QUERY_ROUTES = ROUTES.filter((r) => r.input === "query" || r.input === "path-and-query" || r.input === "event-stream");

    it("every route that reads its query lists its parameters in the corpus (test/helpers/bad-input-corpus.ts)", () => {
      expect(QUERY_ROUTES.filter((r) => !QUERY_PARAMETERS.has(routeKey(r))).map(routeKey)).toEqual([]);
      expect([...QUERY_PARAMETERS.keys()].filter((k) => !ROUTES.some((r) => routeKey(r) === k))).toEqual([]);
    });

    it.each(QUERY_ROUTES.flatMap((r) => (QUERY_PARAMETERS.get(routeKey(r)) ?? []).map((name) => [routeKey(r), name, r] as const)))(
      "%s: %s not validly percent-encoded → 422 value_error naming it, before anything else (an unknown id is not looked up)",
      async (_key, name, route) => {
        const target = url(routeUrl(route, (p) => `no-such-${p}`));
        for (const raw of ["%zz", "%E9", "%", "%ED%A0%80", "%C3%28"]) {
          const res = await sendRaw(`${target}?${name}=${raw}`, route.method, undefined, "");
          expect(res.status).toBe(422);
          expect(res.body.detail).toEqual([
            { type: "value_error", loc: ["query", name], msg: "Query parameter is not valid percent-encoded UTF-8", input: raw },
          ]);
        }
      },
    );

    it.each(["start", "restart"])("POST /servers/gemini/process/%s?wait=%%zz → 422, nothing started", async (action) => {
      const res = await sendRaw(url(`servers/gemini/process/${action}?wait=%zz`), "POST", "application/json", "");
      expect(res.status).toBe(422);
      expect(res.body.detail).toEqual([expect.objectContaining({ type: "value_error", loc: ["query", "wait"], input: "%zz" })]);
      expect((await get("servers/gemini/process")).body.process).toMatchObject({ status: "stopped", desired: "stopped", logs: [] });
    });

    it("GET /servers/gemini/process/logs?cursor=%zz → 422 value_error (not the cursor's 400); a bad limit is a 422 before a bad cursor's 400", async () => {
      const res = await get("servers/gemini/process/logs?cursor=%zz");
      expect(res.status).toBe(422);
      expect(res.body.detail).toEqual([expect.objectContaining({ type: "value_error", loc: ["query", "cursor"], input: "%zz" })]);
      const both = await get("servers/gemini/process/logs?cursor=abc&limit=0");
      expect(both.status).toBe(422);
      expect(both.body.detail.map((d: { loc: unknown[] }) => d.loc)).toEqual([["query", "limit"]]);
      const cursor = await get("servers/no-such-server/process/logs?cursor=abc");
      expect(cursor.status).toBe(400);
      expect(cursor.body).toEqual({ detail: "Cursor must be an integer" });
    });

    it("endpoints without query parameters ignore any query", async () => {
      for (const p of ["healthz", "providers", "servers", "secrets"]) {
        const res = await get(`${p}?x=%zz&provider_id=%E9&__proto__=1&a[b]=2&${"k=1&".repeat(30)}`);
        expect(res.status).toBe(200);
      }
    });

    it("+ is a space and %2B a plus, as in forms", async () => {
      expect((await get("telemetry/metrics?provider_id=a+b")).body.total_runs).toBe(1);
      expect((await get("telemetry/metrics?provider_id=a%20b")).body.total_runs).toBe(1);
      expect((await get("telemetry/metrics?provider_id=a%2Bb")).body.total_runs).toBe(2);
    });

    it("; is not a separator, and a long query keeps its last value", async () => {
      expect((await get("telemetry/metrics?provider_id=gemini;x=1")).body.total_runs).toBe(0);
      const long = `${"provider_id=codex&".repeat(600)}provider_id=gemini`;
      expect(long.length).toBeGreaterThan(10000);
      expect((await get(`telemetry/metrics?${long}`)).body.total_runs).toBe(2);
    });
  });

  describe("class: request strings are data, never keys of a plain object", () => {
    it.each(WORDS)("a run with %s in every string field is stored and read back verbatim", async (word) => {
      const run = { provider_id: word, tool: word, route: word, status: word, experiment_cohort: word, experiment_tag: word, ts: TS, cost_usd: 1 };
      expect((await post("telemetry/runs", run)).status).toBe(201);
      const q = encodeURIComponent(word);
      const runs = await get(`telemetry/runs?provider_id=${q}&route=${q}`);
      expect(runs.status).toBe(200);
      expect(runs.body.items).toHaveLength(1);
      expect(runs.body.items[0]).toMatchObject({
        provider_id: word,
        provider_name: word,
        tool: word,
        route: word,
        status: word.toLowerCase(),
        experiment_cohort: word,
        experiment_tag: word,
        lane: null,
      });
      const metrics = await get(`telemetry/metrics?provider_id=${q}`);
      expect(metrics.body.total_runs).toBe(1);
      expect(metrics.body.extended.error_breakdown).toEqual([{ category: LABELS.get(word), count: 1 }]);
      expect(metrics.body.extended.cost_breakdown).toEqual([expect.objectContaining({ label: LABELS.get(word), provider_id: word, cost_usd: 1 })]);
      for (const p of [
        "telemetry/heatmap",
        "telemetry/timeseries",
        "telemetry/pareto",
        "telemetry/finops/sprints",
        "telemetry/finops/pull-requests",
      ]) {
        expect((await get(`${p}?provider_id=${q}&start=2025-02-20&end=2025-03-05`)).status).toBe(200);
      }
      for (const p of ["telemetry/timeseries", "telemetry/pareto", "telemetry/runs", "telemetry/finops/sprints", "telemetry/finops/pull-requests"]) {
        const res = await get(`${p}?lane=${q}`);
        expect(res.status).toBe(200);
        expect(res.body.items).toEqual([]);
      }
      expect((await get(`telemetry/metrics?route=${q}`)).body.total_runs).toBe(1);
    });

    it("metadata whose keys are prototype words is kept as data", async () => {
      const text =
        '{"provider_id":"meta-words","status":"failed","metadata":{"__proto__":{"error":"x"},"constructor":{"prototype":1},"error":{"__proto__":"y","toString":"z","hasOwnProperty":"w"}}}';
      expect((await postText("telemetry/runs", text)).status).toBe(201);
      const item = (await get("telemetry/runs?provider_id=meta-words")).body.items[0];
      expect(Object.keys(item.metadata)).toEqual(["__proto__", "constructor", "error"]);
      expect(JSON.stringify(item.metadata)).toBe(JSON.stringify(JSON.parse(text).metadata));
      const metrics = await get("telemetry/metrics?provider_id=meta-words");
      expect(metrics.body.extended.error_breakdown).toEqual([{ category: "Error", count: 1 }]);
    });

    it.each(WORDS)("a pull request, a session and a routing request with %s", async (word) => {
      const pr = { id: word, title: word, owner: word, merged_at: "2025-03-01T11:00:00Z", provider_id: word, route: word };
      const created = await post("telemetry/finops/pull-requests", pr);
      expect(created.status).toBe(201);
      expect(created.body).toEqual({ ...pr, merged_at: "2025-03-01T11:00:00Z" });
      expect((await post("telemetry/finops/pull-requests", pr)).status).toBe(409);
      const report = await get(`telemetry/finops/pull-requests?provider_id=${encodeURIComponent(word)}&start=2025-02-01&end=2025-03-05`);
      expect(report.status).toBe(200);
      expect(report.body.items.map((i: { id: string }) => i.id)).toEqual([word]);

      const unknown = await post(`providers/${encodeURIComponent(word)}/sessions`, {});
      expect(unknown.status).toBe(404);
      expect(unknown.body).toEqual({ detail: `Provider '${word}' not found` });
      const session = await post("providers/gemini/sessions", { reason: word, client: word, [word]: word });
      expect(session.status).toBe(200);
      expect(session.body.session).toMatchObject({ reason: word, client: word });
      const missing = await get(`sessions/${encodeURIComponent(word)}`);
      expect(missing.status).toBe(404);
      expect(missing.body).toEqual({ detail: `Session '${word}' not found` });

      expect((await post("routing/simulate", { strategy: word })).status).toBe(422);
      const routes = await post("routing/simulate", { provider_ids: [word] });
      expect(routes.status).toBe(404);
      expect(routes.body).toEqual({ detail: `Providers not found: ${word}` });
      expect((await post("routing/simulate", { failover_provider_id: word })).status).toBe(200);
    });
  });

  describe("class: numbers from a request are checked against the column they meet", () => {
    const max = MAX_SERIAL_ID[backend];

    it(`cursor ids: ${max} (the largest id of the run id column here) is a position; one more is an invalid cursor`, async () => {
      const at = await get(`telemetry/runs?cursor=${cursorFor(String(max), "2025-03-01T10:00:00Z")}`);
      expect(at.status).toBe(200);
      expect(at.body.items.length).toBeGreaterThan(0);
      for (const id of [String(max + 1), "9007199254740993", "1e400", "-1", "1.5", '"1"']) {
        const res = await get(`telemetry/runs?cursor=${cursorFor(id)}`);
        expect(res.status).toBe(400);
        expect(res.body).toEqual({ detail: "invalid cursor" });
      }
    });

    it("cursor dates outside years 0001–9999 are invalid cursors; the extremes are positions", async () => {
      for (const ts of ["10000-01-01T00:00:00Z", "0000-12-31T23:59:59Z", "+010000-01-01T00:00:00Z", "2025-02-30T00:00:00Z"]) {
        expect((await get(`telemetry/runs?cursor=${cursorFor("1", ts)}`)).status).toBe(400);
      }
      const newest = await get(`telemetry/runs?cursor=${cursorFor("1", "9999-12-31T23:59:59.999Z")}`);
      expect(newest.status).toBe(200);
      expect(newest.body.items.length).toBeGreaterThan(0);
      expect((await get(`telemetry/runs?cursor=${cursorFor("0", "0001-01-01T00:00:00Z")}`)).body.items).toEqual([]);
    });

    it.each([
      ["telemetry/runs", "limit", ["2147483648", "9223372036854775808", "9".repeat(400), "-9".repeat(200), "1e2"]],
      ["telemetry/finops/sprints", "window_days", ["2147483648", "9".repeat(400)]],
      ["telemetry/finops/pull-requests", "limit", ["4294967296", "-2147483649"]],
      ["telemetry/metrics", "start", ["99999999999999999999", "253402300800000", "-62135596800001", "1e20", "10000-01-01"]],
      ["telemetry/heatmap", "end", ["9".repeat(400), "0000-01-01"]],
    ] as const)("GET %s with %s out of range → 422 naming it", async (p, name, values) => {
      for (const value of values) {
        const res = await get(`${p}?${name}=${encodeURIComponent(value)}`);
        expect(res.status).toBe(422);
        expect(res.body.detail.map((d: { loc: unknown[] }) => d.loc)).toEqual([["query", name]]);
      }
    });

    it.each(READS)("GET %s over the whole range of instants (years 0001–9999) answers", async (p) => {
      for (const q of [
        "start=0001-01-01T00:00:00Z&end=9999-12-31T23:59:59.999Z",
        "start=-62135596800&end=253402300799999",
        "start=9999-12-31T23:59:59.999Z",
        "end=0001-01-01",
        "start=0001-01-01&end=0001-01-01&window_days=90&limit=12",
      ]) {
        expect((await get(`${p}?${q}`)).status).toBe(200);
      }
    });

    it("runs and pull requests at the first and last instant are stored and reported", async () => {
      const runs = [
        { provider_id: "edge", ts: "0001-01-01T00:00:00Z" },
        { provider_id: "edge", ts: "9999-12-31T23:59:59.999Z" },
      ];
      expect((await post("telemetry/runs", { runs })).status).toBe(201);
      for (const merged_at of ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z"]) {
        expect((await post("telemetry/finops/pull-requests", { id: `edge-${merged_at}`, title: "t", merged_at, provider_id: "edge" })).status).toBe(
          201,
        );
      }
      const all = await get("telemetry/runs?provider_id=edge");
      expect(all.body.items.map((r: { ts: string }) => r.ts)).toEqual(["9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00Z"]);
      for (const p of READS) {
        const res = await get(`${p}?provider_id=edge&start=0001-01-01&end=9999-12-31T23:59:59.999Z&window_days=90`);
        expect(res.status).toBe(200);
      }
      expect((await get("telemetry/metrics?provider_id=edge")).body.total_runs).toBe(2);
    });
  });
}
