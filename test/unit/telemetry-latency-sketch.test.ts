/**
 * The latency sketches of the rollups (services/telemetry/store/latency-sketch.ts): the stored form
 * round-trips and merges like the sketch of the union, and percentiles from a sketch are within 1%
 * of the exact §10.2 percentile on random and adversarial distributions.
 */
import { seededRandom } from "../../lib/prng";
import {
  SketchBins,
  SketchMerger,
  decodeSketch,
  encodeSketch,
  mergeEncoded,
  newSketch,
  sketchOf,
  sketchPercentile,
  valueAtRank,
} from "../../services/telemetry/store/latency-sketch";
import { percentile } from "../../services/telemetry/percentile";

const M = Number.MAX_SAFE_INTEGER;
/** 1% of the exact value, plus room for the last bits of the logarithm's rounding. */
const within1pc = (estimate: number, exact: number) => Math.abs(estimate - exact) <= 0.01 * Math.abs(exact) * (1 + 1e-12);

/** Distributions a sketch must survive, as lists of integer durations. */
function distributions(): [string, number[]][] {
  const rand = seededRandom(11);
  const n = 20_011;
  const list = (f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));
  return [
    ["uniform 0..5000", list(() => Math.floor(rand() * 5001))],
    ["bimodal 100 ± 5 and 10,000 ± 50 (5%)", list(() => (rand() < 0.95 ? 95 + Math.floor(rand() * 11) : 9950 + Math.floor(rand() * 101)))],
    ["bimodal with the p95 rank on the gap", list((i) => (i < Math.floor(0.95 * (n - 1)) + 1 ? 10 : 100_000))],
    ["heavy tail (log-uniform 1..2^53)", list(() => Math.floor(Math.exp(rand() * Math.log(M))))],
    ["pareto-like tail", list(() => Math.floor(100 / (1 - rand()) ** 1.5))],
    ["all equal", list(() => 1234)],
    ["all zero", list(() => 0)],
    ["mostly zero", list(() => (rand() < 0.97 ? 0 : 1 + Math.floor(rand() * 50)))],
    ["small integers 0..3", list(() => Math.floor(rand() * 4))],
    ["the largest duration", list((i) => (i % 2 === 0 ? M : M - 1))],
    ["two values 1 and 2^53 − 1", list((i) => (i % 100 === 0 ? M : 1))],
  ];
}

describe("latency sketch", () => {
  it("the stored form round-trips and is canonical", () => {
    for (const [, values] of distributions()) {
      const sketch = sketchOf(values);
      const bytes = encodeSketch(sketch);
      const back = decodeSketch(bytes);
      expect(back.count).toBe(values.length);
      expect(back.zeroCount).toBe(values.filter((v) => v === 0).length);
      expect(encodeSketch(back).equals(bytes)).toBe(true);
      for (const rank of [0, 1, Math.floor(values.length / 2), values.length - 2, values.length - 1]) {
        expect(valueAtRank(back, rank)).toBe(valueAtRank(sketch, rank));
      }
    }
    expect([...encodeSketch(newSketch())]).toEqual([1, 0, 0]);
  });

  it("merging stored sketches equals the sketch of all the values, in any split", () => {
    const rand = seededRandom(3);
    const values = Array.from({ length: 5000 }, () => (rand() < 0.1 ? 0 : Math.floor(Math.exp(rand() * 20))));
    const whole = encodeSketch(sketchOf(values));
    for (const parts of [2, 7, 100]) {
      const merged = newSketch();
      for (let k = 0; k < parts; k++) mergeEncoded(merged, encodeSketch(sketchOf(values.filter((_, i) => i % parts === k))));
      expect(merged.count).toBe(values.length);
      expect(encodeSketch(merged).equals(whole)).toBe(true);
    }
  });

  it("the write path's bins encode exactly as a DDSketch of the same values, stored sketches added in", () => {
    for (const [, values] of distributions()) {
      const bins = new SketchBins();
      for (const v of values.slice(0, 5000)) bins.add(v);
      bins.addEncoded(encodeSketch(sketchOf(values.slice(5000))));
      expect(bins.encode().equals(encodeSketch(sketchOf(values)))).toBe(true);
    }
    expect(new SketchBins().encode().equals(encodeSketch(newSketch()))).toBe(true);
  });

  it("the read path's merger gives the sketch of all the values, whatever the order of the ranges it grows to", () => {
    const rand = seededRandom(9);
    const values = Array.from({ length: 20_000 }, (_, i) => (i % 10 === 0 ? 0 : Math.floor(Math.exp(rand() * (i % 3 === 0 ? Math.log(M) : 8)))));
    for (const parts of [1, 3, 50, 400]) {
      const merger = new SketchMerger();
      for (let k = 0; k < parts; k++) merger.add(encodeSketch(sketchOf(values.filter((_, i) => i % parts === k))));
      const merged = merger.toSketch();
      expect(merged.count).toBe(values.length);
      expect(encodeSketch(merged).equals(encodeSketch(sketchOf(values)))).toBe(true);
    }
    expect(new SketchMerger().toSketch().count).toBe(0);
  });

  it("refuses bytes that are not a stored sketch", () => {
    expect(() => decodeSketch(Buffer.from([2, 0, 0]))).toThrow(/format/);
    expect(() => decodeSketch(Buffer.from([1, 0, 1, 0x80]))).toThrow(/truncated/);
    expect(() => decodeSketch(Buffer.from([1, 0, 0, 5]))).toThrow(/trailing/);
  });

  for (const [name, values] of distributions()) {
    it(`every rank and the p50/p95/p99/p99.9 within 1% of exact: ${name}`, () => {
      const sketch = sketchOf(values);
      const sorted = [...values].sort((a, b) => a - b);
      const bad: unknown[] = [];
      for (let rank = 0; rank < sorted.length; rank += 7) {
        const v = valueAtRank(sketch, rank);
        if (!within1pc(v, sorted[rank])) bad.push({ rank, exact: sorted[rank], v });
      }
      for (const p of [0, 0.5, 0.95, 0.99, 0.999, 1]) {
        const exact = percentile(values, p);
        const estimate = sketchPercentile(sketch, p);
        if (!within1pc(estimate, exact)) bad.push({ p, exact, estimate });
      }
      expect(bad).toEqual([]);
    });
  }

  it("one value, and the contract's example: within 1%", () => {
    expect(within1pc(sketchPercentile(sketchOf([700]), 0.95), 700)).toBe(true);
    expect(within1pc(sketchPercentile(sketchOf([1000, 2000, 1500]), 0.95), 1950)).toBe(true);
    expect(within1pc(sketchPercentile(sketchOf([1000, 2000, 1500]), 0.99), 1990)).toBe(true);
    expect(() => sketchPercentile(newSketch(), 0.5)).toThrow(RangeError);
  });
});
