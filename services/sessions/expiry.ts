/**
 * Idle expiry of sessions (runtime-contract §22): a session whose newest tool call — or, before any,
 * its creation — is older than CONSOLE_MCP_SESSION_IDLE_S seconds is closed by a periodic sweep
 * (services/sessions/queries.ts closeIdleSessions). 0 turns expiry off.
 */

/** Longest pause between two sweeps, in ms: a session outlives its idle time by at most this much. */
export const MAX_SWEEP_INTERVAL_MS = 60_000;
/** Shortest pause between two sweeps, in ms. */
export const MIN_SWEEP_INTERVAL_MS = 1_000;

/**
 * Milliseconds between sweeps for an idle time of `idleS` seconds (> 0): half the idle time, within
 * 1 s..60 s, so a session is closed at most about half its idle time (and never more than a minute)
 * late. null when expiry is off (`idleS` 0).
 */
export function sweepIntervalMs(idleS: number): number | null {
  if (idleS <= 0) return null;
  return Math.min(MAX_SWEEP_INTERVAL_MS, Math.max(MIN_SWEEP_INTERVAL_MS, Math.floor((idleS * 1000) / 2)));
}

/**
 * The instant (epoch ms) before which a session's newest activity makes it idle at `nowMs`; clamped
 * to the epoch so a very long idle time stays a valid stored instant.
 */
export function idleCutoffMs(nowMs: number, idleS: number): number {
  return Math.max(0, nowMs - idleS * 1000);
}
