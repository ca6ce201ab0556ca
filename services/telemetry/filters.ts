/**
 * The query parameters of the telemetry read endpoints (§10.1, §10.6) and the run filter the SQL
 * sees. Order of checks (§6.5): every parameter problem → one 422, then start > end → 400, then a
 * malformed cursor → 400.
 */
import { badRequest } from "../../lib/errors";
import type { ProviderInfo } from "../../lib/provider-directory";
import { toStoredInstant } from "../../lib/time";
import { readQuery, type QuerySpec } from "../../lib/query-params";
import { decodeCursor, RunPosition } from "./cursor";

export const DEFAULT_RUNS_LIMIT = 20;
export const MAX_RUNS_LIMIT = 100;

const START = { kind: "datetime", description: "Runs at or after this instant (api-contract §6.2; inclusive)." } as const;
const END = { kind: "datetime", description: "Runs at or before this instant (inclusive); start after end → 400." } as const;
const PROVIDER_ID = { kind: "filter", description: "Only this provider's runs (an empty value = not given)." } as const;
const ROUTE = { kind: "filter", description: "Only runs of this route (an empty value = not given)." } as const;
const LANE = {
  kind: "filter",
  description: "Only runs of the providers of this lane (economy, balanced, turbo; case-insensitive; an unknown lane matches nothing).",
} as const;

/**
 * The query parameters of each telemetry read endpoint (api-contract §10.1–§10.6), declared once:
 * parseReadQuery reads them and the OpenAPI document lists them (lib/query-params.ts).
 */
export const TELEMETRY_QUERIES = {
  metrics: { start: START, end: END, provider_id: PROVIDER_ID, route: ROUTE },
  heatmap: { start: START, end: END, provider_id: PROVIDER_ID, route: ROUTE },
  timeseries: { start: START, end: END, provider_id: PROVIDER_ID, lane: LANE },
  pareto: { start: START, end: END, provider_id: PROVIDER_ID, lane: LANE },
  runs: {
    start: START,
    end: END,
    provider_id: PROVIDER_ID,
    route: ROUTE,
    lane: LANE,
    limit: { kind: "int", min: 1, max: MAX_RUNS_LIMIT, default: DEFAULT_RUNS_LIMIT, description: "Page size." },
    cursor: { kind: "filter", description: "The `next_cursor` of the previous page (opaque; a malformed one → 400 `invalid cursor`)." },
  },
} as const satisfies Record<string, QuerySpec>;

export type TelemetryQuerySpec = (typeof TELEMETRY_QUERIES)[keyof typeof TELEMETRY_QUERIES];

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

/**
 * Reads the parameters of `spec` (one of TELEMETRY_QUERIES) from the request's params: one 422 for
 * every bad value, then 400 when start > end, then 400 `invalid cursor` (a cursor past `maxRunId`,
 * the largest run id the store can hold, is invalid too). Parameters the spec does not list are
 * ignored (a route filter on /telemetry/timeseries is not one).
 */
export function parseReadQuery(params: Record<string, unknown> | undefined, spec: TelemetryQuerySpec, maxRunId?: number): ReadQuery {
  const { values, matchesNothing } = readQuery(spec as QuerySpec, params);
  const v = values as Partial<Record<string, string | number | undefined>>;
  const startMs = v.start as number | undefined;
  const endMs = v.end as number | undefined;
  const lane = (v.lane as string | undefined)?.toLowerCase();
  if (startMs !== undefined && endMs !== undefined && startMs > endMs) throw badRequest("start must be before end");
  let cursor: RunPosition | undefined;
  const cursorText = v.cursor as string | undefined;
  if (cursorText !== undefined) {
    const decoded = decodeCursor(cursorText, maxRunId);
    if (decoded === null) throw badRequest("invalid cursor");
    cursor = decoded;
  }
  return {
    startMs,
    endMs,
    providerId: v.provider_id as string | undefined,
    route: v.route as string | undefined,
    lane,
    limit: (v.limit as number | undefined) ?? DEFAULT_RUNS_LIMIT,
    cursor,
    matchesNothing,
  };
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
