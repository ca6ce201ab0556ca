/**
 * The query parameters of both FinOps report endpoints (§12): start, end, provider_id, lane,
 * window_days (1..90, default 7) and limit (1..12, default 4).
 */
import { badRequest } from "../../lib/errors";
import { QueryReader } from "../../lib/validation";

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

/** Reads and checks the parameters: 422 for a bad value, then 400 when start > end. */
export function readReportParams(query: Record<string, unknown>): ReportParams {
  const reader = new QueryReader(query);
  const startMs = reader.datetime("start");
  const endMs = reader.datetime("end");
  const providerId = reader.filter("provider_id");
  const lane = reader.filter("lane")?.toLowerCase();
  const windowDays = reader.int("window_days", 7, 1, 90);
  const limit = reader.int("limit", 4, 1, 12);
  reader.done();
  if (startMs !== undefined && endMs !== undefined && startMs > endMs) throw badRequest("start must be before end");
  return { startMs, endMs, providerId, lane, windowDays, limit, matchesNothing: reader.matchesNothing };
}
