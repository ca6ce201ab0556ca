/**
 * Mergeable latency sketches for the rollups (issue 8, §10.2): one DDSketch
 * (@datadog/sketches-js, logarithmic mapping, relative accuracy 1%) of the `duration_ms` of the runs
 * of every rollup row, so the p95/p99 of any window come from merging the sketches of its buckets
 * instead of sorting its runs.
 *
 * **Accuracy.** DDSketch puts a value v > 0 in the bin k = ⌈log_γ v⌉, γ = (1 + α)/(1 − α), and answers
 * a bin with 2γ^k/(1 + γ), which is within α = 1% of every value of the bin; zeros are counted apart
 * and answered exactly. The order statistic of rank r (0-based, ascending) lies in the bin where
 * the cumulative count first exceeds r, so `valueAtRank` is within 1% of the exact r-th value. The
 * §10.2 percentile interpolates between the ranks ⌊(n − 1)p⌋ and ⌈(n − 1)p⌉ with weights that add
 * to 1, so it is within 1% of the exact percentile as well, whatever the distribution (bimodal,
 * heavy tails, all equal, zeros): the bound holds per value, not on average. (Floating-point
 * rounding of the logarithm can add a relative error of the order of 10^-15 on top.)
 *
 * **Stored form.** The library's own serialisation (`toProto`) needs protobufjs, which it does not
 * declare and this project does not have, and writes every bin between the smallest and the largest
 * as an 8-byte double. The rollups store a compact form instead (a few bytes per non-empty bin, so
 * a minute's sketch is a few dozen bytes), decoded straight into the sketch being merged:
 *   byte 1 (the format, `SKETCH_FORMAT`), then unsigned LEB128 varints: the count of zeros, the
 *   number of non-empty bins, then per bin in ascending key order the key (zigzag-encoded for the
 *   first, the gap to the previous key after) and its count.
 * Bins hold counts of runs (integers), and the mapping is fixed by the format byte.
 *
 * The write path (a batch's rollup rows, the rebuild) keeps a row's bins in `SketchBins`, a map from
 * the library's bin key to a count, which costs far less per row than a DDSketch with its dense
 * store; reads merge the stored forms into one DDSketch and ask it for ranks.
 */
import { DDSketch } from "@datadog/sketches-js";
import { interpolate, percentilePosition } from "../percentile";

/** The relative accuracy of every latency sketch: 1% (§10.2). */
export const SKETCH_RELATIVE_ACCURACY = 0.01;
/** Windows with at most this many runs get exact percentiles from the raw rows (§10.2). */
export const EXACT_PERCENTILE_MAX_RUNS = 10_000;
/** The first byte of a stored sketch: this encoding, logarithmic mapping at 1%. */
export const SKETCH_FORMAT = 1;

export type LatencySketch = DDSketch;

/** An empty latency sketch. */
export function newSketch(): LatencySketch {
  return new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY });
}

/** The library's value → bin mapping at 1% (the one every sketch of this format uses). */
const MAPPING = newSketch().mapping;

/** The bins of one sketch as a map (the write path; see the module comment). */
export class SketchBins {
  zeroCount = 0;
  readonly bins = new Map<number, number>();

  /** Adds a value (≥ 0), binned as DDSketch.accept bins it. */
  add(value: number): void {
    if (value > MAPPING.minPossible) {
      const key = MAPPING.key(value);
      this.bins.set(key, (this.bins.get(key) ?? 0) + 1);
    } else {
      this.zeroCount += 1;
    }
  }

  /** Adds a stored sketch. */
  addEncoded(bytes: Uint8Array): void {
    this.zeroCount += decodeInto(bytes, (key, count) => this.bins.set(key, (this.bins.get(key) ?? 0) + count));
  }

  /** The stored form; equal to encodeSketch of a DDSketch of the same values. */
  encode(): Buffer {
    return encodeBins(
      this.zeroCount,
      [...this.bins.entries()].filter(([, c]) => c > 0).sort((a, b) => a[0] - b[0]),
    );
  }
}

/** A sketch of the given durations. */
export function sketchOf(durations: Iterable<number>): LatencySketch {
  const sketch = newSketch();
  for (const d of durations) sketch.accept(d);
  return sketch;
}

function pushVarint(out: number[], value: number): void {
  // Counts and keys are far below 2^53; divisions keep it exact beyond 2^31.
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

const zigzag = (n: number): number => (n >= 0 ? 2 * n : -2 * n - 1);
const unzigzag = (n: number): number => (n % 2 === 0 ? n / 2 : -(n + 1) / 2);

/** The stored form of a sketch (see the module comment). Equal sketches give equal bytes. */
export function encodeSketch(sketch: LatencySketch): Buffer {
  const store = sketch.store;
  const bins: [number, number][] = [];
  if (store.count > 0) {
    for (let key = store.minKey; key <= store.maxKey; key++) {
      const count = store.bins[key - store.offset];
      if (count > 0) bins.push([key, count]);
    }
  }
  return encodeBins(sketch.zeroCount, bins);
}

/** The stored form of a zero count and non-empty bins in ascending key order. */
function encodeBins(zeroCount: number, bins: readonly [number, number][]): Buffer {
  const out: number[] = [SKETCH_FORMAT];
  pushVarint(out, zeroCount);
  pushVarint(out, bins.length);
  let previous = 0;
  bins.forEach(([key, count], i) => {
    pushVarint(out, i === 0 ? zigzag(key) : key - previous);
    pushVarint(out, count);
    previous = key;
  });
  return Buffer.from(out);
}

/**
 * Decodes a stored sketch: calls bin(key, count) for each bin in ascending key order and returns the
 * count of zeros. Throws on bytes that are not a stored sketch of this format.
 */
function decodeInto(bytes: Uint8Array, bin: (key: number, count: number) => void): number {
  let at = 0;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (at >= bytes.length) throw new Error("truncated latency sketch");
      const b = bytes[at++];
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 0x80;
    }
  };
  if (bytes[at++] !== SKETCH_FORMAT) throw new Error(`unknown latency sketch format ${bytes[0]}`);
  const zeros = varint();
  const binCount = varint();
  let key = 0;
  for (let i = 0; i < binCount; i++) {
    key = i === 0 ? unzigzag(varint()) : key + varint();
    bin(key, varint());
  }
  if (at !== bytes.length) throw new Error("trailing bytes in latency sketch");
  return zeros;
}

/**
 * Adds a stored sketch into `into` (a merge, bin by bin). Throws on bytes that are not a stored
 * sketch of this format.
 */
export function mergeEncoded(into: LatencySketch, bytes: Uint8Array): void {
  const keys: number[] = [];
  const counts: number[] = [];
  const zeros = decodeInto(bytes, (key, count) => {
    keys.push(key);
    counts.push(count);
  });
  const last = keys.length - 1;
  // The extremes first: the dense store grows (and re-centres) at most twice per sketch.
  if (last >= 0) into.store.add(keys[last], counts[last]);
  for (let i = 0; i < last; i++) into.store.add(keys[i], counts[i]);
  let added = zeros;
  for (const c of counts) added += c;
  into.zeroCount += zeros;
  into.count += added;
}

/**
 * Merges many stored sketches fast (a window's buckets): their bins are added into one dense array
 * of counts indexed by key, and `toSketch` hands the sum to a DDSketch once. Equivalent to
 * mergeEncoded of each into one sketch, without the dense store's range checks per bin.
 */
export class SketchMerger {
  private zeroCount = 0;
  private counts = new Float64Array(0);
  /** The key of counts[0]. */
  private offset = 0;

  /** Adds a stored sketch. */
  add(bytes: Uint8Array): void {
    this.zeroCount += decodeInto(bytes, (key, count) => {
      let index = key - this.offset;
      if (index < 0 || index >= this.counts.length) index = this.grow(key);
      this.counts[index] += count;
    });
  }

  /** Makes room for `key` (with slack on both sides); returns its index. */
  private grow(key: number): number {
    const used = this.counts.length > 0;
    const low = used ? Math.min(this.offset, key) : key;
    const high = used ? Math.max(this.offset + this.counts.length - 1, key) : key;
    const slack = Math.max(64, high - low + 1);
    const next = new Float64Array(high - low + 1 + 2 * slack);
    const nextOffset = low - slack;
    if (used) next.set(this.counts, this.offset - nextOffset);
    this.counts = next;
    this.offset = nextOffset;
    return key - nextOffset;
  }

  /** The merged sketch. */
  toSketch(): LatencySketch {
    const sketch = newSketch();
    let added = this.zeroCount;
    let first = -1;
    let last = -1;
    for (let i = 0; i < this.counts.length; i++) {
      if (this.counts[i] > 0) {
        if (first < 0) first = i;
        last = i;
      }
    }
    if (last >= 0) {
      // The extremes first: the dense store sizes itself once.
      sketch.store.add(last + this.offset, this.counts[last]);
      for (let i = first; i < last; i++) if (this.counts[i] > 0) sketch.store.add(i + this.offset, this.counts[i]);
      for (let i = first; i <= last; i++) added += this.counts[i];
    }
    sketch.zeroCount += this.zeroCount;
    sketch.count += added;
    return sketch;
  }
}

/** A stored sketch as a sketch. */
export function decodeSketch(bytes: Uint8Array): LatencySketch {
  const sketch = newSketch();
  mergeEncoded(sketch, bytes);
  return sketch;
}

/** The value of the order statistic of rank `rank` (0-based, ascending), within 1% of the exact one. */
export function valueAtRank(sketch: LatencySketch, rank: number): number {
  if (!Number.isInteger(rank) || rank < 0 || rank >= sketch.count) throw new RangeError(`rank ${rank} of ${sketch.count} values`);
  if (rank < sketch.zeroCount) return 0;
  return sketch.mapping.value(sketch.store.keyAtRank(rank - sketch.zeroCount));
}

/**
 * The §10.2 percentile p (linear interpolation between the values at ⌊(n − 1)p⌋ and ⌈(n − 1)p⌉)
 * of the sketched values, each of the two taken from the sketch: within 1% of the exact percentile.
 */
export function sketchPercentile(sketch: LatencySketch, p: number): number {
  const at = percentilePosition(sketch.count, p);
  const lowerValue = valueAtRank(sketch, at.lower);
  return interpolate(at, lowerValue, at.upper === at.lower ? lowerValue : valueAtRank(sketch, at.upper));
}
