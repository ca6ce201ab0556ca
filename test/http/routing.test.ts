/**
 * POST /api/v1/routing/simulate through the real gateway, providers and routing services (§13).
 * Expected numbers are the contract's worked examples or hand-computed in the comments.
 */
import fs from "node:fs";
import path from "node:path";
import { request, startTestServer, tempDir, TestServer } from "../helpers/server";

const SERVICES = "api,providers,routing";

function simulate(server: TestServer, json: unknown) {
  return request(`${server.baseUrl}/routing/simulate`, { method: "POST", json });
}

function simulateRaw(server: TestServer, body: string | undefined, contentType = "application/json") {
  return request(`${server.baseUrl}/routing/simulate`, {
    method: "POST",
    headers: body === undefined ? {} : { "content-type": contentType },
    body,
  });
}

/** [id, share, tokens_millions, cost] per distribution row. */
function rows(body: any): [string, number, number, number][] {
  return body.distribution.map((d: any) => [d.route.id, d.share, d.tokens_millions, d.cost]);
}

function expectConsistent(body: any) {
  const shares = body.distribution.reduce((s: number, d: any) => s + d.share, 0);
  expect(Math.abs(shares - 1)).toBeLessThanOrEqual(1e-4);
  const costs = body.distribution.reduce((s: number, d: any) => s + d.cost, 0);
  expect(body.total_cost).toBeCloseTo(costs, 9);
}

function writeManifest(dir: string, providers: unknown[]): string {
  const file = path.join(dir, "servers.json");
  fs.writeFileSync(file, JSON.stringify({ providers }));
  return file;
}

const EXAMPLE_IDS = ["gemini", "codex", "glm46", "claude"];

describe("with the example manifest", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ SERVICES });
  });
  afterAll(async () => {
    await server.stop();
  });

  describe("plans", () => {
    test("{} → the first worked example", async () => {
      const res = await simulate(server, {});
      expect(res.status).toBe(200);
      expect(res.body.total_cost).toBe(241.46);
      expect(res.body.cost_per_million).toBe(24.15);
      expect(res.body.avg_latency).toBe(1307.45);
      expect(res.body.reliability_score).toBe(94.47);
      expect(rows(res.body)).toEqual([
        ["gemini", 0.2893, 2.8933, 58.82],
        ["codex", 0.2351, 2.3508, 44.67],
        ["claude", 0.1899, 1.8987, 32.83],
        ["glm46", 0.2857, 2.8571, 105.14],
      ]);
      expect(res.body.excluded_route).toBeNull();
      expectConsistent(res.body);
    });

    test("finops, volume 10 → the second worked example", async () => {
      const res = await simulate(server, { strategy: "finops", volume_millions: 10 });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ total_cost: 230.22, cost_per_million: 23.02, avg_latency: 1366.78, reliability_score: 94.67 });
      expect(rows(res.body)).toEqual([
        ["gemini", 0.315, 3.1505, 64.05],
        ["codex", 0.256, 2.5598, 48.64],
        ["claude", 0.2068, 2.0675, 35.75],
        ["glm46", 0.2222, 2.2222, 81.78],
      ]);
    });

    test("route profiles carry the ProviderSummary of the manifest and the §5.1 baselines", async () => {
      const res = await simulate(server, { provider_ids: ["glm46"] });
      expect(res.status).toBe(200);
      expect(res.body.distribution[0].route).toEqual({
        id: "glm46",
        provider: {
          id: "glm46",
          name: "GLM-4.6",
          command: "~/.local/bin/glm46-mcp",
          description: "Zhipu AI GLM-4.6 stdio MCP server with guardrails",
          tags: ["llm", "zhipu"],
          capabilities: ["chat", "embedding", "token_count"],
          transport: "stdio",
          is_available: true,
        },
        lane: "turbo",
        cost_per_million: 36.8,
        latency_p95: 640,
        reliability: 92.2,
        capacity_score: 61,
      });
    });

    test("duplicated ids are de-duplicated (codex, codex = codex: share 1.0, cost 190.0)", async () => {
      const twice = await simulate(server, { provider_ids: ["codex", "codex"] });
      const once = await simulate(server, { provider_ids: ["codex"] });
      expect(twice.status).toBe(200);
      expect(twice.body).toEqual(once.body);
      expect(rows(twice.body)).toEqual([["codex", 1, 10, 190]]);
      expect(twice.body.total_cost).toBe(190);
    });

    test("failover of the only selected provider → zero plan with excluded_route codex", async () => {
      const res = await simulate(server, { provider_ids: ["codex"], failover_provider_id: "codex" });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        total_cost: 0,
        cost_per_million: 0,
        avg_latency: 0,
        reliability_score: 0,
        distribution: [],
      });
      expect(res.body.excluded_route).toMatchObject({ id: "codex", lane: "balanced", cost_per_million: 19, capacity_score: 78 });
    });

    test("a failover outside the selection excludes nothing", async () => {
      const res = await simulate(server, { provider_ids: ["codex", "gemini"], failover_provider_id: "glm46" });
      expect(res.status).toBe(200);
      expect(res.body.excluded_route).toBeNull();
      // balanced lane only: codex 78/174 = .448276, gemini 96/174 = .551724 (selection order kept)
      expect(rows(res.body).map((r) => [r[0], r[1]])).toEqual([
        ["codex", 0.4483],
        ["gemini", 0.5517],
      ]);
    });

    test("failover_provider_id is not checked against the manifest", async () => {
      const res = await simulate(server, { failover_provider_id: "not-a-provider" });
      expect(res.status).toBe(200);
      expect(res.body.total_cost).toBe(241.46);
      expect(res.body.excluded_route).toBeNull();
    });

    test("volume 0 keeps shares, latency and reliability with zero tokens and costs", async () => {
      const res = await simulate(server, { volume_millions: 0 });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ total_cost: 0, cost_per_million: 0, avg_latency: 1307.45, reliability_score: 94.47 });
      expect(rows(res.body)).toEqual([
        ["gemini", 0.2893, 0, 0],
        ["codex", 0.2351, 0, 0],
        ["claude", 0.1899, 0, 0],
        ["glm46", 0.2857, 0, 0],
      ]);
    });

    test("numeric strings are accepted for volume_millions", async () => {
      const res = await simulate(server, { provider_ids: ["codex"], volume_millions: "2.5" });
      expect(res.status).toBe(200);
      expect(rows(res.body)).toEqual([["codex", 1, 2.5, 47.5]]); // 2.5 × 19
    });

    test("the volume bounds 0 and 1e9 are accepted", async () => {
      const res = await simulate(server, { provider_ids: ["codex"], volume_millions: 1e9 });
      expect(res.status).toBe(200);
      expect(res.body.total_cost).toBe(19e9);
      expect(res.body.cost_per_million).toBe(19);
    });
  });

  describe("§26: context, cost and latency for the newer console", () => {
    test("{} → the contract's example: context, cost.total_usd 241.46", async () => {
      const res = await simulate(server, {});
      expect(res.status).toBe(200);
      expect(res.body.context).toEqual({
        strategy: "balanced",
        provider_ids: ["gemini", "codex", "glm46", "claude"],
        provider_count: 4,
        volume_millions: 10,
        failover_provider_id: null,
      });
      expect(res.body.cost).toEqual({ total_usd: 241.46, cost_per_million_usd: 24.15 });
      expect(res.body.latency).toEqual({ avg_latency_ms: 1307.45, reliability_score: 94.47 });
    });

    test("the console's body: de-duplicated ids before the exclusion, the failover as sent", async () => {
      const res = await simulate(server, {
        strategy: "finops",
        provider_ids: ["claude", "codex", "claude"],
        failover_provider_id: "codex",
        volume_millions: "12",
        intents: [],
      });
      expect(res.status).toBe(200);
      expect(res.body.context).toEqual({
        strategy: "finops",
        provider_ids: ["claude", "codex"],
        provider_count: 2,
        volume_millions: 12,
        failover_provider_id: "codex",
      });
      expect(res.body.excluded_route.id).toBe("codex");
      expect(res.body.cost).toEqual({ total_usd: res.body.total_cost, cost_per_million_usd: res.body.cost_per_million });
      expect(res.body.latency).toEqual({ avg_latency_ms: res.body.avg_latency, reliability_score: res.body.reliability_score });
    });

    test.each([[null], [""], ["none"]])("failover %j → failover_provider_id null", async (failover) => {
      const res = await simulate(server, { failover_provider_id: failover });
      expect(res.status).toBe(200);
      expect(res.body.context.failover_provider_id).toBeNull();
      expect(res.body.cost.total_usd).toBe(241.46);
    });

    test("an unknown strategy → 422 with the submitted value as input and the allowed list in ctx", async () => {
      const res = await simulate(server, { strategy: "cheapest" });
      expect(res.status).toBe(422);
      expect(res.body.detail).toEqual([
        {
          type: "literal_error",
          loc: ["body", "strategy"],
          msg: "Input should be one of balanced, finops, latency, resilience",
          input: "cheapest",
          ctx: { expected: "balanced, finops, latency, resilience" },
        },
      ]);
    });
  });

  describe("the console's calls (every provider, volume 12, extra keys)", () => {
    const consoleBody = (strategy: string, failover: string | null) => ({
      strategy,
      provider_ids: EXAMPLE_IDS,
      failover_provider_id: failover,
      volume_millions: 12,
      intents: [],
      custom_rules: [],
    });

    test("balanced baseline", async () => {
      const res = await simulate(server, consoleBody("balanced", null));
      expect(res.status).toBe(200);
      // shares as in the worked example; tokens = 12 × share, e.g. gemini 12 × (.5/.7) × 96/237 = 3.471971,
      // cost 3.471971 × 20.33 = 70.5852; codex 2.820976 × 19 = 53.5986; claude 2.278481 × 17.29 = 39.3949;
      // glm46 3.428571 × 36.8 = 126.1714
      expect(rows(res.body)).toEqual([
        ["gemini", 0.2893, 3.472, 70.59],
        ["codex", 0.2351, 2.821, 53.6],
        ["claude", 0.1899, 2.2785, 39.39],
        ["glm46", 0.2857, 3.4286, 126.17],
      ]);
      expect(res.body.total_cost).toBe(289.75);
      expect(res.body.cost_per_million).toBe(24.15); // 289.75 / 12 = 24.1458
      expect(res.body.avg_latency).toBe(1307.45);
      expect(res.body.reliability_score).toBe(94.47);
      expect(res.body.excluded_route).toBeNull();
      expectConsistent(res.body);
    });

    test("finops", async () => {
      const res = await simulate(server, consoleBody("finops", null));
      expect(res.status).toBe(200);
      // balanced lane .35/.45, turbo .10/.45; gemini 12 × .777778 × 96/237 = 3.780591 → cost 76.8594;
      // codex 3.071730 × 19 = 58.3629; claude 2.481013 × 17.29 = 42.8967; glm46 2.666667 × 36.8 = 98.1333
      expect(rows(res.body)).toEqual([
        ["gemini", 0.315, 3.7806, 76.86],
        ["codex", 0.256, 3.0717, 58.36],
        ["claude", 0.2068, 2.481, 42.9],
        ["glm46", 0.2222, 2.6667, 98.13],
      ]);
      expect(res.body.total_cost).toBe(276.25);
      expect(res.body.cost_per_million).toBe(23.02); // 276.25 / 12 = 23.0208
      expect(res.body.avg_latency).toBe(1366.78);
      expect(res.body.reliability_score).toBe(94.67);
      expectConsistent(res.body);
    });

    test("finops with a failover provider", async () => {
      const res = await simulate(server, consoleBody("finops", "glm46"));
      expect(res.status).toBe(200);
      // only the balanced lane is left (lane share 1): 96/237, 78/237, 63/237 of 12
      expect(rows(res.body)).toEqual([
        ["gemini", 0.4051, 4.8608, 98.82], // 4.860759 × 20.33 = 98.8192
        ["codex", 0.3291, 3.9494, 75.04], // 3.949367 × 19 = 75.0380
        ["claude", 0.2658, 3.1899, 55.15], // 3.189873 × 17.29 = 55.1529
      ]);
      expect(res.body.total_cost).toBe(229.01);
      expect(res.body.cost_per_million).toBe(19.08); // 19.0842
      expect(res.body.avg_latency).toBe(1574.44); // 1755×.4051 + 1485×.3291 + 1410×.2658 = 1574.442
      expect(res.body.reliability_score).toBe(95.38); // 39.90235 + 30.44175 + 25.03836
      expect(res.body.excluded_route.id).toBe("glm46");
      expectConsistent(res.body);
    });

    test("every strategy gives shares summing to 1 and costs summing to total_cost", async () => {
      for (const strategy of ["balanced", "finops", "latency", "resilience"]) {
        for (const failover of [null, "gemini", "glm46"]) {
          const res = await simulate(server, consoleBody(strategy, failover));
          expect(res.status).toBe(200);
          expectConsistent(res.body);
        }
      }
    });
  });

  describe("422 validation", () => {
    async function expect422(json: unknown, loc: (string | number)[]) {
      const res = await simulate(server, json);
      expect(res.status).toBe(422);
      expect(Array.isArray(res.body.detail)).toBe(true);
      expect(res.body.detail.map((d: any) => d.loc)).toContainEqual(loc);
      for (const item of res.body.detail) {
        expect(typeof item.type).toBe("string");
        expect(typeof item.msg).toBe("string");
      }
      return res.body.detail;
    }

    test.each([
      ["null", null],
      ["a string", "gemini"],
      ["an object", { id: "gemini" }],
      ["a number", 3],
    ])("provider_ids as %s", async (_name, value) => {
      await expect422({ provider_ids: value }, ["body", "provider_ids"]);
    });

    test("provider_ids with non-string items names each index", async () => {
      const detail = await expect422({ provider_ids: ["gemini", 5, "codex", null] }, ["body", "provider_ids", 1]);
      expect(detail.map((d: any) => d.loc)).toEqual([
        ["body", "provider_ids", 1],
        ["body", "provider_ids", 3],
      ]);
    });

    test.each([
      ["another string", "cheapest"],
      ["null", null],
      ["a number", 1],
      ["a wrong case", "Balanced"],
    ])("strategy as %s", async (_name, value) => {
      await expect422({ strategy: value }, ["body", "strategy"]);
    });

    test.each([
      ["a number", 5],
      ["a boolean", true],
      ["an array", ["codex"]],
      ["an object", { id: "codex" }],
    ])("failover_provider_id as %s", async (_name, value) => {
      await expect422({ failover_provider_id: value }, ["body", "failover_provider_id"]);
    });

    test.each([
      ["negative", -1],
      ["a negative string", "-0.5"],
      ["above 1e9", 1_000_000_001],
      ["null", null],
      ["true", true],
      ["false", false],
      ["a non-numeric string", "ten"],
      ["an empty string", ""],
      ["a numeric string with a unit", "10M"],
      ["an array", [10]],
      ["an object", { value: 10 }],
    ])("volume_millions %s", async (_name, value) => {
      await expect422({ volume_millions: value }, ["body", "volume_millions"]);
    });

    test("volume_millions must be finite (1e400 parses to Infinity)", async () => {
      const res = await simulateRaw(server, '{"volume_millions": 1e400}');
      expect(res.status).toBe(422);
      expect(res.body.detail.map((d: any) => d.loc)).toEqual([["body", "volume_millions"]]);
    });

    test("several problems are all reported", async () => {
      const detail = await expect422({ provider_ids: "gemini", strategy: "x", failover_provider_id: 1, volume_millions: -3 }, [
        "body",
        "provider_ids",
      ]);
      expect(detail.map((d: any) => d.loc)).toEqual(
        expect.arrayContaining([
          ["body", "provider_ids"],
          ["body", "strategy"],
          ["body", "failover_provider_id"],
          ["body", "volume_millions"],
        ]),
      );
      expect(detail).toHaveLength(4);
    });

    test("validation comes before the unknown-provider 404", async () => {
      await expect422({ provider_ids: ["no-such-provider"], strategy: "fastest" }, ["body", "strategy"]);
    });

    test.each([
      ["a missing body", undefined],
      ["an empty body", ""],
      ["a null body", "null"],
      ["an array body", '["gemini"]'],
      ["a string body", '"gemini"'],
      ["malformed JSON", '{"strategy": '],
    ])("%s → 422 at body", async (_name, raw) => {
      const res = await simulateRaw(server, raw);
      expect(res.status).toBe(422);
      expect(res.body.detail[0].loc[0]).toBe("body");
      expect(res.body.detail[0].loc.length).toBeLessThanOrEqual(2);
    });

    test("malformed JSON is json_invalid", async () => {
      const res = await simulateRaw(server, "{not json");
      expect(res.status).toBe(422);
      expect(res.body.detail[0].type).toBe("json_invalid");
    });
  });

  describe("404 unknown providers", () => {
    test("names the missing ids, de-duplicated and sorted", async () => {
      const res = await simulate(server, { provider_ids: ["zzz-missing", "gemini", "aaa-missing", "zzz-missing"] });
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ detail: "Providers not found: aaa-missing, zzz-missing" });
    });

    test("one missing id", async () => {
      const res = await simulate(server, { provider_ids: ["codex", "Gemini"] });
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ detail: "Providers not found: Gemini" });
    });

    test("an empty-string id is unknown", async () => {
      const res = await simulate(server, { provider_ids: [""] });
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ detail: "Providers not found: " });
    });
  });
});

describe("with a manifest declaring an economy lane", () => {
  let server: TestServer;
  let dir: string;
  let manifestPath: string;
  const providers = [
    { id: "gemini", name: "Gemini MCP", command: "gemini-mcp" },
    { id: "codex", name: "Codex CLI", command: "codex-mcp", lane: "economy" },
    { id: "glm46", name: "GLM-4.6", command: "glm46-mcp" },
  ];

  beforeAll(async () => {
    dir = tempDir("console-mcp-routing-");
    manifestPath = writeManifest(dir, providers);
    server = await startTestServer({ SERVICES, CONSOLE_MCP_SERVERS_PATH: manifestPath });
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("the economy route gets the economy lane's weight and baselines", async () => {
    const res = await simulate(server, { strategy: "finops", volume_millions: 3 });
    expect(res.status).toBe(200);
    // §5.1 lane override: codex economy → cost 12 × 1.00 = 12.0, latency 2400 × .99 = 2376
    expect(res.body.distribution[0].route).toMatchObject({
      id: "codex",
      lane: "economy",
      cost_per_million: 12,
      latency_p95: 2376,
      reliability: 92.5,
      capacity_score: 78,
    });
    expect(res.body.distribution[0].route.provider).toEqual({
      id: "codex",
      name: "Codex CLI",
      command: "codex-mcp",
      description: "",
      tags: [],
      capabilities: [],
      transport: "stdio",
      is_available: true,
    });
    // all lanes present, one route each: .55 / .35 / .10 of 3 → 1.65 × 12 = 19.8; 1.05 × 20.33 = 21.3465;
    // .3 × 36.8 = 11.04
    expect(rows(res.body)).toEqual([
      ["codex", 0.55, 1.65, 19.8],
      ["gemini", 0.35, 1.05, 21.35],
      ["glm46", 0.1, 0.3, 11.04],
    ]);
    expect(res.body.total_cost).toBe(52.19);
    expect(res.body.cost_per_million).toBe(17.4); // 52.19 / 3 = 17.3967
    expect(res.body.avg_latency).toBe(1985.05); // 2376×.55 + 1755×.35 + 640×.1 = 1306.8 + 614.25 + 64
    expect(res.body.reliability_score).toBe(94.57); // 92.5×.55 + 98.5×.35 + 92.2×.1 = 50.875 + 34.475 + 9.22
    expectConsistent(res.body);
  });

  test("a changed manifest is picked up (providers.changed invalidates the cached list)", async () => {
    const first = await simulate(server, { provider_ids: ["codex"] });
    expect(first.body.distribution[0].route.lane).toBe("economy");

    fs.writeFileSync(manifestPath, JSON.stringify({ providers: providers.map((p) => (p.id === "codex" ? { ...p, lane: "turbo" } : p)) }));
    const deadline = Date.now() + 15_000;
    let lane = "economy";
    let body: any;
    while (lane === "economy" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      body = (await simulate(server, { provider_ids: ["codex"] })).body;
      lane = body.distribution[0].route.lane;
    }
    expect(lane).toBe("turbo");
    // turbo override: 32 × 1.00 = 32.0 per million, 780 × .99 = 772 (772.2)
    expect(body.distribution[0].route).toMatchObject({ cost_per_million: 32, latency_p95: 772 });
    expect(body.total_cost).toBe(320);
  });
});

describe("with an empty manifest", () => {
  let server: TestServer;
  let dir: string;
  beforeAll(async () => {
    dir = tempDir("console-mcp-routing-");
    server = await startTestServer({ SERVICES, CONSOLE_MCP_SERVERS_PATH: writeManifest(dir, []) });
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("{} → the zero plan", async () => {
    const res = await simulate(server, { strategy: "latency", failover_provider_id: "codex", volume_millions: 12 });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      total_cost: 0,
      cost_per_million: 0,
      avg_latency: 0,
      reliability_score: 0,
      distribution: [],
      excluded_route: null,
      context: { strategy: "latency", provider_ids: [], provider_count: 0, volume_millions: 12, failover_provider_id: "codex" },
      cost: { total_usd: 0, cost_per_million_usd: 0 },
      latency: { avg_latency_ms: 0, reliability_score: 0 },
    });
  });

  test("any named provider is unknown", async () => {
    const res = await simulate(server, { provider_ids: ["gemini"] });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: "Providers not found: gemini" });
  });
});
