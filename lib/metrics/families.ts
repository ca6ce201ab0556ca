/**
 * The metric families a node records (runtime-contract §27), as plain numbers: counters, histograms
 * and gauges read at collection time. No prom-client here: recording is a field increment on a
 * series object the caller keeps (measured: prom-client's `inc` + `observe` with labels cost about
 * 0.8 µs a request, these about 0.02 µs), so the gateway's request path and the broker's call path
 * stay as fast as without metrics. A family turns itself into prom-client's JSON form of a metric
 * (`MetricObjectWithValues`, what `Registry.getMetricsAsJSON` gives), which the scraping node merges
 * and writes as Prometheus text with prom-client (services/metrics/cluster-scrape.ts).
 *
 * Label values are the caller's business: each caller passes values from a bounded set (route
 * templates, catalog ids, listed tool names, fixed statuses), never raw request text.
 */

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
  readonly help: string;
  /** The family's samples now. */
  toJson(): MetricJson;
}

/** Label values by label name, as a series carries them. */
type Labels = Record<string, string>;

function labelsOf(names: readonly string[], values: readonly string[]): Labels {
  if (values.length !== names.length) throw new Error(`expected ${names.length} label values (${names.join(", ")}), got ${values.length}`);
  const labels: Labels = {};
  for (let i = 0; i < names.length; i++) labels[names[i]] = values[i];
  return labels;
}

/** The key of a series in its family: the label values joined by a character no label value uses. */
function keyOf(values: readonly string[]): string {
  return values.length === 1 ? values[0] : values.join("\u0001");
}

function dropSeries(series: Map<string, { labels: Labels }>, label: string, value: string): void {
  for (const [key, s] of series) if (s.labels[label] === value) series.delete(key);
}

/** Metric names and label names of the text format (Prometheus' data model). */
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function checkNames(name: string, labelNames: readonly string[]): void {
  if (!NAME.test(name)) throw new Error(`invalid metric name '${name}'`);
  for (const label of labelNames) {
    if (!LABEL.test(label) || label.startsWith("__") || label === "le" || label === "node") {
      throw new Error(`invalid or reserved label name '${label}' in '${name}'`);
    }
  }
}

/** One series of a counter: `inc` adds to it. */
export class CounterSeries {
  value = 0;
  constructor(readonly labels: Labels) {}

  /** Adds `n` (default 1, never negative). */
  inc(n = 1): void {
    if (n > 0) this.value += n;
  }
}

/** A counter: a monotonic total per combination of label values. */
export class CounterFamily implements Family {
  private readonly series = new Map<string, CounterSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[] = [],
  ) {
    checkNames(name, labelNames);
  }

  /** The series of these label values (created at 0 on first use); keep it to count without a lookup. */
  child(values: readonly string[] = []): CounterSeries {
    const key = keyOf(values);
    let s = this.series.get(key);
    if (s === undefined) {
      s = new CounterSeries(labelsOf(this.labelNames, values));
      this.series.set(key, s);
    }
    return s;
  }

  /** Adds `n` to the series of these label values. */
  inc(values: readonly string[] = [], n = 1): void {
    this.child(values).inc(n);
  }

  /** Drops every series whose label `label` is `value` (what it named is gone). */
  drop(label: string, value: string): void {
    dropSeries(this.series, label, value);
  }

  toJson(): MetricJson {
    const values: SampleJson[] = [];
    for (const s of this.series.values()) values.push({ value: s.value, labels: { ...s.labels } });
    return { name: this.name, help: this.help, type: "counter", aggregator: "sum", values };
  }
}

/** Upper bounds (seconds) of the HTTP request histograms: 1 ms to 10 s. */
export const HTTP_SECONDS_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Upper bounds (seconds) of the tool call histograms: 5 ms to 5 min (a call may take up to 10 min, §21). */
export const TOOL_SECONDS_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** One series of a histogram: `observe` counts a value into its bucket. */
export class HistogramSeries {
  /** Per bucket, not cumulative; the last slot counts what is above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Labels,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Counts one value (seconds, or whatever the family measures); a value that is not finite is ignored. */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

/** A histogram: counts per bucket, sum and count per combination of label values. */
export class HistogramFamily implements Family {
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    readonly buckets: readonly number[],
  ) {
    checkNames(name, labelNames);
    for (let i = 1; i < buckets.length; i++) if (!(buckets[i] > buckets[i - 1])) throw new Error(`buckets of '${name}' must increase`);
  }

  /** The series of these label values (created empty on first use); keep it to observe without a lookup. */
  child(values: readonly string[] = []): HistogramSeries {
    const key = keyOf(values);
    let s = this.series.get(key);
    if (s === undefined) {
      s = new HistogramSeries(labelsOf(this.labelNames, values), this.buckets);
      this.series.set(key, s);
    }
    return s;
  }

  /** Observes a value in the series of these label values. */
  observe(values: readonly string[], value: number): void {
    this.child(values).observe(value);
  }

  /** Drops every series whose label `label` is `value` (what it named is gone). */
  drop(label: string, value: string): void {
    dropSeries(this.series, label, value);
  }

  toJson(): MetricJson {
    const values: SampleJson[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cumulative += s.counts[i];
        values.push({ metricName: `${this.name}_bucket`, value: cumulative, labels: { ...s.labels, le: this.buckets[i] } });
      }
      values.push({ metricName: `${this.name}_bucket`, value: s.count, labels: { ...s.labels, le: "+Inf" } });
      values.push({ metricName: `${this.name}_sum`, value: s.sum, labels: { ...s.labels } });
      values.push({ metricName: `${this.name}_count`, value: s.count, labels: { ...s.labels } });
    }
    return { name: this.name, help: this.help, type: "histogram", aggregator: "sum", values };
  }
}

/** What a gauge reads at collection time: [label values, value] pairs (one pair per series). */
export type GaugeReader = () => Iterable<readonly [readonly string[], number]>;

/** A gauge: values read at collection time from the state they describe (nothing to keep in step). */
export class GaugeFamily implements Family {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    private read: GaugeReader,
  ) {
    checkNames(name, labelNames);
  }

  /** Replaces what the gauge reads (a service created again on the same node). */
  setReader(read: GaugeReader): void {
    this.read = read;
  }

  toJson(): MetricJson {
    const values: SampleJson[] = [];
    const seen = new Set<string>();
    for (const [labelValues, value] of this.read()) {
      // One sample per series: a reader that names a series twice would make the exposition invalid.
      const key = keyOf(labelValues);
      if (seen.has(key)) continue;
      seen.add(key);
      values.push({ value, labels: labelsOf(this.labelNames, labelValues) });
    }
    return { name: this.name, help: this.help, type: "gauge", aggregator: "sum", values };
  }
}
