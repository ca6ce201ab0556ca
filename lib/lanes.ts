/**
 * Lanes and per-provider baselines derived from the provider id (contract §5.1).
 */

export const LANES = ["economy", "balanced", "turbo"] as const;
export type Lane = (typeof LANES)[number];

export function isLane(value: unknown): value is Lane {
  return typeof value === "string" && (LANES as readonly string[]).includes(value);
}

const LANE_COST: Record<Lane, number> = { economy: 12, balanced: 19, turbo: 32 };
const LANE_LATENCY: Record<Lane, number> = { economy: 2400, balanced: 1500, turbo: 780 };

/** H(s): h = (h × 31 + code point) mod 2^32 over the code points of s. */
export function idHash(s: string): number {
  let h = 0;
  for (const ch of s) {
    h = (Math.imul(h, 31) + (ch.codePointAt(0) as number)) >>> 0;
  }
  return h;
}

/** M(s, n) = H(s) mod n. */
export function idMod(s: string, n: number): number {
  return idHash(s) % n;
}

/**
 * round(x, n) of the contract (§1.3): rounds the exact binary value of x to n decimals, exact ties to
 * even. Equal to Number(x.toFixed(n)) except on exact ties, which toFixed rounds away from zero.
 */
export function roundHalfEven(x: number, decimals: number): number {
  if (!Number.isFinite(x)) return x;
  const scaled = Math.abs(x) * 10 ** decimals;
  // An exact tie scales to exactly k + 0.5 (the product is representable, so it is computed exactly).
  if (scaled - Math.floor(scaled) !== 0.5 || !isExactTie(Math.abs(x), decimals)) {
    return Number(x.toFixed(decimals));
  }
  const lower = Math.floor(scaled);
  const even = lower % 2 === 0 ? lower : lower + 1;
  return Number(`${x < 0 ? "-" : ""}${(even / 10 ** decimals).toFixed(decimals)}`);
}

/** True when the exact decimal value of x ends with a 5 at position decimals + 1. */
function isExactTie(x: number, decimals: number): boolean {
  const fraction = exactDecimal(x).split(".")[1] ?? "";
  return fraction.length === decimals + 1 && fraction.endsWith("5");
}

/** The exact decimal expansion of a finite non-negative double (every double is a finite decimal). */
export function exactDecimal(x: number): string {
  let exp = 0;
  let m = x;
  while (!Number.isInteger(m)) {
    m *= 2;
    exp -= 1;
  }
  if (exp === 0) return BigInt(m).toString();
  const digits = (BigInt(m) * 5n ** BigInt(-exp)).toString().padStart(-exp + 1, "0");
  const cut = digits.length + exp;
  return `${digits.slice(0, cut)}.${digits.slice(cut)}`.replace(/0+$/, "").replace(/\.$/, "");
}

export interface ProviderBaseline {
  lane: Lane;
  cost_per_million: number;
  latency_p95: number;
  reliability: number;
  capacity_score: number;
}

/** Lane derived from the id hash alone. */
export function hashedLane(id: string): Lane {
  const k = idMod(`${id}-lane`, 100);
  return k < 35 ? "economy" : k < 82 ? "balanced" : "turbo";
}

/** The effective lane: the declared one when present, else the hash-derived one. */
export function effectiveLane(id: string, declared?: Lane | null): Lane {
  return declared ?? hashedLane(id);
}

export function providerBaseline(id: string, declared?: Lane | null): ProviderBaseline {
  const lane = effectiveLane(id, declared);
  return {
    lane,
    cost_per_million: roundHalfEven(LANE_COST[lane] * (0.82 + idMod(`${id}-cost`, 35) / 100), 2),
    latency_p95: roundHalfEven(LANE_LATENCY[lane] * (0.78 + idMod(`${id}-lat`, 40) / 100), 0),
    reliability: roundHalfEven(90 + idMod(`${id}-rel`, 9) + idMod(`${id}-rel2`, 6) / 10, 1),
    capacity_score: 60 + idMod(`${id}-cap`, 50),
  };
}
