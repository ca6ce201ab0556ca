/**
 * The query parameters of the telemetry read endpoints (§10.1, §10.6) and the run filter the SQL
 * sees. Order of checks (§6.5): every parameter problem → one 422, then start > end → 400, then a
 * malformed cursor → 400.
 */
import { badRequest } from "../../lib/errors";
import type { ProviderInfo } from "../../lib/provider-directory";
import { toStoredInstant } from "../../lib/time";
import { QueryReader } from "../../lib/validation";
import { decodeCursor, RunPosition } from "./cursor";

export const DEFAULT_RUNS_LIMIT = 20;
export const MAX_RUNS_LIMIT = 100;

/** Which optional parameters an endpoint accepts (start, end and provider_id always). */
export interface AcceptedParams {
  route?: boolean;
  lane?: boolean;
  /** limit and cursor (GET /telemetry/runs). */
  page?: boolean;
  /** The largest run id the store can hold (lib/store/columns.ts); a cursor past it is invalid. */
  maxRunId?: number;
}

export interface ReadQuery {
  /** Inclusive bounds on ts, epoch ms. */
  startMs: number | undefined;
  endMs: number | undefined;
  providerId: string | undefined;
  route: string | undefined;
  /** Lower-cased. */
  lane: string | undefined;
  limit: number;
  cursor: RunPosition | undefined;
  /** A string filter holds text no stored value can contain (e.g. NUL). */
  matchesNothing: boolean;
}

export function parseReadQuery(params: Record<string, unknown> | undefined, accepts: AcceptedParams = {}): ReadQuery {
  const reader = new QueryReader(params ?? {});
  const startMs = reader.datetime("start");
  const endMs = reader.datetime("end");
  const providerId = reader.filter("provider_id");
  const route = accepts.route ? reader.filter("route") : undefined;
  const lane = accepts.lane ? reader.filter("lane")?.toLowerCase() : undefined;
  const limit = accepts.page ? reader.int("limit", DEFAULT_RUNS_LIMIT, 1, MAX_RUNS_LIMIT) : DEFAULT_RUNS_LIMIT;
  const cursorText = accepts.page ? reader.filter("cursor") : undefined;
  reader.done();
  if (startMs !== undefined && endMs !== undefined && startMs > endMs) throw badRequest("start must be before end");
  let cursor: RunPosition | undefined;
  if (cursorText !== undefined) {
    const decoded = decodeCursor(cursorText, accepts.maxRunId);
    if (decoded === null) throw badRequest("invalid cursor");
    cursor = decoded;
  }
  return { startMs, endMs, providerId, route, lane, limit, cursor, matchesNothing: reader.matchesNothing };
}

/** What the SQL filters on. Instants are in the stored text form. */
export interface RunFilter {
  startTs?: string;
  endTs?: string;
  /** Exactly one provider (provider_id filter). */
  providerId?: string;
  /** Any of these providers (lane filter); never empty. */
  providerIds?: string[];
  route?: string;
}

/**
 * The SQL filter of a query, or null when it can match nothing: a lane that no manifest provider
 * has (unknown lanes included), or a provider_id outside the lane. Providers not in the manifest
 * never match a lane.
 */
export function runFilterOf(query: ReadQuery, providers: readonly ProviderInfo[]): RunFilter | null {
  if (query.matchesNothing) return null;
  const filter: RunFilter = {};
  if (query.startMs !== undefined) filter.startTs = toStoredInstant(query.startMs);
  if (query.endMs !== undefined) filter.endTs = toStoredInstant(query.endMs);
  if (query.route !== undefined) filter.route = query.route;
  if (query.lane !== undefined) {
    const inLane = providers.filter((p) => p.lane === query.lane).map((p) => p.id);
    const allowed = query.providerId === undefined ? inLane : inLane.filter((id) => id === query.providerId);
    if (allowed.length === 0) return null;
    if (allowed.length === 1) filter.providerId = allowed[0];
    else filter.providerIds = allowed;
  } else if (query.providerId !== undefined) {
    filter.providerId = query.providerId;
  }
  return filter;
}
