/**
 * Actions that store something and are not idempotent without an Idempotency-Key: running one twice
 * stores twice. The broker's retry policy (moleculer.config.ts) never repeats them after a request
 * timeout: the node that timed out may be stalled, not dead, and would still store the first call
 * when it resumes (a retry elsewhere stored it again). They are still retried when the call
 * provably did not run (no live node: no responders, not found, not available) or when their node
 * died (RequestRejectedError: a death between the commit and the answer is the only duplicate left,
 * and the Idempotency-Key covers it).
 *
 * `sessions.recordCall` counts a tool call: repeated, it would count the call twice.
 *
 * The catalog writes are among them: a create repeated elsewhere would answer 409 for the client's
 * own server, a delete 404, and a stalled update that resumes after a newer one would undo it.
 */
export const NON_IDEMPOTENT_ACTIONS: ReadonlySet<string> = new Set([
  "sessions.create",
  "sessions.recordCall",
  "telemetry.ingest",
  "finops.ingestPullRequest",
  "providers.createServer",
  "providers.updateServer",
  "providers.deleteServer",
]);

interface ErrorLike {
  retryable?: unknown;
  type?: unknown;
  data?: { action?: unknown };
}

/**
 * The retry policy's check (Moleculer `retryPolicy.check`): retry what Moleculer marks retryable,
 * except a timed-out call of a non-idempotent action.
 */
export function shouldRetry(err: unknown): boolean {
  const e = (typeof err === "object" && err !== null ? err : {}) as ErrorLike;
  if (e.retryable !== true) return false;
  if (e.type === "REQUEST_TIMEOUT" && typeof e.data?.action === "string" && NON_IDEMPOTENT_ACTIONS.has(e.data.action)) return false;
  return true;
}
