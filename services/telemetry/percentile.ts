/**
 * Linear-interpolation percentiles (§10.2): sort ascending, position (n − 1) × p, interpolate between
 * the values at floor and ceil of the position. Split so the store only has to fetch the one or two
 * values around the position (ORDER BY … LIMIT … OFFSET) instead of every duration.
 */

export interface PercentilePosition {
  /** The exact position (n − 1) × p. */
  position: number;
  /** Index (ascending order, 0-based) of the lower and upper neighbour. */
  lower: number;
  upper: number;
}

export function percentilePosition(count: number, p: number): PercentilePosition {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`percentile of ${count} values`);
  const position = (count - 1) * p;
  return { position, lower: Math.floor(position), upper: Math.ceil(position) };
}

/** The percentile from the values at the lower and upper index of its position. */
export function interpolate(at: PercentilePosition, lowerValue: number, upperValue: number): number {
  if (at.lower === at.upper) return lowerValue;
  return lowerValue + (upperValue - lowerValue) * (at.position - at.lower);
}

/** Percentile p of values (any order). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const at = percentilePosition(sorted.length, p);
  return interpolate(at, sorted[at.lower], sorted[at.upper]);
}
