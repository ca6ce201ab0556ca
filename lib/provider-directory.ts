/**
 * What a service needs to know about providers (names, effective lanes, baselines), asked of the
 * providers service through the broker and cached until the `providers.changed` event.
 */
import type { ServiceBroker } from "moleculer";
import type { Lane } from "./lanes";

/** A manifest entry with its defaults materialised (§3.1), as the API shows it. */
export interface ProviderSummary {
  id: string;
  name: string;
  command: string;
  description: string;
  tags: string[];
  capabilities: string[];
  transport: string;
  is_available: boolean;
}

/** The shape `providers.list` answers with (one entry per manifest provider, manifest order). */
export interface ProviderInfo {
  id: string;
  lane: Lane;
  declared_lane: Lane | null;
  cost_per_million: number;
  latency_p95: number;
  reliability: number;
  capacity_score: number;
  summary: ProviderSummary;
}

export class ProviderDirectory {
  private cached: Promise<ProviderInfo[]> | undefined;

  constructor(private readonly broker: Pick<ServiceBroker, "call">) {}

  /** Every manifest provider, in manifest order. */
  list(): Promise<ProviderInfo[]> {
    if (this.cached === undefined) {
      const loading = this.broker.call<ProviderInfo[]>("providers.list");
      this.cached = loading;
      loading.catch(() => {
        if (this.cached === loading) this.cached = undefined;
      });
    }
    return this.cached;
  }

  /** Providers by id. */
  async byId(): Promise<Map<string, ProviderInfo>> {
    return new Map((await this.list()).map((p) => [p.id, p]));
  }

  /** Forget the cache (call on `providers.changed`). */
  invalidate(): void {
    this.cached = undefined;
  }
}
