/**
 * Liveness and readiness (§8.1, §8.2). Readiness runs every check at once, each bounded by its own
 * timeout, and reports each check by name.
 */

export const READINESS_CHECK_TIMEOUT_MS = 1000;

/** Services that serve contract endpoints, each a readiness check of its own. */
export const CONTRACT_SERVICES = ["providers", "sessions", "telemetry", "finops", "routing"] as const;

/** Services that own the store and answer `<name>.storePing`. */
export const STORE_SERVICES = ["sessions", "telemetry", "finops"] as const;

export type CheckResult = "ok" | "missing" | "timeout" | `error: ${string}`;

export interface Readiness {
  status: "ready" | "not_ready";
  checks: Record<string, CheckResult>;
  missing?: string[];
}

class CheckTimeout extends Error {}

/** Runs a check with a timeout: resolves to "ok", "timeout", or "error: …". */
export async function runCheck(check: () => Promise<CheckResult>, timeoutMs = READINESS_CHECK_TIMEOUT_MS): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeout()), timeoutMs);
  });
  try {
    return await Promise.race([check(), timeout]);
  } catch (err) {
    if (err instanceof CheckTimeout) return "timeout";
    const message = err instanceof Error ? err.message : String(err);
    return `error: ${message}`;
  } finally {
    clearTimeout(timer);
  }
}

export async function readiness(checks: Record<string, () => Promise<CheckResult>>): Promise<Readiness> {
  const names = Object.keys(checks);
  const results = await Promise.all(names.map((name) => runCheck(checks[name])));
  const out: Record<string, CheckResult> = {};
  names.forEach((name, i) => {
    out[name] = results[i];
  });
  const missing = names.filter((name) => out[name] !== "ok");
  return missing.length === 0 ? { status: "ready", checks: out } : { status: "not_ready", checks: out, missing };
}
