/**
 * providers: owns the provider manifest. Loads and validates it at start (a bad manifest stops the
 * service), watches the file and reloads it on change (emitting `providers.changed`), and is the
 * one place that knows a provider's lane and baselines.
 */
import fs from "node:fs";
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { Config } from "../lib/config";
import { notFound } from "../lib/errors";
import { loadManifest, Manifest, toProfile, toServerEntry, toSummary } from "./providers/manifest";

export const MANIFEST_POLL_INTERVAL_MS = 1000;

interface ProvidersVars {
  manifest: Manifest;
  firstLoadedAtMs: number;
}
interface ProvidersMethods {
  reloadManifest(): void;
}

export default function providersService(config: Pick<Config, "serversPath">): ServiceSchema<ServiceSettingSchema, ProvidersMethods, ProvidersVars> {
  let onFileChange: ((curr: fs.Stats, prev: fs.Stats) => void) | undefined;
  return {
    name: "providers",

    actions: {
      /** Every provider with its lane and baselines, in manifest order (for other services). */
      list: {
        handler() {
          return this.manifest.providers.map(toProfile);
        },
      },

      /** One provider's profile; 404 when it is not in the manifest. */
      get: {
        params: { id: "string" },
        handler(ctx: Context<{ id: string }>) {
          const found = this.manifest.providers.find((p) => p.id === ctx.params.id);
          if (found === undefined) throw notFound(`Provider '${ctx.params.id}' not found`);
          return toProfile(found);
        },
      },

      /** GET /providers */
      catalog: {
        handler() {
          return { providers: this.manifest.providers.map(toSummary) };
        },
      },

      /** GET /servers */
      servers: {
        handler() {
          return {
            servers: this.manifest.providers.map((p) => toServerEntry(p, this.firstLoadedAtMs)),
          };
        },
      },

      /** GET /secrets: this version stores no secrets. */
      secrets: {
        handler() {
          return { secrets: [] };
        },
      },
    },

    methods: {
      reloadManifest() {
        try {
          this.manifest = loadManifest(config.serversPath);
        } catch (err) {
          this.logger.error(`Manifest change ignored, keeping the previous one: ${(err as Error).message}`);
          return;
        }
        this.logger.info(`Manifest reloaded: ${this.manifest.providers.length} providers`);
        void this.broker.broadcast("providers.changed", { ids: this.manifest.providers.map((p) => p.id) });
      },
    },

    created() {
      this.manifest = loadManifest(config.serversPath);
      this.firstLoadedAtMs = this.manifest.loadedAtMs;
    },

    started() {
      onFileChange = (curr, prev) => {
        if (curr.mtimeMs !== prev.mtimeMs || curr.size !== prev.size) this.reloadManifest();
      };
      fs.watchFile(config.serversPath, { interval: MANIFEST_POLL_INTERVAL_MS, persistent: false }, onFileChange);
    },

    stopped() {
      if (onFileChange !== undefined) fs.unwatchFile(config.serversPath, onFileChange);
      onFileChange = undefined;
    },
  };
}
