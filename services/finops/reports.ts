/**
 * FinOps report logic (contract §12, §5.3) on plain numbers, without SQL: UTC day arithmetic, ISO
 * weeks, the sprint window walk with its previous-window comparison, the pull-request before/after
 * windows, the status rule and the pt-BR summaries.
 */
import { roundHalfEven } from "../../lib/lanes";
import { MAX_INSTANT_MS, MIN_INSTANT_MS, formatInstant, toStoredInstant, utcDay } from "../../lib/time";

export const DAY_MS = 86_400_000;
export const EN_DASH = "\u2013";

export type ReportStatus = "on_track" | "attention" | "regression";

// ---------------------------------------------------------------------------------------------
// §5.3 shared helpers

/** Status rule: delta ≤ 0.03 → on_track; ≤ 0.08 → attention; otherwise regression. */
export function statusOf(delta: number): ReportStatus {
  if (delta <= 0.03) return "on_track";
  if (delta <= 0.08) return "attention";
  return "regression";
}

/** round(x, decimals) (exact ties to even) written with exactly `decimals` decimals. */
export function fixedDecimals(x: number, decimals: number): string {
  const rounded = roundHalfEven(x, decimals);
  if (Math.abs(rounded) < 1e21) return rounded.toFixed(decimals);
  // toFixed switches to exponent notation from 1e21 on; such doubles are integers.
  return `${BigInt(rounded).toString()}.${"0".repeat(decimals)}`;
}

/** pct(d) = |d| × 100 with exactly one decimal. */
export function pct(delta: number): string {
  return fixedDecimals(Math.abs(delta) * 100, 1);
}

/** mtok(n) = n / 1,000,000 with exactly two decimals. */
export function mtok(tokens: number): string {
  return fixedDecimals(tokens / 1_000_000, 2);
}

// ---------------------------------------------------------------------------------------------
// UTC days as integers (days since 1970-01-01), so windows can be walked with plain arithmetic.

/** Day number of a `YYYY-MM-DD` UTC day. */
export function dayNumber(day: string): number {
  const d = new Date(0);
  d.setUTCFullYear(Number(day.slice(0, 4)), Number(day.slice(5, 7)) - 1, Number(day.slice(8, 10)));
  return Math.round(d.getTime() / DAY_MS);
}

/** `YYYY-MM-DD` of a day number. */
export function dayText(n: number): string {
  return utcDay(n * DAY_MS);
}

/** Day number of the UTC day containing an instant. */
export function dayOfInstant(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

/** ISO-8601 week-numbering year and week of a day number. */
export function isoWeek(n: number): { year: number; week: number } {
  const weekday = ((((n + 3) % 7) + 7) % 7) + 1; // 1 = Monday … 7 = Sunday (day 0 was a Thursday)
  const thursday = n - weekday + 4;
  const year = new Date(thursday * DAY_MS).getUTCFullYear();
  const jan1 = new Date(0);
  jan1.setUTCFullYear(year, 0, 1);
  const week = Math.floor((thursday - Math.round(jan1.getTime() / DAY_MS)) / 7) + 1;
  return { year, week };
}

/** `<ISO year>-<ISO week, 2 digits>` of a day number. */
export function isoWeekLabel(n: number): string {
  const { year, week } = isoWeek(n);
  return `${String(year).padStart(4, "0")}-${String(week).padStart(2, "0")}`;
}

// ---------------------------------------------------------------------------------------------
// §12.1 sprints

/** Totals of one (UTC day, provider) group of runs, as the store sums them. */
export interface DayProviderGroup {
  day: string;
  provider_id: string;
  runs: number;
  tokens_in: number;
  tokens_out: number;
  /** Σ duration_ms (= the group's mean latency × runs). */
  duration_ms: number;
  successes: number;
  /** Σ of the known costs, unrounded (null when every cost is unknown). */
  cost_usd: number | null;
}

/** Per-day totals across providers. */
export interface DailyTotals {
  day: number;
  runs: number;
  tokensIn: number;
  tokensOut: number;
  durationMs: number;
  successes: number;
  /** Σ of the providers' group costs, each rounded to 6 decimals (the timeseries points' costs). */
  cost: number;
}

/** Sums the timeseries points of §10.4 per day across providers; ascending by day. */
export function dailyTotals(groups: readonly DayProviderGroup[]): DailyTotals[] {
  const byDay = new Map<number, DailyTotals>();
  for (const g of groups) {
    const day = dayNumber(g.day);
    let t = byDay.get(day);
    if (t === undefined) {
      t = { day, runs: 0, tokensIn: 0, tokensOut: 0, durationMs: 0, successes: 0, cost: 0 };
      byDay.set(day, t);
    }
    t.runs += g.runs;
    t.tokensIn += g.tokens_in;
    t.tokensOut += g.tokens_out;
    t.durationMs += g.duration_ms;
    t.successes += g.successes;
    t.cost += roundHalfEven(g.cost_usd ?? 0, 6);
  }
  return [...byDay.values()].sort((a, b) => a.day - b.day);
}

export interface SprintOptions {
  /** The `start`/`end` query bounds as epoch ms, when given. */
  startMs: number | undefined;
  endMs: number | undefined;
  windowDays: number;
  limit: number;
}

export interface SprintReport {
  id: string;
  name: string;
  period_start: string;
  period_end: string;
  total_cost_usd: number;
  total_tokens_in: number;
  total_tokens_out: number;
  avg_latency_ms: number;
  success_rate: number;
  cost_delta: number;
  status: ReportStatus;
  summary: string;
}

/** One contiguous window of days, both ends inclusive. */
export interface DayWindow {
  first: number;
  last: number;
}

/**
 * The report windows of §12.1 steps 2–3, newest first: walking back from RE in steps of W days,
 * clipped at RS, keeping the windows that hold a data day, at most `limit`. `dataDays` ascending.
 */
export function sprintWindows(dataDays: readonly number[], rangeStart: number, rangeEnd: number, windowDays: number, limit: number): DayWindow[] {
  const windows: DayWindow[] = [];
  let i = dataDays.length - 1;
  let cur = rangeEnd;
  while (windows.length < limit && cur >= rangeStart) {
    // The newest data day not after cur; windows before it would be empty (skipped), so jump to
    // the window of the walk that contains it.
    while (i >= 0 && dataDays[i] > cur) i -= 1;
    if (i < 0 || dataDays[i] < rangeStart) break;
    cur = rangeEnd - Math.floor((rangeEnd - dataDays[i]) / windowDays) * windowDays;
    const first = Math.max(rangeStart, cur - (windowDays - 1));
    windows.push({ first, last: cur });
    cur = first - 1;
  }
  return windows;
}

/** The sprint reports of §12.1 (steps 2–8) from the per-day totals (ascending by day). */
export function sprintReports(days: readonly DailyTotals[], opts: SprintOptions): SprintReport[] {
  if (days.length === 0) return [];
  const W = opts.windowDays;
  const firstDay = days[0].day;
  const lastDay = days[days.length - 1].day;
  const startDay = opts.startMs === undefined ? undefined : dayOfInstant(opts.startMs);
  const endDay = opts.endMs === undefined ? undefined : dayOfInstant(opts.endMs);
  const rangeStart = startDay === undefined ? firstDay : Math.max(startDay, firstDay);
  const rangeEnd = Math.max(rangeStart, endDay === undefined ? lastDay : Math.min(endDay, lastDay));

  const sumIn = (from: number, to: number): DailyTotals[] => days.filter((d) => d.day >= from && d.day <= to);
  const windows = sprintWindows(
    days.map((d) => d.day),
    rangeStart,
    rangeEnd,
    W,
    opts.limit,
  );

  return windows.map((w, index) => {
    const inWindow = sumIn(w.first, w.last);
    let runs = 0;
    let tokensIn = 0;
    let tokensOut = 0;
    let durationMs = 0;
    let successes = 0;
    let cost = 0;
    for (const d of inWindow) {
      runs += d.runs;
      tokensIn += d.tokensIn;
      tokensOut += d.tokensOut;
      durationMs += d.durationMs;
      successes += d.successes;
      cost += d.cost;
    }
    const totalCost = roundHalfEven(cost, 6);

    // Previous window: the W days ending the day before, clipped to start's date when given.
    const prevLast = w.first - 1;
    const prevFirst = startDay === undefined ? prevLast - (W - 1) : Math.max(startDay, prevLast - (W - 1));
    let previous = 0;
    if (prevLast >= firstDay) {
      for (const d of sumIn(prevFirst, prevLast)) previous += d.cost;
    }
    previous = roundHalfEven(previous, 6);
    const delta = previous > 0 ? (totalCost - previous) / previous : 0;

    const label = isoWeekLabel(w.last);
    const periodStart = dayText(w.first);
    const periodEnd = dayText(w.last);
    return {
      id: `sprint-${label}-${index + 1}`,
      name: `Sprint ${label}`,
      period_start: periodStart,
      period_end: periodEnd,
      total_cost_usd: totalCost,
      total_tokens_in: tokensIn,
      total_tokens_out: tokensOut,
      avg_latency_ms: runs > 0 ? durationMs / runs : 0,
      success_rate: runs > 0 ? successes / runs : 0,
      cost_delta: delta,
      status: statusOf(delta),
      summary: sprintSummary(delta, tokensIn + tokensOut, periodStart, periodEnd),
    };
  });
}

export function sprintSummary(delta: number, tokens: number, periodStart: string, periodEnd: string): string {
  const period = `${periodStart} ${EN_DASH} ${periodEnd}`;
  if (delta === 0) return `Custo estável no período ${period} com ${mtok(tokens)} mi tokens processados.`;
  const direction = delta > 0 ? "Alta" : "Queda";
  return `${direction} de ${pct(delta)}% no custo versus sprint anterior e ${mtok(tokens)} mi tokens no período ${period}.`;
}

// ---------------------------------------------------------------------------------------------
// §12.2 pull requests

/** An inclusive range of instants in the stored text form (text order = chronological). */
export interface StoredRange {
  from: string;
  to: string;
}

function storedRange(fromMs: number, toMs: number): StoredRange | null {
  const from = Math.max(fromMs, MIN_INSTANT_MS);
  const to = Math.min(toMs, MAX_INSTANT_MS);
  return from > to ? null : { from: toStoredInstant(from), to: toStoredInstant(to) };
}

/**
 * Selection window [S, E] on merged_at: E = end or now; S = start or E − W × limit days.
 * null when it holds no instant.
 */
export function selectionRange(
  startMs: number | undefined,
  endMs: number | undefined,
  nowMs: number,
  windowDays: number,
  limit: number,
): StoredRange | null {
  const end = endMs ?? nowMs;
  const start = startMs ?? end - windowDays * limit * DAY_MS;
  return storedRange(start, end);
}

/**
 * The run windows of one merged pull request: before = [m − W days, m), after = [m, m + W days)
 * clipped at now (inclusive). Each is null when it holds no instant.
 */
export function impactWindows(mergedMs: number, windowDays: number, nowMs: number): { before: StoredRange | null; after: StoredRange | null } {
  const span = windowDays * DAY_MS;
  return {
    before: storedRange(mergedMs - span, mergedMs - 1),
    after: storedRange(mergedMs, Math.min(mergedMs + span - 1, nowMs)),
  };
}

/** Totals of the matching runs of one window. */
export interface WindowTotals {
  /** Σ of the known costs, unrounded. */
  cost: number;
  /** Σ tokens_in + tokens_out. */
  tokens: number;
}

export interface PullRequestRecord {
  id: string;
  title: string;
  owner: string;
  merged_at_ms: number;
  provider_id: string;
  route: string | null;
}

export interface PullRequestReport {
  id: string;
  provider_id: string;
  provider_name: string;
  route: string | null;
  lane: string | null;
  title: string;
  owner: string;
  merged_at: string;
  cost_impact_usd: number;
  cost_delta: number;
  tokens_impact: number;
  status: ReportStatus;
  summary: string;
}

/** The report of one pull request; provider = its manifest entry, or null when not in the manifest. */
export function pullRequestReport(
  pr: PullRequestRecord,
  before: WindowTotals,
  after: WindowTotals,
  provider: { name: string; lane: string } | null,
): PullRequestReport {
  const beforeCost = roundHalfEven(before.cost, 6);
  const afterCost = roundHalfEven(after.cost, 6);
  const delta = beforeCost > 0 ? (afterCost - beforeCost) / beforeCost : 0;
  const providerName = provider?.name ?? pr.provider_id;
  return {
    id: pr.id,
    provider_id: pr.provider_id,
    provider_name: providerName,
    route: pr.route,
    lane: provider?.lane ?? null,
    title: pr.title,
    owner: pr.owner,
    merged_at: formatInstant(pr.merged_at_ms),
    cost_impact_usd: roundHalfEven(afterCost - beforeCost, 6),
    cost_delta: delta,
    tokens_impact: after.tokens - before.tokens,
    status: statusOf(delta),
    summary: pullRequestSummary(delta, pr.route ?? "default", providerName),
  };
}

export function pullRequestSummary(delta: number, route: string, providerName: string): string {
  if (delta > 0) return `Alta de ${pct(delta)}% no custo da rota ${route} (${providerName}) em relação ao período anterior.`;
  if (delta < 0) return `Queda de ${pct(delta)}% no custo da rota ${route} (${providerName}) frente ao período anterior.`;
  return `Custo estável para a rota ${route} (${providerName}) quando comparado ao período anterior.`;
}
