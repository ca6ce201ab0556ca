/**
 * The query parameters of both FinOps report endpoints (§12): start, end, provider_id, lane,
 * window_days (1..90, default 7) and limit (1..12, default 4).
 */
import { badRequest } from "../../lib/errors";
import { readQuery } from "../../lib/query-params";

export interface ReportParams {
  startMs: number | undefined;
  endMs: number | undefined;
  providerId: string | undefined;
  /** Lower-cased, not validated (an unknown lane matches nothing). */
  lane: string | undefined;
  windowDays: number;
  limit: number;
  /** A string filter holds text no stored value can contain (e.g. NUL): the report is empty. */
  matchesNothing: boolean;
}

/**
 * The query parameters of both report endpoints, declared once: readReportParams reads them and
 * the OpenAPI document lists them (lib/query-params.ts).
 */
export const REPORT_QUERY = {
  start: { kind: "datetime", description: "Report window start (api-contract §6.2; inclusive)." },
  end: { kind: "datetime", description: "Report window end (inclusive); start after end → 400." },
  provider_id: { kind: "filter", description: "Only this provider (an empty value = not given)." },
  lane: { kind: "filter", description: "Only the providers of this lane (case-insensitive; an unknown lane matches nothing)." },
  window_days: { kind: "int", min: 1, max: 90, default: 7, description: "Length of a sprint window, in days." },
  limit: { kind: "int", min: 1, max: 12, default: 4, description: "Number of windows (sprints) reported." },
} as const;

/** Reads and checks the parameters: 422 for a bad value, then 400 when start > end. */
export function readReportParams(query: Record<string, unknown>): ReportParams {
  const { values: v, matchesNothing } = readQuery(REPORT_QUERY, query);
  if (v.start !== undefined && v.end !== undefined && v.start > v.end) throw badRequest("start must be before end");
  return {
    startMs: v.start,
    endMs: v.end,
    providerId: v.provider_id,
    lane: v.lane?.toLowerCase(),
    windowDays: v.window_days,
    limit: v.limit,
    matchesNothing,
  };
}
