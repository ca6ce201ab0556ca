/**
 * The metric families of one node (one broker), runtime-contract §27. Each part of the node that
 * measures something — the gateway's request meter, the broker call counter, the runtime, the
 * telemetry ingestion, the store — gets or creates its families here by name, and records into them
 * (./families.ts: prom-client metrics in this node's own prom-client Registry). The node's `metrics.local` action hands them all over
 * as JSON (services/metrics.service.ts); a gateway's GET /metrics merges every node's.
 *
 * One NodeMetrics per broker, not per process: tests run several brokers (nodes) in one process.
 */
import type { ServiceBroker } from "moleculer";
import { Registry } from "prom-client";
import { CounterFamily, Family, GaugeFamily, GaugeReader, HistogramFamily, MetricJson } from "./families";

export class NodeMetrics {
  /** The node's prom-client registry: every family of this node, and nothing else (no global registry). */
  readonly registry = new Registry();
  private readonly families = new Map<string, Family>();
  /** Families whose collection threw at the last collect(): their names (for the log, and tests). */
  failed: string[] = [];
  private failing: string[] = [];

  /** The counter named `name`, created on first use; throws when the name is another kind of family. */
  counter(name: string, help: string, labelNames: readonly string[] = []): CounterFamily {
    return this.getOrCreate(name, CounterFamily, () => new CounterFamily(this.registry, name, help, labelNames));
  }

  /** The histogram named `name`, created on first use with these bounds. */
  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): HistogramFamily {
    return this.getOrCreate(name, HistogramFamily, () => new HistogramFamily(this.registry, name, help, labelNames, buckets));
  }

  /**
   * The gauge named `name`, read at collection time by `read`; a second call replaces the reader (a
   * service created again on this node reads its new state).
   */
  gauge(name: string, help: string, labelNames: readonly string[], read: GaugeReader): GaugeFamily {
    const gauge = this.getOrCreate(
      name,
      GaugeFamily,
      () => new GaugeFamily(this.registry, name, help, labelNames, read, (failed) => this.failing.push(failed)),
    );
    gauge.setReader(read);
    return gauge;
  }

  /**
   * Every family's samples now, in prom-client's JSON form, in the order the families were first
   * asked for. A gauge whose reader throws is left empty (its name in `failed`); the others are
   * still collected.
   */
  async collect(): Promise<MetricJson[]> {
    this.failing = [];
    const out = (await this.registry.getMetricsAsJSON()) as unknown as MetricJson[];
    this.failed = this.failing;
    // Only what the scraping node reads crosses the broker (no exemplars: none are recorded).
    return out
      .filter((family) => !this.failed.includes(family.name))
      .map(({ name, help, type, aggregator, values }) => ({
        name,
        help,
        type,
        aggregator,
        values: values.map(({ value, labels, metricName }) => (metricName === undefined ? { value, labels } : { value, labels, metricName })),
      }));
  }

  private getOrCreate<T extends Family>(name: string, kind: abstract new (...args: never[]) => T, create: () => T): T {
    const existing = this.families.get(name);
    if (existing !== undefined) {
      if (!(existing instanceof kind)) throw new Error(`metric '${name}' is already a ${existing.constructor.name}`);
      return existing;
    }
    const family = create();
    this.families.set(name, family);
    return family;
  }
}

const byBroker = new WeakMap<ServiceBroker, NodeMetrics>();

/** The metric families of this broker's node (created on first use). */
export function nodeMetrics(broker: ServiceBroker): NodeMetrics {
  let metrics = byBroker.get(broker);
  if (metrics === undefined) {
    metrics = new NodeMetrics();
    byBroker.set(broker, metrics);
  }
  return metrics;
}
