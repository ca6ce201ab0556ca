/**
 * The metric families a node records (runtime-contract §27), on prom-client: counters, histograms
 * and gauges read at collection time, each registered in the node's own prom-client `Registry`
 * (./node-metrics.ts). These classes only add what the callers here need around prom-client's
 * metrics: a labelled child kept per combination of label values (prom-client makes a new bound
 * object and hashes the labels on every `labels()` call; the hot paths keep the child and call its
 * `inc`/`observe`), dropping every series of one label value (a server deleted from the catalog),
 * and a gauge whose reader may throw without spoiling the node's other families.
 *
 * A node hands its families over as prom-client's JSON form (`Registry.getMetricsAsJSON`); the
 * scraping node merges them and writes Prometheus text with prom-client
 * (services/metrics/cluster-scrape.ts).
 *
 * Label values are the caller's business: each caller passes values from a bounded set (route
 * templates, catalog ids, listed tool names, fixed statuses), never raw request text.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** One sample of a family in prom-client's JSON form (`metricName` set for a histogram's `_bucket`/`_sum`/`_count`). */
export interface SampleJson {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/**
 * A family in prom-client's JSON form (`Registry.getMetricsAsJSON`, what `AggregatorRegistry.aggregate`
 * takes): what a node sends to the scraping gateway.
 */
export interface MetricJson {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  /** How prom-client's aggregate merges equal series of several nodes (they never meet here: each carries its `node`). */
  aggregator: "sum";
  values: SampleJson[];
}

/** Anything a node collects: a family of this module. */
export interface Family {
  readonly name: string;
}

/** The key of a series in its family: the label values joined by a character no label value uses. */
function keyOf(values: readonly string[]): string {
  return values.length === 1 ? values[0] : values.join("\u0001");
}

/** Label names a family may not use: `node` is added to every sample by the scraping node. */
function checkLabelNames(name: string, labelNames: readonly string[]): void {
  if (labelNames.includes("node")) throw new Error(`reserved label name 'node' in '${name}'`);
}

function checkArity(name: string, labelNames: readonly string[], values: readonly string[]): void {
  if (values.length !== labelNames.length) {
    throw new Error(`${name}: expected ${labelNames.length} label values (${labelNames.join(", ")}), got ${values.length}`);
  }
}

/** One series of a counter (a prom-client labelled child): `inc` adds to it. */
export interface CounterSeries {
  /** Adds `n` (default 1; prom-client refuses a negative one). */
  inc(n?: number): void;
}

/** One series of a histogram (a prom-client labelled child): `observe` counts a value into its bucket. */
export interface HistogramSeries {
  observe(value: number): void;
}

/** The children of a labelled prom-client metric, kept by label values, and dropped by one label's value. */
class Children<T> {
  private readonly byKey = new Map<string, { values: readonly string[]; child: T }>();

  constructor(
    private readonly name: string,
    private readonly labelNames: readonly string[],
    private readonly make: (values: string[]) => T,
    private readonly remove: (values: string[]) => void,
  ) {}

  get(values: readonly string[]): T {
    const key = keyOf(values);
    const found = this.byKey.get(key);
    if (found !== undefined) return found.child;
    checkArity(this.name, this.labelNames, values);
    const child = this.make([...values]);
    this.byKey.set(key, { values: [...values], child });
    return child;
  }

  drop(label: string, value: string): void {
    const at = this.labelNames.indexOf(label);
    if (at < 0) return;
    for (const [key, entry] of this.byKey) {
      if (entry.values[at] !== value) continue;
      this.byKey.delete(key);
      this.remove([...entry.values]);
    }
  }
}

/** A counter (prom-client `Counter`): a monotonic total per combination of label values. */
export class CounterFamily implements Family {
  private readonly children: Children<CounterSeries>;

  constructor(
    registry: Registry,
    readonly name: string,
    help: string,
    readonly labelNames: readonly string[] = [],
  ) {
    checkLabelNames(name, labelNames);
    const metric = new Counter({ name, help, labelNames: [...labelNames], registers: [registry] });
    this.children = new Children(
      name,
      labelNames,
      (values) => (values.length === 0 ? metric : metric.labels(...values)),
      (values) => metric.remove(...values),
    );
  }

  /** The series of these label values (created at 0 on first use); keep it to count without a lookup. */
  child(values: readonly string[] = []): CounterSeries {
    return this.children.get(values);
  }

  /** Adds `n` (default 1; nothing for 0 or less) to the series of these label values. */
  inc(values: readonly string[] = [], n = 1): void {
    const series = this.child(values);
    if (n > 0) series.inc(n);
  }

  /** Drops every series whose label `label` is `value` (what it named is gone). */
  drop(label: string, value: string): void {
    this.children.drop(label, value);
  }
}

/** Upper bounds (seconds) of the HTTP request histograms: 0.25 ms to 10 s (an in-memory read answers in well under 1 ms). */
export const HTTP_SECONDS_BUCKETS: readonly number[] = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Upper bounds (seconds) of the tool call histograms: 5 ms to 5 min (a call may take up to 10 min, §21). */
export const TOOL_SECONDS_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** A histogram (prom-client `Histogram`): counts per bucket, sum and count per combination of label values. */
export class HistogramFamily implements Family {
  private readonly children: Children<HistogramSeries>;

  constructor(
    registry: Registry,
    readonly name: string,
    help: string,
    readonly labelNames: readonly string[],
    readonly buckets: readonly number[],
  ) {
    checkLabelNames(name, labelNames);
    const metric = new Histogram({ name, help, labelNames: [...labelNames], buckets: [...buckets], registers: [registry] });
    this.children = new Children(
      name,
      labelNames,
      (values) => (values.length === 0 ? metric : metric.labels(...values)),
      (values) => metric.remove(...values),
    );
  }

  /** The series of these label values (created empty on first use); keep it to observe without a lookup. */
  child(values: readonly string[] = []): HistogramSeries {
    return this.children.get(values);
  }

  /** Observes a value (seconds, or whatever the family measures) in the series of these label values; a value that is not finite is ignored. */
  observe(values: readonly string[], value: number): void {
    if (Number.isFinite(value)) this.child(values).observe(value);
  }

  /** Drops every series whose label `label` is `value` (what it named is gone). */
  drop(label: string, value: string): void {
    this.children.drop(label, value);
  }
}

/** What a gauge reads at collection time: [label values, value] pairs (one pair per series). */
export type GaugeReader = () => Iterable<readonly [readonly string[], number]>;

/**
 * A gauge (prom-client `Gauge` with a `collect` callback): its values are read at collection time
 * from the state they describe (nothing to keep in step). Each collection starts from no series, so a
 * series the reader no longer names is gone. A reader that throws leaves the gauge empty for that
 * collection and reports its name through `onFailure`; the node's other families are still collected.
 */
export class GaugeFamily implements Family {
  constructor(
    registry: Registry,
    readonly name: string,
    help: string,
    readonly labelNames: readonly string[],
    private read: GaugeReader,
    onFailure: (name: string) => void,
  ) {
    checkLabelNames(name, labelNames);
    const family = this;
    new Gauge({
      name,
      help,
      labelNames: [...labelNames],
      registers: [registry],
      collect(this: Gauge<string>) {
        this.reset();
        let pairs: (readonly [readonly string[], number])[];
        try {
          pairs = [...family.read()];
        } catch {
          onFailure(name);
          return;
        }
        for (const [values, value] of pairs) {
          checkArity(name, labelNames, values);
          if (values.length === 0) this.set(value);
          else this.labels(...values).set(value);
        }
      },
    });
  }

  /** Replaces what the gauge reads (a service created again on the same node). */
  setReader(read: GaugeReader): void {
    this.read = read;
  }
}
