/**
 * routing: the routing simulator (§13). Pure computation over the providers service's
 * `providers.list` (cached by a ProviderDirectory until `providers.changed`); no store, no manifest.
 */
import type { Context, ServiceSchema } from "moleculer";
import type { Config } from "../lib/config";
import { notFound } from "../lib/errors";
import { ProviderDirectory, ProviderInfo } from "../lib/provider-directory";
import { computePlan, RoutingPlan } from "./routing/plan";
import { parseSimulationRequest } from "./routing/request";

interface RoutingVars {
  providers: ProviderDirectory;
}

/** Ascending by Unicode code point. */
function compareCodePoints(a: string, b: string): number {
  const ca = Array.from(a, (c) => c.codePointAt(0) as number);
  const cb = Array.from(b, (c) => c.codePointAt(0) as number);
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    if (ca[i] !== cb[i]) return ca[i] - cb[i];
  }
  return ca.length - cb.length;
}

/** The selected providers in request order (duplicates kept for the plan to drop); 404 on unknown ids. */
export function selectProviders(all: ProviderInfo[], requestedIds: string[]): ProviderInfo[] {
  if (requestedIds.length === 0) return all;
  const byId = new Map(all.map((p) => [p.id, p]));
  const missing = [...new Set(requestedIds.filter((id) => !byId.has(id)))].sort(compareCodePoints);
  if (missing.length > 0) throw notFound(`Providers not found: ${missing.join(", ")}`);
  return requestedIds.map((id) => byId.get(id) as ProviderInfo);
}

export default function routingService(_config: Config): ServiceSchema {
  const schema = {
    name: "routing",

    events: {
      "providers.changed"(this: RoutingVars) {
        this.providers.invalidate();
      },
    },

    actions: {
      /** POST /routing/simulate: params = the JSON object body. */
      simulate: {
        async handler(this: RoutingVars, ctx: Context<Record<string, unknown>>): Promise<RoutingPlan> {
          const request = parseSimulationRequest(ctx.params);
          const selected = selectProviders(await this.providers.list(), request.providerIds);
          return computePlan({
            providers: selected,
            strategy: request.strategy,
            failoverProviderId: request.failoverProviderId,
            volumeMillions: request.volumeMillions,
          });
        },
      },
    },

    created(this: RoutingVars & { broker: Context["broker"] }) {
      this.providers = new ProviderDirectory(this.broker);
    },
  };
  return schema as unknown as ServiceSchema;
}
