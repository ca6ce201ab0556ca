/**
 * lib/lanes.ts: the hash, lanes and baselines of contract §5.1 and round() of §1.3.
 */
import { effectiveLane, exactDecimal, hashedLane, idHash, idMod, isLane, providerBaseline, roundHalfEven } from "../../lib/lanes";

/** H(s) of §5.1 written independently: BigInt arithmetic over code points. */
function referenceHash(s: string): number {
  let h = 0n;
  for (const ch of s) h = (h * 31n + BigInt(ch.codePointAt(0) as number)) % 2n ** 32n;
  return Number(h);
}
const M = (s: string, n: number) => referenceHash(s) % n;

/** The §5.1 table: seeds and resulting values, as published in the contract. */
const TABLE = [
  {
    id: "gemini",
    laneSeed: 80,
    lane: "balanced",
    cost: 25,
    lat: 39,
    rel: 8,
    rel2: 5,
    cap: 36,
    cpm: 20.33,
    p95: 1755,
    reliability: 98.5,
    capacity: 96,
  },
  { id: "codex", laneSeed: 58, lane: "balanced", cost: 18, lat: 21, rel: 2, rel2: 5, cap: 18, cpm: 19.0, p95: 1485, reliability: 92.5, capacity: 78 },
  { id: "glm46", laneSeed: 83, lane: "turbo", cost: 33, lat: 4, rel: 2, rel2: 2, cap: 1, cpm: 36.8, p95: 640, reliability: 92.2, capacity: 61 },
  { id: "claude", laneSeed: 79, lane: "balanced", cost: 9, lat: 16, rel: 4, rel2: 2, cap: 3, cpm: 17.29, p95: 1410, reliability: 94.2, capacity: 63 },
] as const;

describe("hash H and M", () => {
  it.each(["", "a", "gemini-lane", "codex-cost", "çãõ-ünïcode", "emoji 😀-lat", "x".repeat(200)])("matches the definition for %j", (s) => {
    expect(idHash(s)).toBe(referenceHash(s));
    expect(idMod(s, 100)).toBe(referenceHash(s) % 100);
  });

  it("stays an unsigned 32-bit value", () => {
    for (const s of ["zzzzzzzzzzzz", "\u{10FFFF}\u{10FFFF}\u{10FFFF}"]) {
      const h = idHash(s);
      expect(h).toBeGreaterThanOrEqual(0);
      expect(h).toBeLessThan(2 ** 32);
      expect(Number.isInteger(h)).toBe(true);
    }
  });

  it("uses code points, not UTF-16 code units", () => {
    // "😀" is one code point (0x1F600): H = 0x1F600.
    expect(idHash("😀")).toBe(0x1f600);
  });
});

describe("§5.1 table for the example providers", () => {
  it.each(TABLE)("$id: seeds computed from the hash definition", (row) => {
    expect(M(`${row.id}-lane`, 100)).toBe(row.laneSeed);
    expect(M(`${row.id}-cost`, 35)).toBe(row.cost);
    expect(M(`${row.id}-lat`, 40)).toBe(row.lat);
    expect(M(`${row.id}-rel`, 9)).toBe(row.rel);
    expect(M(`${row.id}-rel2`, 6)).toBe(row.rel2);
    expect(M(`${row.id}-cap`, 50)).toBe(row.cap);
  });

  it.each(TABLE)("$id: lane and baselines", (row) => {
    const laneCost = { economy: 12, balanced: 19, turbo: 32 }[row.lane];
    const laneLat = { economy: 2400, balanced: 1500, turbo: 780 }[row.lane];
    const expectedCpm = Math.round(laneCost * (0.82 + row.cost / 100) * 100) / 100;
    const expectedP95 = Math.round(laneLat * (0.78 + row.lat / 100));
    expect(expectedCpm).toBe(row.cpm);
    expect(expectedP95).toBe(row.p95);
    expect(hashedLane(row.id)).toBe(row.lane);
    expect(providerBaseline(row.id)).toEqual({
      lane: row.lane,
      cost_per_million: row.cpm,
      latency_p95: row.p95,
      reliability: row.reliability,
      capacity_score: row.capacity,
    });
    expect(providerBaseline(row.id, null)).toEqual(providerBaseline(row.id));
  });

  it("maps the lane seed thresholds 35 and 82", () => {
    // Find ids whose lane seed sits exactly on each side of the thresholds.
    const found: Record<number, string> = {};
    for (let i = 0; Object.keys(found).length < 4 && i < 100000; i += 1) {
      const k = M(`p${i}-lane`, 100);
      if ([34, 35, 81, 82].includes(k) && found[k] === undefined) found[k] = `p${i}`;
    }
    expect(hashedLane(found[34])).toBe("economy");
    expect(hashedLane(found[35])).toBe("balanced");
    expect(hashedLane(found[81])).toBe("balanced");
    expect(hashedLane(found[82])).toBe("turbo");
  });
});

describe("lane override", () => {
  it("codex declared economy: cost 12.0, latency 2376, reliability and capacity unchanged", () => {
    expect(effectiveLane("codex", "economy")).toBe("economy");
    expect(effectiveLane("codex")).toBe("balanced");
    expect(providerBaseline("codex", "economy")).toEqual({
      lane: "economy",
      cost_per_million: 12.0,
      latency_p95: 2376,
      reliability: 92.5,
      capacity_score: 78,
    });
  });

  it("knows the three lanes", () => {
    expect(["economy", "balanced", "turbo"].every(isLane)).toBe(true);
    expect(isLane("Economy")).toBe(false);
    expect(isLane(null)).toBe(false);
  });
});

describe("roundHalfEven (round() of §1.3)", () => {
  it.each([
    [0.125, 2, 0.12],
    [0.375, 2, 0.38],
    [2.675, 2, 2.67], // binary value is below the tie
    [639.6, 0, 640],
    [2.5, 0, 2],
    [3.5, 0, 4],
    [0.5, 0, 0],
    [1.5, 0, 2],
    [-0.125, 2, -0.12],
    [-2.5, 0, -2],
    [-3.5, 0, -4],
    [-2.675, 2, -2.67],
    [1.005, 2, 1], // 1.00499999…
    [20.325, 2, 20.32], // 20.324999… in binary
    [96, 0, 96],
    [12.0, 2, 12],
    [0.0625, 3, 0.062],
    [0.1875, 3, 0.188],
    [1234.5678, 2, 1234.57],
  ])("round(%p, %p) = %p", (x, n, expected) => {
    expect(roundHalfEven(x, n)).toBe(expected);
  });

  it("differs from toFixed only on exact binary ties", () => {
    expect(Number((0.125).toFixed(2))).toBe(0.13);
    expect(roundHalfEven(0.125, 2)).toBe(0.12);
    for (let i = 0; i < 2000; i += 1) {
      const x = (i * 7.31) / 13;
      const tie = exactDecimal(x).split(".")[1]?.length === 3 && exactDecimal(x).endsWith("5");
      if (!tie) expect(roundHalfEven(x, 2)).toBe(Number(x.toFixed(2)));
    }
  });

  it("agrees with a digit-by-digit half-even rounding of the exact binary value", () => {
    /** Reference: round the exact decimal expansion of |x| on its digits, ties to even. */
    const reference = (x: number, n: number): number => {
      const [int, frac = ""] = exactDecimal(Math.abs(x)).split(".");
      const kept = BigInt(int + frac.padEnd(n, "0").slice(0, n));
      const rest = frac.slice(n);
      const tie = rest[0] === "5" && /^5?0*$/.test(rest);
      const up = rest[0] > "5" || (rest[0] === "5" && (!tie || kept % 2n === 1n));
      const digits = (kept + (up ? 1n : 0n)).toString().padStart(n + 1, "0");
      const text = n === 0 ? digits : `${digits.slice(0, -n)}.${digits.slice(-n)}`;
      return Number(`${x < 0 ? "-" : ""}${text}`);
    };
    let seed = 12345;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const wrong: unknown[] = [];
    for (let k = 0; k < 30000; k += 1) {
      const n = k % 7;
      const x =
        k % 3 === 0
          ? (random() - 0.5) * 10 ** Math.floor(random() * 8)
          : k % 3 === 1
            ? Math.round((random() - 0.5) * 1e6) / 2 ** Math.floor(random() * 12) // many exact ties
            : Math.round(random() * 1e5) / 10 ** (n + 1); // decimal ties that are not binary ties
      const got = roundHalfEven(x, n);
      const want = reference(x, n);
      if (got !== want) wrong.push([x, n, got, want]);
    }
    expect(wrong).toEqual([]);
  });

  it("returns non-finite values unchanged", () => {
    expect(roundHalfEven(Number.NaN, 2)).toBeNaN();
    expect(roundHalfEven(Number.POSITIVE_INFINITY, 2)).toBe(Number.POSITIVE_INFINITY);
  });

  it("writes exact decimal expansions", () => {
    expect(exactDecimal(0.125)).toBe("0.125");
    expect(exactDecimal(2.5)).toBe("2.5");
    expect(exactDecimal(7)).toBe("7");
    expect(exactDecimal(0.1)).toBe("0.1000000000000000055511151231257827021181583404541015625");
  });
});
