/** services/sessions/expiry.ts: how often the idle sweep runs and which instant it cuts at (runtime-contract §22). */
import { MAX_SESSION_IDLE_S } from "../../lib/config";
import { toStoredInstant } from "../../lib/time";
import { idleCutoffMs, MAX_SWEEP_INTERVAL_MS, MIN_SWEEP_INTERVAL_MS, sweepIntervalMs } from "../../services/sessions/expiry";

describe("sweepIntervalMs", () => {
  it("is null when expiry is off", () => {
    expect(sweepIntervalMs(0)).toBeNull();
  });

  it.each([
    [1, 1_000],
    [2, 1_000],
    [3, 1_500],
    [60, 30_000],
    [120, 60_000],
    [86_400, 60_000],
    [MAX_SESSION_IDLE_S, 60_000],
  ])("idle %d s → a sweep every %d ms (half the idle time within 1 s..60 s)", (idleS, ms) => {
    expect(sweepIntervalMs(idleS)).toBe(ms);
    expect(ms).toBeGreaterThanOrEqual(MIN_SWEEP_INTERVAL_MS);
    expect(ms).toBeLessThanOrEqual(MAX_SWEEP_INTERVAL_MS);
  });
});

describe("idleCutoffMs", () => {
  const now = Date.parse("2025-06-01T12:00:00.000Z");

  it("is now minus the idle time", () => {
    expect(idleCutoffMs(now, 86_400)).toBe(Date.parse("2025-05-31T12:00:00.000Z"));
    expect(idleCutoffMs(now, 1)).toBe(now - 1000);
  });

  it("never goes before the epoch, so the longest idle time is still a stored instant", () => {
    expect(idleCutoffMs(1_000, 86_400)).toBe(0);
    expect(toStoredInstant(idleCutoffMs(0, MAX_SESSION_IDLE_S))).toBe("1970-01-01T00:00:00.000Z");
    expect(toStoredInstant(idleCutoffMs(now, MAX_SESSION_IDLE_S))).toBe("2015-06-04T12:00:00.000Z");
  });
});
