/**
 * GET /metrics of a gateway (runtime-contract §27): every node's families, gathered over the broker
 * and written as one Prometheus text exposition with prom-client.
 *
 * Each node keeps its own families (lib/metrics/node-metrics.ts) and answers `metrics.local` with
 * them as prom-client JSON. The scraping node asks every live node that runs the metrics service at
 * once, each with a short timeout; a node that does not answer in time (stalled, gone, an older
 * version) is left out of this scrape and counted — never a hang or a 500. Every sample gets a
 * `node` label (the broker's node id), then prom-client's `AggregatorRegistry.aggregate` merges the
 * nodes' families by name and its registry writes the text. Since no two nodes share a `node`
 * value, nothing is summed: a counter of a node that leaves disappears with its series instead of
 * making the cluster's total fall (which Prometheus would take for a counter reset), and per-node
 * gauges (processes, event stream clients, store pools) keep their meaning. `sum without (node)`
 * gives the cluster's figure. The label is bounded by the live nodes of the cluster.
 */
import type { ServiceBroker } from "moleculer";
import { AggregatorRegistry, Registry } from "prom-client";
import type { MetricJson, SampleJson } from "../../lib/metrics/families";

/** How long a scrape waits for one node's families. */
export const NODE_ANSWER_TIMEOUT_MS = 1000;

/** The content type of the text format prom-client writes (version 0.0.4). */
export const PROMETHEUS_CONTENT_TYPE: string = Registry.PROMETHEUS_CONTENT_TYPE;

/** A node's answer to `metrics.local`. */
export interface NodeFamilies {
  node: string;
  families: MetricJson[];
}

/** What one scrape gathered: the text and the nodes that answered or were left out. */
export interface ClusterScrape {
  text: string;
  answered: string[];
  skipped: string[];
}

/** Ids of the live nodes that run the metrics service (this node included), sorted. */
export function metricsNodes(broker: ServiceBroker): string[] {
  const services = broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true }) as { name: string; nodeID: string }[];
  return [...new Set(services.filter((s) => s.name === "metrics").map((s) => s.nodeID))].sort();
}

const TYPES = new Set(["counter", "gauge", "histogram"]);
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** True for a family in the JSON form this module writes (an answer of another version may not be). */
function isFamily(f: unknown): f is MetricJson {
  if (typeof f !== "object" || f === null) return false;
  const m = f as Partial<MetricJson>;
  return typeof m.name === "string" && NAME.test(m.name) && typeof m.help === "string" && TYPES.has(m.type as string) && Array.isArray(m.values);
}

function isSample(v: unknown): v is SampleJson {
  if (typeof v !== "object" || v === null) return false;
  const s = v as Partial<SampleJson>;
  return (
    typeof s.value === "number" &&
    typeof s.labels === "object" &&
    s.labels !== null &&
    (s.metricName === undefined || typeof s.metricName === "string")
  );
}

/** A node's families with its `node` label on every sample; what does not have the expected shape is dropped. */
function labelled(answer: NodeFamilies): MetricJson[] {
  const out: MetricJson[] = [];
  for (const family of answer.families) {
    if (!isFamily(family)) continue;
    const values: SampleJson[] = [];
    for (const v of family.values) {
      if (isSample(v)) values.push({ ...v, labels: { ...v.labels, node: answer.node } });
    }
    out.push({ name: family.name, help: family.help, type: family.type, aggregator: "sum", values });
  }
  return out;
}

/**
 * Merges the nodes' families into one Prometheus text exposition (prom-client): every sample
 * labelled with its node. `extra` families (the scrape's own) are added as they are.
 */
export async function mergeNodes(answers: readonly NodeFamilies[], extra: readonly MetricJson[] = []): Promise<string> {
  const perNode = answers.map(labelled);
  if (extra.length > 0) perNode.push([...extra]);
  return AggregatorRegistry.aggregate(perNode).metrics();
}

/** Asks one node for its families; null when it does not answer in `timeoutMs` or answers with an error. */
async function askNode(broker: ServiceBroker, nodeID: string, timeoutMs: number): Promise<NodeFamilies | null> {
  try {
    const answer = (await broker.call("metrics.local", {}, { nodeID, timeout: timeoutMs, retries: 0 })) as Partial<NodeFamilies>;
    if (answer === null || typeof answer !== "object" || !Array.isArray(answer.families)) return null;
    return { node: nodeID, families: answer.families };
  } catch {
    return null;
  }
}

/**
 * Scrapes the cluster: asks every metrics node at once (each within `timeoutMs`), merges what came
 * back and adds `console_mcp_scrape_nodes{result="answered"|"skipped"}` (this scrape's count, labelled
 * with the scraping node). Never rejects for a node that fails.
 */
export async function scrapeCluster(broker: ServiceBroker, timeoutMs = NODE_ANSWER_TIMEOUT_MS): Promise<ClusterScrape> {
  const nodes = metricsNodes(broker);
  const answers = await Promise.all(nodes.map((nodeID) => askNode(broker, nodeID, timeoutMs)));
  const answered: NodeFamilies[] = [];
  const skipped: string[] = [];
  answers.forEach((answer, i) => {
    if (answer === null) skipped.push(nodes[i]);
    else answered.push(answer);
  });
  const scrapeNodes: MetricJson = {
    name: "console_mcp_scrape_nodes",
    help: "Nodes this scrape asked for their metrics, by result (skipped: no answer within the timeout)",
    type: "gauge",
    aggregator: "sum",
    values: [
      { value: answered.length, labels: { result: "answered", node: broker.nodeID } },
      { value: skipped.length, labels: { result: "skipped", node: broker.nodeID } },
    ],
  };
  const text = await mergeNodes(answered, [scrapeNodes]);
  return { text, answered: answered.map((a) => a.node), skipped };
}
