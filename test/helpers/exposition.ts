/**
 * Reads a Prometheus text exposition (GET /metrics) with a real parser of the format, the npm package
 * parse-prometheus-text-format (a port of the Prometheus Python client's parser; it throws on a line
 * the format does not allow), into samples that tests can look up by name and labels.
 *
 * The package keeps counters and gauges per label set, but folds every series of a labelled
 * histogram into one (and drops `_sum`/`_count` of labelled series), so each histogram series is
 * parsed again on its own (its header and its `_bucket` lines): its count is its `+Inf` bucket.
 */
// The package ships no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const parsePrometheusTextFormat = require("parse-prometheus-text-format") as (text: string) => ParsedFamily[];

interface ParsedFamily {
  name: string;
  help: string;
  type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string> }[];
}

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export interface HistogramSample {
  labels: Record<string, string>;
  /** Cumulative counts by upper bound (`+Inf` included). */
  buckets: Record<string, number>;
  count: number;
}

export interface Exposition {
  /** Every family with its type (lower case) and help. */
  families: Map<string, { type: string; help: string }>;
  /** Counter and gauge samples by family name. */
  samples: Map<string, Sample[]>;
  /** Histogram series by family name. */
  histograms: Map<string, HistogramSample[]>;
}

/** The label set of a sample line without `le` (a histogram series' key); null for a line that is not a sample. */
function seriesKeyOf(line: string, family: string): string | null {
  if (!line.startsWith(`${family}_bucket{`)) return null;
  const labels = line.slice(line.indexOf("{") + 1, line.lastIndexOf("}"));
  return labels.replace(/(^|,)le="[^"]*"/, "");
}

/** Parses the exposition (throws on anything the format does not allow). */
export function parseExposition(text: string): Exposition {
  const parsed = parsePrometheusTextFormat(text);
  const families = new Map<string, { type: string; help: string }>();
  const samples = new Map<string, Sample[]>();
  const histograms = new Map<string, HistogramSample[]>();
  const lines = text.split("\n");
  for (const family of parsed) {
    families.set(family.name, { type: family.type.toLowerCase(), help: family.help });
    if (family.type !== "HISTOGRAM") {
      samples.set(
        family.name,
        family.metrics.map((m) => ({ labels: m.labels ?? {}, value: Number(m.value) })),
      );
      continue;
    }
    const header = lines.filter((l) => l.startsWith(`# HELP ${family.name} `) || l === `# TYPE ${family.name} histogram`);
    const bySeries = new Map<string, string[]>();
    for (const line of lines) {
      const key = seriesKeyOf(line, family.name);
      if (key === null) continue;
      bySeries.set(key, [...(bySeries.get(key) ?? []), line]);
    }
    const series: HistogramSample[] = [];
    for (const bucketLines of bySeries.values()) {
      const [one] = parsePrometheusTextFormat([...header, ...bucketLines].join("\n") + "\n");
      const buckets = Object.fromEntries(Object.entries(one.metrics[0]?.buckets ?? {}).map(([le, v]) => [le, Number(v)]));
      // The labels of the series: those of its first bucket line (read by the parser), without `le`.
      const first = bucketLines[0];
      const labels = parsePrometheusTextFormat(`x${first.slice(first.indexOf("{"), first.lastIndexOf("}") + 1)} 0\n`)[0].metrics[0].labels ?? {};
      delete labels.le;
      series.push({ labels, buckets, count: buckets["+Inf"] ?? 0 });
    }
    histograms.set(family.name, series);
  }
  return { families, samples, histograms };
}

function matches(labels: Record<string, string>, want: Record<string, string>): boolean {
  return Object.entries(want).every(([k, v]) => labels[k] === v);
}

/** The sum of the counter or gauge samples of `name` whose labels include `want` (0 when none). */
export function sampleValue(exposition: Exposition, name: string, want: Record<string, string> = {}): number {
  return (exposition.samples.get(name) ?? []).filter((s) => matches(s.labels, want)).reduce((sum, s) => sum + s.value, 0);
}

/** The summed count of the histogram series of `name` whose labels include `want` (0 when none). */
export function histogramCount(exposition: Exposition, name: string, want: Record<string, string> = {}): number {
  return (exposition.histograms.get(name) ?? []).filter((s) => matches(s.labels, want)).reduce((sum, s) => sum + s.count, 0);
}

/** Every series of the exposition as `name{label="value",…}` (labels sorted): to compare the sets of two scrapes. */
export function seriesKeys(exposition: Exposition): Set<string> {
  const keys = new Set<string>();
  const key = (name: string, labels: Record<string, string>) =>
    `${name}{${Object.keys(labels)
      .sort()
      .map((k) => `${k}="${labels[k]}"`)
      .join(",")}}`;
  for (const [name, list] of exposition.samples) for (const s of list) keys.add(key(name, s.labels));
  for (const [name, list] of exposition.histograms) for (const s of list) keys.add(key(name, s.labels));
  return keys;
}
