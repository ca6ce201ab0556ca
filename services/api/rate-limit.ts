/**
 * The gateway's side of the rate limits (runtime-contract §25.3): the 429 answer and how many runs a
 * `POST /telemetry/runs` body counts for. The buckets themselves are shared by every replica in the
 * store (services/access/rate-buckets.ts), taken from through `access.take`.
 */
import { ContractError } from "../../lib/errors";

/** 429 `Rate limit exceeded`, answered with `Retry-After: <whole seconds>`. */
export class RateLimitedError extends ContractError {
  constructor(readonly retryAfterS: number) {
    super(429, "Rate limit exceeded");
    this.name = "RateLimitedError";
    this.data = { retry_after_s: retryAfterS };
  }
}

/** Most runs one body can count for (POST /telemetry/runs holds at most 1 MiB). */
const MAX_COUNTED_RUNS = 1_000_000;

/**
 * The runs an ingestion body counts for (§11.1: one run, or `{runs: [...]}`): the list's length, 1
 * for a single run; an empty list counts nothing.
 */
export function runsOf(params: Record<string, unknown>): number {
  const runs = params.runs;
  if (Array.isArray(runs)) return Math.min(runs.length, MAX_COUNTED_RUNS);
  return 1;
}
