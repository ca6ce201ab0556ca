/**
 * telemetry: owns the runs table. Ingestion (§11) and the dashboard reads (§10).
 * Domain logic lives in ./telemetry/ (ingest.ts: validation and normalisation; queries.ts: SQL).
 */
import type { Context } from "moleculer";
import type { Config } from "../lib/config";
import { ProviderDirectory } from "../lib/provider-directory";
import { StoreMixin, StoreServiceSchema } from "../lib/store/mixin";

interface TelemetryVars {
  providers: ProviderDirectory;
}

export default function telemetryService(config: Pick<Config, "store">): StoreServiceSchema & { created?: unknown } {
  const schema = {
    name: "telemetry",
    mixins: [StoreMixin(config.store)],

    events: {
      "providers.changed"(this: TelemetryVars) {
        this.providers.invalidate();
      },
    },

    actions: {
      // INGEST-ACTIONS (owned by the ingestion work): ingest
      // READ-ACTIONS (owned by the read-query work): metrics, heatmap, timeseries, pareto, runs
    },

    created(this: TelemetryVars & { broker: Context["broker"] }) {
      this.providers = new ProviderDirectory(this.broker);
    },
  };
  return schema as unknown as StoreServiceSchema;
}
