import type { Lane } from "../../lib/lanes";
import { costBreakdown, CostGroup } from "../../services/telemetry/cost-breakdown";
import { interpolate, percentile, percentilePosition } from "../../services/telemetry/percentile";
import type { ProviderRouteTotals } from "../../services/telemetry/queries";
import { errorBreakdown, paretoItems, providerMetrics, totalsByProvider } from "../../services/telemetry/summaries";

describe("linear-interpolation percentile", () => {
  it("gives the contract's example: [1000, 2000, 1500] → p95 1950, p99 1990", () => {
    expect(percentile([1000, 2000, 1500], 0.95)).toBe(1950);
    expect(percentile([1000, 2000, 1500], 0.99)).toBe(1990);
  });

  it("gives the sample itself for one sample", () => {
    expect(percentile([742], 0.95)).toBe(742);
    expect(percentile([742], 0.99)).toBe(742);
    expect(percentilePosition(1, 0.99)).toEqual({ position: 0, lower: 0, upper: 0 });
  });

  it("lands exactly on a value when the position is integral", () => {
    // n = 21: position 20 × 0.95 = 19 → the 20th smallest value.
    const values = Array.from({ length: 21 }, (_, i) => (i + 1) * 10);
    expect(percentilePosition(21, 0.95)).toEqual({ position: 19, lower: 19, upper: 19 });
    expect(percentile(values, 0.95)).toBe(200);
  });

  it("interpolates between the two neighbours of the position", () => {
    // n = 11: p95 position 9.5 between 100 (index 9) and 300 (index 10).
    const values = [5, 10, 20, 30, 40, 50, 60, 70, 80, 100, 300];
    expect(percentile(values, 0.95)).toBe(200);
    const at = percentilePosition(11, 0.99); // 9.9
    expect(at.lower).toBe(9);
    expect(at.upper).toBe(10);
    expect(interpolate(at, 100, 300)).toBeCloseTo(280, 9);
  });

  it("refuses an empty set", () => {
    expect(() => percentilePosition(0, 0.95)).toThrow(RangeError);
  });
});

describe("metrics cost breakdown", () => {
  const lanes: Record<string, Lane> = { glm46: "turbo", gemini: "balanced", codex: "balanced", claude: "balanced" };
  const laneOf = (id: string): Lane | null => lanes[id] ?? null;
  const group = (provider_id: string, route: string | null, cost: number, run_count = 1): CostGroup => ({
    provider_id,
    route,
    cost,
    run_count,
  });

  it("merges the contract's example into one Balanced entry", () => {
    expect(costBreakdown([group("glm46", "balanced", 0.5), group("gemini", "balanced", 0.25)], laneOf)).toEqual([
      { label: "Balanced", cost_usd: 0.75, provider_id: null, id: null, lane: null, run_count: 2 },
    ]);
  });

  it("labels by route, else effective lane, else provider id; keeps single-provider ids", () => {
    const entries = costBreakdown(
      [group("gemini", "chat_completions", 1.5, 3), group("gemini", null, 0.4, 2), group("ghost", null, 0.3, 1), group("ghost", "  ", 0.2, 1)],
      laneOf,
    );
    expect(entries).toEqual([
      { id: "gemini:chat_completions", label: "Chat Completions", lane: "balanced", provider_id: "gemini", cost_usd: 1.5, run_count: 3 },
      // ghost is not in the manifest: no lane, labelled by its id; the blank route counts as no route.
      { id: "ghost", label: "Ghost", lane: null, provider_id: "ghost", cost_usd: 0.5, run_count: 2 },
      { id: "gemini", label: "Balanced", lane: "balanced", provider_id: "gemini", cost_usd: 0.4, run_count: 2 },
    ]);
  });

  it("merges a route label with a lane label of the same text and keeps the first group's id", () => {
    // codex has no route (label from lane balanced), and a route literally named BALANCED: one provider.
    const entries = costBreakdown([group("codex", "BALANCED", 0.1), group("codex", null, 0.2)], laneOf);
    // Groups are taken in (provider, route null first) order: the null-route group comes first.
    expect(entries).toEqual([{ id: "codex", label: "Balanced", lane: "balanced", provider_id: "codex", cost_usd: 0.3, run_count: 2 }]);
    const same = costBreakdown([group("gemini", "balanced", 0.1), group("claude", "balanced", 0.2)], laneOf);
    // Two providers with the same lane: lane kept, provider and id null.
    expect(same).toEqual([{ id: null, label: "Balanced", lane: "balanced", provider_id: null, cost_usd: 0.3, run_count: 2 }]);
  });

  it("drops groups without a positive cost", () => {
    expect(costBreakdown([group("gemini", "a", 0), group("gemini", "b", 0, 5)], laneOf)).toEqual([]);
  });

  it("orders by rounded cost desc then label asc by code unit", () => {
    const entries = costBreakdown(
      [
        group("gemini", "beta", 0.1),
        group("gemini", "Alpha", 0.1),
        group("gemini", "zeta", 0.3),
        group("gemini", "ágil", 0.1),
        group("gemini", "gamma", 0.1000000001), // equal once rounded to 6 decimals
      ],
      laneOf,
    );
    expect(entries.map((e) => e.label)).toEqual(["Zeta", "Alpha", "Beta", "Gamma", "Ágil"]);
    expect(entries[3].cost_usd).toBe(0.1);
  });

  it("sums unrounded group costs before rounding once", () => {
    const entries = costBreakdown([group("gemini", "x", 0.0000004), group("claude", "x", 0.0000004), group("codex", "x", 0.0000004)], laneOf);
    expect(entries).toHaveLength(1);
    expect(entries[0].cost_usd).toBe(0.000001);
    expect(entries[0].run_count).toBe(3);
  });
});

function totals(provider_id: string, route: string | null, fields: Partial<ProviderRouteTotals>): ProviderRouteTotals {
  return {
    provider_id,
    route,
    run_count: 1,
    tokens_in: 0,
    tokens_out: 0,
    duration_sum: 0,
    success_count: 0,
    cost: 0,
    cache_samples: 0,
    cache_hits: 0,
    cached_tokens: 0,
    first_ts: "2025-01-01T00:00:00.000Z",
    last_ts: "2025-01-01T00:00:00.000Z",
    ...fields,
  };
}

describe("metrics providers and error breakdown", () => {
  it("orders providers by run_count desc then provider_id asc by code unit, merging their routes", () => {
    const list = totalsByProvider([
      totals("zeta", "a", { run_count: 2, duration_sum: 300, success_count: 1, cost: 0.5 }),
      totals("alpha", null, { run_count: 1, duration_sum: 100, success_count: 1 }),
      totals("Beta", "x", { run_count: 2, duration_sum: 100 }),
      totals("alpha", "r", { run_count: 1, duration_sum: 200, cost: 0.25 }),
      totals("omega", "r", { run_count: 3, duration_sum: 30, success_count: 3, tokens_in: 5, tokens_out: 7 }),
    ]);
    expect(list.map(providerMetrics)).toEqual([
      { provider_id: "omega", run_count: 3, tokens_in: 5, tokens_out: 7, cost_usd: 0, avg_latency_ms: 10, success_rate: 1 },
      { provider_id: "Beta", run_count: 2, tokens_in: 0, tokens_out: 0, cost_usd: 0, avg_latency_ms: 50, success_rate: 0 },
      { provider_id: "alpha", run_count: 2, tokens_in: 0, tokens_out: 0, cost_usd: 0.25, avg_latency_ms: 150, success_rate: 0.5 },
      { provider_id: "zeta", run_count: 2, tokens_in: 0, tokens_out: 0, cost_usd: 0.5, avg_latency_ms: 150, success_rate: 0.5 },
    ]);
  });

  it("orders categories by count desc, ties by first appearance in (ts, id) order", () => {
    const entries = errorBreakdown([
      { category: "Timeout", count: 2, first_ts: "2025-01-02T00:00:00.000Z", first_id: 9 },
      { category: "Rate Limit", count: 2, first_ts: "2025-01-01T00:00:00.000Z", first_id: 4 },
      { category: "Error", count: 1, first_ts: "2025-01-03T00:00:00.000Z", first_id: 2 },
      { category: "Denied", count: 2, first_ts: "2025-01-02T00:00:00.000Z", first_id: 7 },
    ]);
    // Timeout and Denied first appear at the same ts: the smaller id (Denied, 7) came first.
    expect(entries).toEqual([
      { category: "Rate Limit", count: 2 },
      { category: "Denied", count: 2 },
      { category: "Timeout", count: 2 },
      { category: "Error", count: 1 },
    ]);
  });
});

describe("pareto entries", () => {
  const providers = new Map([
    ["gemini", { lane: "balanced" as Lane, summary: { name: "Gemini MCP" } }],
    ["glm46", { lane: "turbo" as Lane, summary: { name: "GLM-4.6" } }],
  ]);

  it("merges no route and the literal default route of a provider into <provider>:default", () => {
    const items = paretoItems(
      [
        totals("gemini", null, { run_count: 1, cost: 0.1, duration_sum: 100, success_count: 1, tokens_in: 10, tokens_out: 1 }),
        totals("gemini", "default", { run_count: 3, cost: 0.2, duration_sum: 900, success_count: 1, tokens_in: 30, tokens_out: 3 }),
        totals("glm46", null, { run_count: 2, cost: 0.05, duration_sum: 500, success_count: 2 }),
        totals("ghost", "chat", { run_count: 1, cost: 0.3, duration_sum: 50 }),
      ],
      providers,
    );
    expect(items).toEqual([
      // 0.1 + 0.2 rounds to 0.3 like ghost's cost: the tie goes to provider_id order.
      {
        id: "gemini:default",
        provider_id: "gemini",
        provider_name: "Gemini MCP",
        route: "default",
        lane: "balanced",
        run_count: 4,
        tokens_in: 40,
        tokens_out: 4,
        cost_usd: 0.3,
        avg_latency_ms: 250,
        success_rate: 0.5,
      },
      {
        id: "ghost:chat",
        provider_id: "ghost",
        provider_name: "ghost",
        route: "chat",
        lane: "balanced",
        run_count: 1,
        tokens_in: 0,
        tokens_out: 0,
        cost_usd: 0.3,
        avg_latency_ms: 50,
        success_rate: 0,
      },
      {
        id: "glm46:default",
        provider_id: "glm46",
        provider_name: "GLM-4.6",
        route: null,
        lane: "turbo",
        run_count: 2,
        tokens_in: 0,
        tokens_out: 0,
        cost_usd: 0.05,
        avg_latency_ms: 250,
        success_rate: 1,
      },
    ]);
  });

  it("orders equal costs by provider_id then route with null first", () => {
    const items = paretoItems(
      [
        totals("gemini", "b", { cost: 0.1 }),
        totals("gemini", "a", { cost: 0.1 }),
        totals("gemini", null, { cost: 0.1 }),
        totals("alpha", "z", { cost: 0.1 }),
      ],
      providers,
    );
    expect(items.map((i) => i.id)).toEqual(["alpha:z", "gemini:default", "gemini:a", "gemini:b"]);
  });
});
