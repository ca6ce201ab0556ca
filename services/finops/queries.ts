/**
 * The SQL of the FinOps service. It owns `pull_requests` and reads `telemetry_events` of the same
 * store directly, so that a whole report comes from one read transaction (§1.4).
 */
import type { Knex } from "knex";
import { storedToMs, toStoredInstant } from "../../lib/time";
import type { DayProviderGroup, PullRequestRecord, StoredRange, WindowTotals } from "./reports";

/** Run filters of the report endpoints; providerIds = the lane filter's providers, when given. */
export interface RunFilter {
  startMs?: number;
  endMs?: number;
  providerId?: string;
  providerIds?: readonly string[];
}

function num(value: unknown): number {
  return value === null || value === undefined ? 0 : Number(value);
}

/** The timeseries points of §10.4: totals per (UTC day, provider) of the matching runs. */
export async function dayProviderGroups(db: Knex | Knex.Transaction, filter: RunFilter): Promise<DayProviderGroup[]> {
  const q = db("telemetry_events")
    .select("day", "provider_id")
    .count({ runs: "*" })
    .sum({ tokens_in: "tokens_in", tokens_out: "tokens_out", duration_ms: "duration_ms", successes: "is_success", cost_usd: "cost_usd" })
    .groupBy("day", "provider_id")
    .orderBy([{ column: "day" }, { column: "provider_id" }]);
  if (filter.startMs !== undefined) q.where("ts", ">=", toStoredInstant(filter.startMs));
  if (filter.endMs !== undefined) q.where("ts", "<=", toStoredInstant(filter.endMs));
  if (filter.providerId !== undefined) q.where("provider_id", filter.providerId);
  if (filter.providerIds !== undefined) q.whereIn("provider_id", [...filter.providerIds]);
  const rows = (await q) as Record<string, unknown>[];
  return rows.map((r) => ({
    day: String(r.day),
    provider_id: String(r.provider_id),
    runs: num(r.runs),
    tokens_in: num(r.tokens_in),
    tokens_out: num(r.tokens_out),
    duration_ms: num(r.duration_ms),
    successes: num(r.successes),
    cost_usd: r.cost_usd === null || r.cost_usd === undefined ? null : Number(r.cost_usd),
  }));
}

interface PullRequestRow {
  id: string;
  title: string;
  owner: string;
  merged_at: string;
  provider_id: string;
  route: string | null;
}

/** Ascending by UTF-16 code unit (binary, §10.1), whatever the database collation. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
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
    const q = db<PullRequestRow>("pull_requests")
      .where("merged_at", ">=", merged.from)
      .andWhere("merged_at", "<=", merged.to);
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

/** Cost and tokens of the runs of a provider (and route, when not null) within `range`. */
export async function windowTotals(
  db: Knex | Knex.Transaction,
  providerId: string,
  route: string | null,
  range: StoredRange | null,
): Promise<WindowTotals> {
  if (range === null) return { cost: 0, tokens: 0 };
  const q = db("telemetry_events")
    .sum({ cost: "cost_usd", tokens_in: "tokens_in", tokens_out: "tokens_out" })
    .where("provider_id", providerId)
    .andWhere("ts", ">=", range.from)
    .andWhere("ts", "<=", range.to);
  if (route !== null) q.andWhere("route", route);
  const row = ((await q) as Record<string, unknown>[])[0] ?? {};
  return { cost: num(row.cost), tokens: num(row.tokens_in) + num(row.tokens_out) };
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
 * Inserts a pull request. Returns false when a record with that id already exists (the primary key
 * decides, so concurrent registrations of one id have exactly one winner).
 */
export async function insertPullRequest(db: Knex, pr: PullRequestInsert): Promise<boolean> {
  try {
    await db("pull_requests").insert({
      id: pr.id,
      title: pr.title,
      owner: pr.owner,
      merged_at: toStoredInstant(pr.merged_at_ms),
      provider_id: pr.provider_id,
      route: pr.route,
      created_at: toStoredInstant(pr.created_at_ms),
    });
    return true;
  } catch (err) {
    if (isUniqueViolation(err)) return false;
    throw err;
  }
}

/** SQLite: SQLITE_CONSTRAINT with "UNIQUE constraint failed" / PRIMARY KEY; PostgreSQL: 23505. */
export function isUniqueViolation(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const e = err as { code?: unknown; errno?: unknown; message?: unknown };
  if (e.code === "23505") return true;
  if (e.code === "SQLITE_CONSTRAINT" || e.code === "SQLITE_CONSTRAINT_PRIMARYKEY" || e.code === "SQLITE_CONSTRAINT_UNIQUE") {
    return typeof e.message === "string" && /UNIQUE constraint failed|PRIMARY KEY/i.test(e.message);
  }
  return false;
}
