/**
 * The routing plan (§13) as a pure function. Expected numbers are the contract's worked examples or
 * computed by hand in the comments next to each case.
 */
import type { Lane } from "../../lib/lanes";
import { computePlan, PlanProvider, RoutingPlan, STRATEGY_LANE_WEIGHTS, Strategy, toRouteProfile } from "../../services/routing/plan";

function provider(id: string, lane: Lane, cost_per_million: number, latency_p95: number, reliability: number, capacity_score: number): PlanProvider {
  return {
    id,
    lane,
    cost_per_million,
    latency_p95,
    reliability,
    capacity_score,
    summary: {
      id,
      name: `${id} name`,
      command: `~/bin/${id}`,
      description: "",
      tags: ["llm"],
      capabilities: ["chat"],
      transport: "stdio",
      is_available: true,
    },
  };
}

// The example manifest's baselines, from the table of §5.1.
const gemini = provider("gemini", "balanced", 20.33, 1755, 98.5, 96);
const codex = provider("codex", "balanced", 19.0, 1485, 92.5, 78);
const glm46 = provider("glm46", "turbo", 36.8, 640, 92.2, 61);
const claude = provider("claude", "balanced", 17.29, 1410, 94.2, 63);
const exampleManifest = [gemini, codex, glm46, claude];

// Synthetic providers with round numbers, one lane each for E1/T1, two balanced routes.
const E1 = provider("e1", "economy", 10, 2000, 90, 60);
const B1 = provider("b1", "balanced", 20, 1000, 95, 100);
const B2 = provider("b2", "balanced", 20, 1200, 97, 100);
const T1 = provider("t1", "turbo", 40, 500, 99, 80);

function plan(providers: PlanProvider[], options: { strategy?: Strategy; failover?: string | null; volume?: number } = {}): RoutingPlan {
  return computePlan({
    providers,
    strategy: options.strategy ?? "balanced",
    failoverProviderId: options.failover ?? null,
    volumeMillions: options.volume ?? 10,
  });
}

/** [id, share, tokens_millions, cost] per distribution row. */
function rows(p: RoutingPlan): [string, number, number, number][] {
  return p.distribution.map((d) => [d.route.id, d.share, d.tokens_millions, d.cost]);
}

describe("worked examples of §13 (example manifest)", () => {
  test("{} → balanced, volume 10", () => {
    const p = plan(exampleManifest);
    expect(p.total_cost).toBe(241.46);
    expect(p.cost_per_million).toBe(24.15);
    expect(p.avg_latency).toBe(1307.45);
    expect(p.reliability_score).toBe(94.47);
    expect(rows(p)).toEqual([
      ["gemini", 0.2893, 2.8933, 58.82],
      ["codex", 0.2351, 2.3508, 44.67],
      ["claude", 0.1899, 1.8987, 32.83],
      ["glm46", 0.2857, 2.8571, 105.14],
    ]);
    expect(p.excluded_route).toBeNull();
  });

  test('{"strategy": "finops", "volume_millions": 10}', () => {
    const p = plan(exampleManifest, { strategy: "finops", volume: 10 });
    expect(p.total_cost).toBe(230.22);
    expect(p.cost_per_million).toBe(23.02);
    expect(p.avg_latency).toBe(1366.78);
    expect(p.reliability_score).toBe(94.67);
    expect(rows(p)).toEqual([
      ["gemini", 0.315, 3.1505, 64.05],
      ["codex", 0.256, 2.5598, 48.64],
      ["claude", 0.2068, 2.0675, 35.75],
      ["glm46", 0.2222, 2.2222, 81.78],
    ]);
    expect(p.excluded_route).toBeNull();
  });

  test("de-duplication: [codex, codex] is [codex] (share 1.0, cost 190.0)", () => {
    const twice = plan([codex, codex]);
    expect(twice).toEqual(plan([codex]));
    expect(rows(twice)).toEqual([["codex", 1, 10, 190]]);
    expect(twice.total_cost).toBe(190);
    expect(twice.cost_per_million).toBe(19);
    expect(twice.avg_latency).toBe(1485);
    expect(twice.reliability_score).toBe(92.5);
  });

  test("failover of the only selected provider → zero plan naming it", () => {
    const p = plan([codex], { failover: "codex" });
    expect(p).toEqual({
      total_cost: 0,
      cost_per_million: 0,
      avg_latency: 0,
      reliability_score: 0,
      distribution: [],
      excluded_route: toRouteProfile(codex),
      context: {
        strategy: "balanced",
        provider_ids: ["codex"],
        provider_count: 1,
        volume_millions: 10,
        failover_provider_id: "codex",
      },
      cost: { total_usd: 0, cost_per_million_usd: 0 },
      latency: { avg_latency_ms: 0, reliability_score: 0 },
    });
    expect(p.excluded_route?.id).toBe("codex");
  });
});

describe("route profiles", () => {
  test("a route carries the provider summary and the baselines, nothing else", () => {
    const route = plan([claude]).distribution[0].route;
    expect(route).toEqual({
      id: "claude",
      provider: {
        id: "claude",
        name: "claude name",
        command: "~/bin/claude",
        description: "",
        tags: ["llm"],
        capabilities: ["chat"],
        transport: "stdio",
        is_available: true,
      },
      lane: "balanced",
      cost_per_million: 17.29,
      latency_p95: 1410,
      reliability: 94.2,
      capacity_score: 63,
    });
  });
});

describe("strategies over all three lanes (E1 economy, B1+B2 balanced with equal capacity, T1 turbo)", () => {
  // Every lane has a route, so Wt = 1 and lane shares are the weights; B1 and B2 split their lane in half.
  // Selection order T1, B1, E1, B2 → output order economy, balanced (B1 before B2), turbo.
  const selection = [T1, B1, E1, B2];
  const cases: [Strategy, { rows: [string, number, number, number][]; total: number; cpm: number; lat: number; rel: number }][] = [
    [
      "balanced", // E .30, B .25 + .25, T .20
      {
        rows: [
          ["e1", 0.3, 3, 30],
          ["b1", 0.25, 2.5, 50],
          ["b2", 0.25, 2.5, 50],
          ["t1", 0.2, 2, 80],
        ],
        total: 210,
        cpm: 21,
        lat: 1250, // 2000×.3 + 1000×.25 + 1200×.25 + 500×.2 = 600 + 250 + 300 + 100
        rel: 94.8, // 90×.3 + 95×.25 + 97×.25 + 99×.2 = 27 + 23.75 + 24.25 + 19.8
      },
    ],
    [
      "finops", // E .55, B .175 + .175, T .10
      {
        rows: [
          ["e1", 0.55, 5.5, 55],
          ["b1", 0.175, 1.75, 35],
          ["b2", 0.175, 1.75, 35],
          ["t1", 0.1, 1, 40],
        ],
        total: 165,
        cpm: 16.5,
        lat: 1535, // 1100 + 175 + 210 + 50
        rel: 93, // 49.5 + 16.625 + 16.975 + 9.9
      },
    ],
    [
      "latency", // E .10, B .175 + .175, T .55
      {
        rows: [
          ["e1", 0.1, 1, 10],
          ["b1", 0.175, 1.75, 35],
          ["b2", 0.175, 1.75, 35],
          ["t1", 0.55, 5.5, 220],
        ],
        total: 300,
        cpm: 30,
        lat: 860, // 200 + 175 + 210 + 275
        rel: 97.05, // 9 + 16.625 + 16.975 + 54.45
      },
    ],
    [
      "resilience", // E .25, B .225 + .225, T .30
      {
        rows: [
          ["e1", 0.25, 2.5, 25],
          ["b1", 0.225, 2.25, 45],
          ["b2", 0.225, 2.25, 45],
          ["t1", 0.3, 3, 120],
        ],
        total: 235,
        cpm: 23.5,
        lat: 1145, // 500 + 225 + 270 + 150
        rel: 95.4, // 22.5 + 21.375 + 21.825 + 29.7
      },
    ],
  ];

  test.each(cases)("%s", (strategy, expected) => {
    const p = plan(selection, { strategy, volume: 10 });
    expect(rows(p)).toEqual(expected.rows);
    expect(p.total_cost).toBe(expected.total);
    expect(p.cost_per_million).toBe(expected.cpm);
    expect(p.avg_latency).toBe(expected.lat);
    expect(p.reliability_score).toBe(expected.rel);
    expect(p.excluded_route).toBeNull();
  });

  test("the weights table is the contract's", () => {
    expect(STRATEGY_LANE_WEIGHTS).toEqual({
      balanced: { economy: 0.3, balanced: 0.5, turbo: 0.2 },
      finops: { economy: 0.55, balanced: 0.35, turbo: 0.1 },
      latency: { economy: 0.1, balanced: 0.35, turbo: 0.55 },
      resilience: { economy: 0.25, balanced: 0.45, turbo: 0.3 },
    });
  });
});

describe("lane and capacity shares", () => {
  test("lanes without routes drop out of Wt (finops, economy + turbo only)", () => {
    // Wt = .55 + .10 = .65: E1 .55/.65 = .846153…, T1 .10/.65 = .153846…
    // tokens 8.46153… / 1.53846…; costs 84.6153… → 84.62, 61.5384… → 61.54; total 146.16
    const p = plan([E1, T1], { strategy: "finops", volume: 10 });
    expect(rows(p)).toEqual([
      ["e1", 0.8462, 8.4615, 84.62],
      ["t1", 0.1538, 1.5385, 61.54],
    ]);
    expect(p.total_cost).toBe(146.16);
    expect(p.cost_per_million).toBe(14.62); // 14.616
    expect(p.avg_latency).toBe(1769.3); // 2000×.8462 + 500×.1538 = 1692.4 + 76.9 (rounded shares)
    expect(p.reliability_score).toBe(91.38); // 90×.8462 + 99×.1538 = 76.158 + 15.2262 = 91.3842
  });

  test("capacity splits a lane (90 : 30 → .75 : .25)", () => {
    const big = provider("big", "balanced", 20, 1000, 95, 90);
    const small = provider("small", "balanced", 15, 1200, 97, 30);
    const p = plan([big, small], { strategy: "latency", volume: 4 });
    // one lane → lane share 1; tokens 3 and 1; costs 60 and 15
    expect(rows(p)).toEqual([
      ["big", 0.75, 3, 60],
      ["small", 0.25, 1, 15],
    ]);
    expect(p.total_cost).toBe(75);
    expect(p.cost_per_million).toBe(18.75);
    expect(p.avg_latency).toBe(1050); // 750 + 300
    expect(p.reliability_score).toBe(95.5); // 71.25 + 24.25
  });

  test("a single provider takes the whole volume whatever its lane and the strategy", () => {
    for (const strategy of ["balanced", "finops", "latency", "resilience"] as Strategy[]) {
      const p = plan([E1], { strategy, volume: 7 });
      expect(rows(p)).toEqual([["e1", 1, 7, 70]]);
      expect(p.total_cost).toBe(70);
      expect(p.cost_per_million).toBe(10);
      expect(p.avg_latency).toBe(2000);
      expect(p.reliability_score).toBe(90);
    }
  });

  test("totals use the rounded costs and the rounded shares", () => {
    // three equal routes: share 1/3 → .3333, tokens .3333…, cost 3.333… → 3.33 each
    const a = provider("a", "turbo", 10, 1000, 99, 70);
    const b = provider("b", "turbo", 10, 1000, 99, 70);
    const c = provider("c", "turbo", 10, 1000, 99, 70);
    const p = plan([a, b, c], { volume: 1 });
    expect(rows(p)).toEqual([
      ["a", 0.3333, 0.3333, 3.33],
      ["b", 0.3333, 0.3333, 3.33],
      ["c", 0.3333, 0.3333, 3.33],
    ]);
    expect(p.total_cost).toBe(9.99); // not 10: the sum of rounded costs
    expect(p.cost_per_million).toBe(9.99);
    expect(p.avg_latency).toBe(999.9); // 1000 × .9999
    expect(p.reliability_score).toBe(98.99); // 99 × .9999 = 98.9901
  });
});

describe("failover", () => {
  test("a selected failover leaves its lane to the lane's other routes", () => {
    // balanced, all lanes still present: E1 .3, B2 .5 (alone in its lane), T1 .2
    const p = plan([E1, B1, B2, T1], { failover: "b1" });
    expect(rows(p)).toEqual([
      ["e1", 0.3, 3, 30],
      ["b2", 0.5, 5, 100],
      ["t1", 0.2, 2, 80],
    ]);
    expect(p.total_cost).toBe(210);
    expect(p.excluded_route).toEqual(toRouteProfile(B1));
  });

  test("excluding the only route of a lane re-normalises the lane shares", () => {
    // balanced without turbo: Wt = .8; E1 .375, B1 .3125, B2 .3125
    const p = plan([E1, B1, B2, T1], { failover: "t1" });
    expect(rows(p)).toEqual([
      ["e1", 0.375, 3.75, 37.5],
      ["b1", 0.3125, 3.125, 62.5],
      ["b2", 0.3125, 3.125, 62.5],
    ]);
    expect(p.total_cost).toBe(162.5);
    expect(p.cost_per_million).toBe(16.25);
    expect(p.avg_latency).toBe(1437.5); // 750 + 312.5 + 375
    expect(p.reliability_score).toBe(93.75); // 33.75 + 29.6875 + 30.3125
    expect(p.excluded_route?.id).toBe("t1");
  });

  test("a failover id outside the selection excludes nothing", () => {
    const withOutside = plan([E1, B1, B2], { failover: "t1" });
    const without = plan([E1, B1, B2]);
    // The same plan; only the context reports the failover id as asked (§26).
    expect(withOutside).toEqual({ ...without, context: { ...without.context, failover_provider_id: "t1" } });
    expect(withOutside.excluded_route).toBeNull();
    expect(withOutside.distribution).toHaveLength(3);
  });

  test('"" and "none" exclude nothing, even a provider whose id is "none"', () => {
    const none = provider("none", "balanced", 20, 1000, 95, 100);
    for (const failover of ["", "none", null]) {
      const p = plan([none, E1], { failover });
      expect(p.excluded_route).toBeNull();
      expect(p.distribution.map((d) => d.route.id)).toEqual(["e1", "none"]);
    }
  });

  test("a duplicated failover id is excluded once and entirely", () => {
    const p = plan([B1, T1, B1], { failover: "b1" });
    expect(rows(p)).toEqual([["t1", 1, 10, 400]]);
    expect(p.excluded_route?.id).toBe("b1");
  });
});

describe("selection", () => {
  test("duplicates keep the first occurrence and its position", () => {
    const p = plan([B2, B1, B2, B1, B2], { volume: 10 });
    expect(p).toEqual(plan([B2, B1], { volume: 10 }));
    // one lane, equal capacity: .5 each, B2 first (selection order)
    expect(rows(p)).toEqual([
      ["b2", 0.5, 5, 100],
      ["b1", 0.5, 5, 100],
    ]);
  });
});

describe("volume 0 and the zero plan", () => {
  test("volume 0 keeps shares, latency and reliability; tokens and costs are 0", () => {
    const p = plan([E1, B1, B2, T1], { volume: 0 });
    expect(rows(p)).toEqual([
      ["e1", 0.3, 0, 0],
      ["b1", 0.25, 0, 0],
      ["b2", 0.25, 0, 0],
      ["t1", 0.2, 0, 0],
    ]);
    expect(p.total_cost).toBe(0);
    expect(p.cost_per_million).toBe(0);
    expect(p.avg_latency).toBe(1250);
    expect(p.reliability_score).toBe(94.8);
  });

  test("nothing selected → zero plan without an excluded route", () => {
    expect(plan([])).toEqual({
      total_cost: 0,
      cost_per_million: 0,
      avg_latency: 0,
      reliability_score: 0,
      distribution: [],
      excluded_route: null,
      context: { strategy: "balanced", provider_ids: [], provider_count: 0, volume_millions: 10, failover_provider_id: null },
      cost: { total_usd: 0, cost_per_million_usd: 0 },
      latency: { avg_latency_ms: 0, reliability_score: 0 },
    });
  });

  test("the input profiles are not modified", () => {
    const before = JSON.stringify([E1, B1]);
    const p = plan([E1, B1]);
    p.distribution[0].route.provider.tags.push("changed");
    expect(JSON.stringify([E1, B1])).toBe(before);
  });
});

describe("§26: context, cost and latency repeat the plan for the newer console", () => {
  test("{} with the example manifest: the contract's example", () => {
    const p = plan(exampleManifest);
    expect(p.context).toEqual({
      strategy: "balanced",
      provider_ids: ["gemini", "codex", "glm46", "claude"],
      provider_count: 4,
      volume_millions: 10,
      failover_provider_id: null,
    });
    expect(p.cost).toEqual({ total_usd: 241.46, cost_per_million_usd: 24.15 });
    expect(p.latency).toEqual({ avg_latency_ms: 1307.45, reliability_score: 94.47 });
  });

  test("provider_ids are de-duplicated in request order and keep the excluded failover", () => {
    const p = plan([glm46, codex, glm46, claude], { strategy: "latency", failover: "codex", volume: 12 });
    expect(p.context).toEqual({
      strategy: "latency",
      provider_ids: ["glm46", "codex", "claude"],
      provider_count: 3,
      volume_millions: 12,
      failover_provider_id: "codex",
    });
    expect(p.excluded_route?.id).toBe("codex");
    expect(p.distribution.map((d) => d.route.id)).toEqual(["claude", "glm46"]);
  });

  test.each([[null], [""], ["none"]])("failover %p asks for no exclusion: null in context", (failover) => {
    expect(plan([codex], { failover }).context.failover_provider_id).toBeNull();
  });

  test("a failover id that is not selected is still reported as asked", () => {
    const p = plan([codex], { failover: "gemini" });
    expect(p.context.failover_provider_id).toBe("gemini");
    expect(p.excluded_route).toBeNull();
  });

  test.each([
    ["balanced", 10],
    ["finops", 0],
    ["latency", 3.5],
    ["resilience", 1e9],
  ] as [Strategy, number][])("%s at volume %p: cost and latency equal the §13 fields", (strategy, volume) => {
    const p = plan([E1, B1, B2, T1], { strategy, volume });
    expect(p.cost).toEqual({ total_usd: p.total_cost, cost_per_million_usd: p.cost_per_million });
    expect(p.latency).toEqual({ avg_latency_ms: p.avg_latency, reliability_score: p.reliability_score });
    expect(p.context.volume_millions).toBe(volume);
    expect(p.context.strategy).toBe(strategy);
  });
});
