/**
 * metrics: every node runs it (lib/server.ts adds it whatever SERVICES says), so a gateway can ask
 * each node of the cluster for its metric families (runtime-contract §27).
 *
 * - `metrics.local` (node-targeted, never routed over HTTP): this node's families as prom-client
 *   JSON (lib/metrics/node-metrics.ts).
 * - `metrics.scrape` (GET /metrics, role viewer): the whole cluster's families as Prometheus text
 *   (services/metrics/cluster-scrape.ts). The gateway's own node answers it (the balancer prefers the
 *   local endpoint, and every node has one).
 */
import type { Context, ServiceBroker, ServiceSchema } from "moleculer";
import type { Config } from "../lib/config";
import { ContractError } from "../lib/errors";
import { nodeMetrics } from "../lib/metrics/node-metrics";
import { NodeFamilies, PROMETHEUS_CONTENT_TYPE, scrapeCluster } from "./metrics/cluster-scrape";

/** The scraping node's count of nodes left out of its scrapes (no answer within the timeout). */
export const SCRAPE_SKIPPED = "console_mcp_scrape_skipped_nodes_total";

/** The metrics service of a node; `config.metrics.enabled` false makes `metrics.scrape` a 404 (CONSOLE_MCP_METRICS=off). */
export default function metricsService(config: Pick<Config, "metrics">): ServiceSchema {
  return {
    name: "metrics",

    actions: {
      /** This node's families: `{node, families}` (prom-client JSON, see lib/metrics/families.ts). */
      local: {
        visibility: "public",
        async handler(this: { broker: ServiceBroker }): Promise<NodeFamilies> {
          return { node: this.broker.nodeID, families: await nodeMetrics(this.broker).collect() };
        },
      },

      /**
       * GET /metrics (§27): the Prometheus text (version 0.0.4) of every node that answered within
       * its timeout, each sample labelled with its `node`; a node that did not is left out and
       * counted (`console_mcp_scrape_nodes{result="skipped"}` in this answer,
       * `console_mcp_scrape_skipped_nodes_total` on this node). 404 when CONSOLE_MCP_METRICS=off.
       */
      scrape: {
        async handler(this: { broker: ServiceBroker }, ctx: Context<unknown, Record<string, unknown>>): Promise<string> {
          if (!config.metrics.enabled) throw new ContractError(404, "Metrics are off on this node (CONSOLE_MCP_METRICS=off)");
          const scrape = await scrapeCluster(this.broker);
          if (scrape.skipped.length > 0) {
            nodeMetrics(this.broker)
              .counter(SCRAPE_SKIPPED, "Nodes this node's scrapes left out (no answer within the timeout)")
              .inc([], scrape.skipped.length);
          }
          ctx.meta.$responseType = PROMETHEUS_CONTENT_TYPE;
          return scrape.text;
        },
      },
    },

    created(this: { broker: ServiceBroker }) {
      // Present from the start (at 0), so a rise is visible.
      nodeMetrics(this.broker).counter(SCRAPE_SKIPPED, "Nodes this node's scrapes left out (no answer within the timeout)").child();
    },
  };
}
