/**
 * The routing plan of §13: how a volume of tokens is split across the selected providers for a
 * strategy. Pure computation over provider profiles (as answered by `providers.list`); no I/O.
 */
import type { ProviderInfo } from "../../lib/provider-directory";
import { Lane, LANES, roundHalfEven } from "../../lib/lanes";

export const STRATEGIES = ["balanced", "finops", "latency", "resilience"] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** Lane weights of each strategy (§13 step 4): the one place these numbers live. */
export const STRATEGY_LANE_WEIGHTS: Readonly<Record<Strategy, Readonly<Record<Lane, number>>>> = {
  balanced: { economy: 0.3, balanced: 0.5, turbo: 0.2 },
  finops: { economy: 0.55, balanced: 0.35, turbo: 0.1 },
  latency: { economy: 0.1, balanced: 0.35, turbo: 0.55 },
  resilience: { economy: 0.25, balanced: 0.45, turbo: 0.3 },
};

export function isStrategy(value: unknown): value is Strategy {
  return typeof value === "string" && (STRATEGIES as readonly string[]).includes(value);
}

/** What the plan needs of a provider: its effective lane, baselines and summary. */
export type PlanProvider = Pick<ProviderInfo, "id" | "lane" | "cost_per_million" | "latency_p95" | "reliability" | "capacity_score" | "summary">;

export type ProviderSummary = ProviderInfo["summary"];

/** RouteProfile of §13 step 2. */
export interface RouteProfile {
  id: string;
  provider: ProviderSummary;
  lane: Lane;
  cost_per_million: number;
  latency_p95: number;
  reliability: number;
  capacity_score: number;
}

export interface RouteAllocation {
  route: RouteProfile;
  share: number;
  tokens_millions: number;
  cost: number;
}

/** `context` of the §26 answer: what the plan was computed for. */
export interface PlanContext {
  strategy: Strategy;
  /** The selection after de-duplication and before the failover exclusion (manifest order when none was given). */
  provider_ids: string[];
  provider_count: number;
  volume_millions: number;
  /** null for null, "" and "none" (no exclusion asked for). */
  failover_provider_id: string | null;
}

/**
 * The answer of POST /routing/simulate: the §13 fields plus the three objects of §26
 * (`context`, `cost`, `latency`), computed from the same numbers.
 */
export interface RoutingPlan {
  total_cost: number;
  cost_per_million: number;
  avg_latency: number;
  reliability_score: number;
  distribution: RouteAllocation[];
  excluded_route: RouteProfile | null;
  context: PlanContext;
  cost: { total_usd: number; cost_per_million_usd: number };
  latency: { avg_latency_ms: number; reliability_score: number };
}

/** The §13 figures of a plan, before the §26 objects are derived from them. */
type PlanFigures = Omit<RoutingPlan, "context" | "cost" | "latency">;

export interface PlanInput {
  /** The selected providers in request order (may contain duplicates; the first occurrence is kept). */
  providers: PlanProvider[];
  strategy: Strategy;
  failoverProviderId: string | null;
  volumeMillions: number;
}

export function toRouteProfile(p: PlanProvider): RouteProfile {
  return {
    id: p.id,
    provider: { ...p.summary, tags: [...p.summary.tags], capabilities: [...p.summary.capabilities] },
    lane: p.lane,
    cost_per_million: p.cost_per_million,
    latency_p95: p.latency_p95,
    reliability: p.reliability,
    capacity_score: p.capacity_score,
  };
}

/** Step 1: de-duplicated by id, the first occurrence kept, order preserved. */
export function dedupeById<T extends { id: string }>(items: readonly T[]): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (const item of items) {
    if (seen.has(item.id)) continue;
    seen.add(item.id);
    out.push(item);
  }
  return out;
}

/** The failover id that asks for an exclusion: null for null, "" and "none". */
export function effectiveFailover(failoverProviderId: string | null): string | null {
  return failoverProviderId === null || failoverProviderId === "" || failoverProviderId === "none" ? null : failoverProviderId;
}

/** Step 3: a failover id excludes only when non-empty, not "none", and selected. */
export function splitFailover(routes: RouteProfile[], failoverProviderId: string | null): { kept: RouteProfile[]; excluded: RouteProfile | null } {
  if (effectiveFailover(failoverProviderId) === null) {
    return { kept: routes, excluded: null };
  }
  const excluded = routes.find((r) => r.id === failoverProviderId) ?? null;
  return { kept: excluded === null ? routes : routes.filter((r) => r !== excluded), excluded };
}

/** Step 7: nothing left to distribute. */
export function zeroPlan(excluded: RouteProfile | null): PlanFigures {
  return { total_cost: 0, cost_per_million: 0, avg_latency: 0, reliability_score: 0, distribution: [], excluded_route: excluded };
}

/** §26: the figures of §13 plus `context`, `cost` and `latency`, which repeat them under the newer console's names. */
function withSummaries(figures: PlanFigures, input: PlanInput, routes: readonly RouteProfile[]): RoutingPlan {
  const providerIds = routes.map((r) => r.id);
  return {
    ...figures,
    context: {
      strategy: input.strategy,
      provider_ids: providerIds,
      provider_count: providerIds.length,
      volume_millions: input.volumeMillions,
      failover_provider_id: effectiveFailover(input.failoverProviderId),
    },
    cost: { total_usd: figures.total_cost, cost_per_million_usd: figures.cost_per_million },
    latency: { avg_latency_ms: figures.avg_latency, reliability_score: figures.reliability_score },
  };
}

/** Steps 1–7 of §13, with the §26 objects. */
export function computePlan(input: PlanInput): RoutingPlan {
  const routes = dedupeById(input.providers).map(toRouteProfile);
  return withSummaries(planFigures(routes, input), input, routes);
}

/** Steps 3–7 of §13 over the de-duplicated routes. */
function planFigures(routes: RouteProfile[], input: PlanInput): PlanFigures {
  const { kept, excluded } = splitFailover(routes, input.failoverProviderId);
  if (kept.length === 0) return zeroPlan(excluded);

  const weights = STRATEGY_LANE_WEIGHTS[input.strategy];
  const lanes = LANES.map((lane) => ({ lane, routes: kept.filter((r) => r.lane === lane) })).filter((l) => l.routes.length > 0);
  const totalWeight = lanes.reduce((sum, l) => sum + weights[l.lane], 0);
  const volume = input.volumeMillions;

  const distribution: RouteAllocation[] = [];
  for (const { lane, routes: laneRoutes } of lanes) {
    const laneShare = weights[lane] / totalWeight;
    const laneCapacity = laneRoutes.reduce((sum, r) => sum + r.capacity_score, 0);
    for (const route of laneRoutes) {
      const share = (laneShare * route.capacity_score) / laneCapacity;
      const tokens = volume * share;
      const cost = tokens * route.cost_per_million;
      distribution.push({
        route,
        share: roundHalfEven(share, 4),
        tokens_millions: roundHalfEven(tokens, 4),
        cost: roundHalfEven(cost, 2),
      });
    }
  }

  const costSum = distribution.reduce((sum, d) => sum + d.cost, 0);
  return {
    total_cost: roundHalfEven(costSum, 2),
    cost_per_million: volume === 0 ? 0 : roundHalfEven(costSum / volume, 2),
    avg_latency: roundHalfEven(
      distribution.reduce((sum, d) => sum + d.route.latency_p95 * d.share, 0),
      2,
    ),
    reliability_score: roundHalfEven(
      distribution.reduce((sum, d) => sum + d.route.reliability * d.share, 0),
      2,
    ),
    distribution,
    excluded_route: excluded,
  };
}
