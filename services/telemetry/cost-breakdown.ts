/**
 * The metrics cost breakdown (§10.2): (provider, route) groups with a positive cost, labelled by
 * route, else effective lane, else provider id; groups with the same label are merged.
 */
import { Lane, roundHalfEven } from "../../lib/lanes";
import { errorLabel } from "./store/run";
import { compareText } from "../../lib/text-order";
import { compareProviderRoute } from "./ordering";

export interface CostGroup {
  provider_id: string;
  route: string | null;
  /** Unrounded group cost (§5.2). */
  cost: number;
  run_count: number;
}

export interface CostBreakdownEntry {
  id: string | null;
  label: string | null;
  lane: Lane | null;
  provider_id: string | null;
  cost_usd: number;
  run_count: number | null;
}

interface MergedCost {
  label: string;
  first: CostGroup;
  providers: Set<string>;
  lanes: Set<Lane | null>;
  cost: number;
  run_count: number;
}

/** laneOf: the effective lane of a manifest provider, null for a provider not in the manifest. */
export function costBreakdown(groups: readonly CostGroup[], laneOf: (providerId: string) => Lane | null): CostBreakdownEntry[] {
  const merged = new Map<string, MergedCost>();
  for (const group of [...groups].sort(compareProviderRoute)) {
    if (!(group.cost > 0)) continue;
    const lane = laneOf(group.provider_id);
    const source = group.route !== null && group.route.trim() !== "" ? group.route : (lane ?? group.provider_id);
    const label = errorLabel(source); // the §10.2 label rule
    let entry = merged.get(label);
    if (entry === undefined) {
      entry = { label, first: group, providers: new Set(), lanes: new Set(), cost: 0, run_count: 0 };
      merged.set(label, entry);
    }
    entry.providers.add(group.provider_id);
    entry.lanes.add(lane);
    entry.cost += group.cost;
    entry.run_count += group.run_count;
  }
  const entries = [...merged.values()].map((m): CostBreakdownEntry => {
    const single = m.providers.size === 1;
    return {
      id: single ? (m.first.route === null ? m.first.provider_id : `${m.first.provider_id}:${m.first.route}`) : null,
      label: m.label,
      lane: m.lanes.size === 1 ? [...m.lanes][0] : null,
      provider_id: single ? m.first.provider_id : null,
      cost_usd: roundHalfEven(m.cost, 6),
      run_count: m.run_count,
    };
  });
  return entries.sort((a, b) => b.cost_usd - a.cost_usd || compareText(a.label ?? "", b.label ?? ""));
}
