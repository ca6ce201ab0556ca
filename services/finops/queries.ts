/**
 * The SQL of the FinOps service. It owns `pull_requests` and reads `telemetry_events` of the same
 * store directly, so that a whole report comes from one read transaction (§1.4). Run totals read
 * a range as its whole days, hours and minutes from telemetry's rollup levels
 * (services/telemetry/store/levels.ts) and the partial minutes at the range's edges from the raw rows,
 * one statement per range (services/telemetry/store/range-read.ts). Sums of run values go through services/telemetry/store/run-sums.ts
 * (no overflow on either backend; sums beyond 2^53 come back as the nearest double).
 */
import type { Knex } from "knex";
import { aggregateNumber } from "../../lib/store/aggregate";
import { overflowFreeSum } from "../telemetry/store/run-sums";
import { InstantRange, dayOfBucket } from "../telemetry/store/levels";
import { readRange, readRanges } from "../telemetry/store/range-read";
import { compareText } from "../../lib/text-order";
import { storedToMs, toStoredInstant } from "../../lib/time";
import type { DayProviderGroup, PullRequestRecord, StoredRange, WindowTotals } from "./reports";

/** Run filters of the report endpoints; providerIds = the lane filter's providers, when given. */
export interface RunFilter {
  startMs?: number;
  endMs?: number;
  providerId?: string;
  providerIds?: readonly string[];
}

type Db = Knex | Knex.Transaction;

/** Provider filters, applied alike to the raw rows and to the rollup. */
function whereProviders(q: Knex.QueryBuilder, filter: { providerId?: string; providerIds?: readonly string[] }): void {
  if (filter.providerId !== undefined) q.where("provider_id", filter.providerId);
  if (filter.providerIds !== undefined) q.whereIn("provider_id", [...filter.providerIds]);
}

/** Known-cost count and sum as read from SQL: the sum is null when no cost is known. */
function dayProviderGroupFromRow(r: Record<string, unknown>): DayProviderGroup {
  return {
    day: String(r.day),
    provider_id: String(r.provider_id),
    runs: aggregateNumber(r.runs),
    tokens_in: aggregateNumber(r.tokens_in),
    tokens_out: aggregateNumber(r.tokens_out),
    duration_ms: aggregateNumber(r.duration_ms),
    successes: aggregateNumber(r.successes),
    cost_usd: aggregateNumber(r.cost_count) === 0 || r.cost_usd === null || r.cost_usd === undefined ? null : Number(r.cost_usd),
  };
}

/**
 * The timeseries points of §10.4: totals per (UTC day, provider) of the matching runs, ordered by
 * day then provider. Whole buckets come from the rollup levels, the partial minutes at the edges of
 * the range from the raw rows, in one statement.
 */
export async function dayProviderGroups(db: Db, filter: RunFilter): Promise<DayProviderGroup[]> {
  const range: InstantRange = {};
  if (filter.startMs !== undefined) range.startTs = toStoredInstant(filter.startMs);
  if (filter.endMs !== undefined) range.endTs = toStoredInstant(filter.endMs);
  const sum = (alias: string, levelColumn: string, runsColumn: string) => ({
    alias,
    level: overflowFreeSum(db, levelColumn),
    runs: overflowFreeSum(db, runsColumn),
  });
  const rows = await readRange(db, range, {
    tables: "rollup",
    columns: [
      { alias: "day", level: dayOfBucket, runs: "day" },
      { alias: "provider_id", level: "provider_id", runs: "provider_id" },
      { alias: "runs", level: "SUM(run_count)", runs: "COUNT(*)" },
      { alias: "cost_count", level: "SUM(cost_count)", runs: "COUNT(cost_usd)" },
      { alias: "successes", level: "SUM(success_count)", runs: "SUM(is_success)" },
      sum("tokens_in", "tokens_in", "tokens_in"),
      sum("tokens_out", "tokens_out", "tokens_out"),
      sum("duration_ms", "duration_sum", "duration_ms"),
      sum("cost_usd", "cost_sum", "cost_usd"),
    ],
    groupBy: { level: (level) => `${dayOfBucket(level)}, provider_id`, runs: "day, provider_id" },
    whereLevel: (q) => whereProviders(q, filter),
    whereRuns: (q) => whereProviders(q, filter),
  });
  // A day cut by the range comes from several pieces (hours, minutes, raw edges): merged here.
  const merged = new Map<string, DayProviderGroup>();
  for (const g of rows.map(dayProviderGroupFromRow)) {
    const key = `${g.day}\u0000${g.provider_id}`;
    const into = merged.get(key);
    if (into === undefined) {
      merged.set(key, { ...g });
      continue;
    }
    into.runs += g.runs;
    into.tokens_in += g.tokens_in;
    into.tokens_out += g.tokens_out;
    into.duration_ms += g.duration_ms;
    into.successes += g.successes;
    into.cost_usd = into.cost_usd === null && g.cost_usd === null ? null : (into.cost_usd ?? 0) + (g.cost_usd ?? 0);
  }
  return [...merged.values()].sort((a, b) => compareText(a.day, b.day) || compareText(a.provider_id, b.provider_id));
}

interface PullRequestRow {
  id: string;
  title: string;
  owner: string;
  merged_at: string;
  provider_id: string;
  route: string | null;
}

/**
 * Registered pull requests merged within `merged`, newest first then id ascending (binary), at most
 * `limit`. The id order is applied here rather than in SQL, so a database collation cannot change
 * which of several PRs merged at the same instant make the cut.
 */
export async function selectPullRequests(
  db: Knex | Knex.Transaction,
  merged: StoredRange,
  filter: { providerId?: string; providerIds?: readonly string[] },
  limit: number,
): Promise<PullRequestRecord[]> {
  const matching = () => {
    const q = db<PullRequestRow>("pull_requests").where("merged_at", ">=", merged.from).andWhere("merged_at", "<=", merged.to);
    if (filter.providerId !== undefined) q.where("provider_id", filter.providerId);
    if (filter.providerIds !== undefined) q.whereIn("provider_id", [...filter.providerIds]);
    return q;
  };
  // The merge instant of the limit-th newest PR: every PR that can make the cut is at or after it.
  const boundary = (await matching()
    .select("merged_at")
    .orderBy("merged_at", "desc")
    .offset(limit - 1)
    .limit(1)) as { merged_at: string }[];
  const q = matching().select("id", "title", "owner", "merged_at", "provider_id", "route");
  if (boundary.length > 0) q.andWhere("merged_at", ">=", boundary[0].merged_at);
  const rows = (await q) as PullRequestRow[];
  rows.sort((a, b) => compareText(b.merged_at, a.merged_at) || compareText(a.id, b.id));
  return rows.slice(0, limit).map((r) => ({
    id: r.id,
    title: r.title,
    owner: r.owner,
    merged_at_ms: storedToMs(r.merged_at),
    provider_id: r.provider_id,
    route: r.route,
  }));
}

/** A window of a pull request report: the runs of a provider (and route, when not null) in a range. */
export interface WindowRequest {
  providerId: string;
  route: string | null;
  /** null: an empty window. */
  range: StoredRange | null;
}

/**
 * Cost and tokens of the runs of each window (§12.2), in request order: whole buckets from the
 * rollup levels, the partial minutes at the edges from the raw rows, every window in one statement.
 */
export async function windowTotals(db: Db, windows: readonly WindowRequest[]): Promise<WindowTotals[]> {
  const totals = windows.map((): WindowTotals => ({ cost: 0, tokens: 0 }));
  const wanted = windows.flatMap((w, i) => (w.range === null ? [] : [{ i, w, range: w.range }]));
  if (wanted.length === 0) return totals;
  const columns = [
    { alias: "cost", level: overflowFreeSum(db, "cost_sum"), runs: overflowFreeSum(db, "cost_usd") },
    { alias: "tokens_in", level: overflowFreeSum(db, "tokens_in"), runs: overflowFreeSum(db, "tokens_in") },
    { alias: "tokens_out", level: overflowFreeSum(db, "tokens_out"), runs: overflowFreeSum(db, "tokens_out") },
  ];
  const rows = await readRanges(
    db,
    wanted.map(({ w, range }) => {
      const where = (q: Knex.QueryBuilder) => {
        q.where("provider_id", w.providerId);
        if (w.route !== null) q.andWhere("route", w.route);
      };
      return { range: { startTs: range.from, endTs: range.to }, read: { tables: "rollup" as const, columns, whereLevel: where, whereRuns: where } };
    }),
  );
  wanted.forEach(({ i }, k) => {
    for (const row of rows[k]) {
      totals[i].cost += aggregateNumber(row.cost);
      totals[i].tokens += aggregateNumber(row.tokens_in) + aggregateNumber(row.tokens_out);
    }
  });
  return totals;
}

/** A pull request to store. */
export interface PullRequestInsert {
  id: string;
  title: string;
  owner: string;
  merged_at_ms: number;
  provider_id: string;
  route: string | null;
  created_at_ms: number;
}

/**
 * Inserts a pull request inside the caller's transaction. Returns false, writing nothing, when a
 * record with that id already exists (the primary key decides, so concurrent registrations of one id
 * have exactly one winner; `ON CONFLICT DO NOTHING` leaves the transaction usable on PostgreSQL).
 */
export async function insertPullRequest(db: Db, pr: PullRequestInsert): Promise<boolean> {
  const inserted: unknown[] = await db("pull_requests")
    .insert(
      {
        id: pr.id,
        title: pr.title,
        owner: pr.owner,
        merged_at: toStoredInstant(pr.merged_at_ms),
        provider_id: pr.provider_id,
        route: pr.route,
        created_at: toStoredInstant(pr.created_at_ms),
      },
      ["id"],
    )
    .onConflict("id")
    .ignore();
  return inserted.length === 1;
}
