import {
  DAY_MS,
  DayProviderGroup,
  dailyTotals,
  dayNumber,
  dayText,
  fixedDecimals,
  impactWindows,
  isoWeek,
  isoWeekLabel,
  mtok,
  pct,
  pullRequestReport,
  selectionRange,
  sprintReports,
  sprintWindows,
  statusOf,
} from "../../services/finops/reports";
import { parseDatetime } from "../../lib/time";

const ms = (text: string): number => parseDatetime(text) as number;

describe("status rule (§5.3)", () => {
  it("uses inclusive thresholds 0.03 and 0.08", () => {
    expect(statusOf(-5)).toBe("on_track");
    expect(statusOf(0)).toBe("on_track");
    expect(statusOf(0.03)).toBe("on_track");
    expect(statusOf(0.030000000000000002)).toBe("attention");
    expect(statusOf(0.08)).toBe("attention");
    expect(statusOf(0.08000000000000002)).toBe("regression");
    expect(statusOf(0.1)).toBe("regression");
  });
});

describe("pct and mtok (§5.3)", () => {
  it("writes pct with one decimal of |d| × 100", () => {
    expect(pct(-1 / 6)).toBe("16.7");
    expect(pct(1)).toBe("100.0");
    expect(pct(-1)).toBe("100.0");
    expect(pct(0.65 / 1.1)).toBe("59.1");
    expect(pct(0)).toBe("0.0");
  });

  it("rounds exact ties to even and non-ties by their binary value", () => {
    // 0.0025 × 100 = 0.25 exactly → tie → 0.2; 0.0075 × 100 = 0.75 exactly → 0.8
    expect(pct(0.0025)).toBe("0.2");
    expect(pct(0.0075)).toBe("0.8");
    // 0.00125 → ×100 is 0.125 (exact in binary): tie at the 2nd decimal does not matter for 1 decimal
    expect(pct(0.00125)).toBe("0.1");
    expect(fixedDecimals(0.125, 2)).toBe("0.12");
    expect(fixedDecimals(2.675, 2)).toBe("2.67"); // binary value is below the tie
    expect(fixedDecimals(1e22, 1)).toBe("10000000000000000000000.0");
  });

  it("writes mtok with two decimals", () => {
    expect(mtok(6400)).toBe("0.01");
    expect(mtok(3000)).toBe("0.00");
    expect(mtok(125000)).toBe("0.12"); // 0.125 exact tie → even
    expect(mtok(135000)).toBe("0.14"); // 0.135 is stored above the tie
    expect(mtok(5000)).toBe("0.01"); // 0.005 is stored above the tie
    expect(mtok(12_345_678_901)).toBe("12345.68");
  });
});

describe("days and ISO weeks", () => {
  it("converts days both ways, including years 0001 and 9999", () => {
    expect(dayNumber("1970-01-01")).toBe(0);
    expect(dayNumber("2025-04-10")).toBe(ms("2025-04-10") / DAY_MS);
    for (const d of ["0001-01-01", "0099-12-31", "2024-02-29", "9999-12-31"]) expect(dayText(dayNumber(d))).toBe(d);
  });

  it("numbers weeks like ISO 8601 across year boundaries", () => {
    const week = (d: string) => isoWeek(dayNumber(d));
    expect(week("2025-04-10")).toEqual({ year: 2025, week: 15 });
    expect(week("2020-12-31")).toEqual({ year: 2020, week: 53 });
    expect(week("2021-01-03")).toEqual({ year: 2020, week: 53 }); // Sunday
    expect(week("2021-01-04")).toEqual({ year: 2021, week: 1 }); // Monday
    expect(week("2024-12-29")).toEqual({ year: 2024, week: 52 });
    expect(week("2024-12-30")).toEqual({ year: 2025, week: 1 }); // Monday of week 1 of 2025
    expect(week("2027-01-01")).toEqual({ year: 2026, week: 53 });
    expect(week("2027-01-04")).toEqual({ year: 2027, week: 1 });
    expect(isoWeekLabel(dayNumber("2025-01-05"))).toBe("2025-01");
    expect(isoWeekLabel(dayNumber("0001-01-01"))).toBe("0001-01"); // a Monday (proleptic Gregorian)
  });
});

describe("sprint windows", () => {
  const n = dayNumber;
  it("walks back from RE in W-day steps clipped at RS", () => {
    const days = [n("2025-04-01"), n("2025-04-05"), n("2025-04-10")];
    const w = sprintWindows(days, n("2025-04-01"), n("2025-04-10"), 3, 12).map((x) => [dayText(x.first), dayText(x.last)]);
    // windows: 08–10 (data), 05–07 (data), 02–04 (empty, skipped), 04-01 alone (clipped at RS)
    expect(w).toEqual([
      ["2025-04-08", "2025-04-10"],
      ["2025-04-05", "2025-04-07"],
      ["2025-04-01", "2025-04-01"],
    ]);
  });

  it("stops after limit reports and never counts skipped windows", () => {
    const days = [n("2025-01-01"), n("2025-03-01"), n("2025-04-10")];
    const w = sprintWindows(days, days[0], days[2], 7, 2);
    expect(w.map((x) => dayText(x.last))).toEqual(["2025-04-10", "2025-03-06"]);
    expect(w.map((x) => x.last - x.first)).toEqual([6, 6]);
  });

  it("jumps over long empty stretches keeping the window alignment", () => {
    const days = [n("0001-01-01"), n("9999-12-31")];
    const w = sprintWindows(days, days[0], days[1], 1, 12);
    expect(w.map((x) => [dayText(x.first), dayText(x.last)])).toEqual([
      ["9999-12-31", "9999-12-31"],
      ["0001-01-01", "0001-01-01"],
    ]);
    const w7 = sprintWindows(days, days[0], days[1], 7, 12);
    expect((days[1] - w7[1].last) % 7).toBe(0);
    expect(w7[1].first).toBe(days[0]);
  });
});

// The §12.1 worked example as the store groups it (one provider).
const EXAMPLE: DayProviderGroup[] = [
  { day: "2025-04-08", provider_id: "p", runs: 1, tokens_in: 1000, tokens_out: 500, duration_ms: 800, successes: 1, cost_usd: 1.0 },
  { day: "2025-04-09", provider_id: "p", runs: 1, tokens_in: 1000, tokens_out: 500, duration_ms: 800, successes: 1, cost_usd: 1.1 },
  { day: "2025-04-10", provider_id: "p", runs: 2, tokens_in: 2700, tokens_out: 1300, duration_ms: 1900, successes: 1, cost_usd: 1.75 },
  { day: "2025-04-11", provider_id: "p", runs: 1, tokens_in: 1700, tokens_out: 700, duration_ms: 900, successes: 0, cost_usd: null },
];

describe("sprint reports (§12.1 worked example)", () => {
  it("window_days=2, limit=3", () => {
    const r = sprintReports(dailyTotals(EXAMPLE), { startMs: undefined, endMs: undefined, windowDays: 2, limit: 3 });
    expect(r).toHaveLength(2);
    expect(r[0]).toMatchObject({
      id: "sprint-2025-15-1",
      name: "Sprint 2025-15",
      period_start: "2025-04-10",
      period_end: "2025-04-11",
      total_cost_usd: 1.75,
      total_tokens_in: 4400,
      total_tokens_out: 2000,
      status: "on_track",
      summary: "Queda de 16.7% no custo versus sprint anterior e 0.01 mi tokens no período 2025-04-10 \u2013 2025-04-11.",
    });
    expect(r[0].avg_latency_ms).toBeCloseTo(933.3333333, 6);
    expect(r[0].success_rate).toBeCloseTo(1 / 3, 12);
    expect(r[0].cost_delta).toBeCloseTo(-1 / 6, 12);
    expect(r[1]).toEqual({
      id: "sprint-2025-15-2",
      name: "Sprint 2025-15",
      period_start: "2025-04-08",
      period_end: "2025-04-09",
      total_cost_usd: 2.1,
      total_tokens_in: 2000,
      total_tokens_out: 1000,
      avg_latency_ms: 800,
      success_rate: 1,
      cost_delta: 0,
      status: "on_track",
      summary: "Custo estável no período 2025-04-08 \u2013 2025-04-09 com 0.00 mi tokens processados.",
    });
  });

  it("start/end with window_days=3, limit=2 clips the previous window", () => {
    // The store filters runs by start/end: the 04-08 run is before start.
    const r = sprintReports(dailyTotals(EXAMPLE.slice(1)), {
      startMs: ms("2025-04-09T12:00:00Z"),
      endMs: ms("2025-04-11T12:00:00Z"),
      windowDays: 3,
      limit: 2,
    });
    expect(r).toEqual([
      {
        id: "sprint-2025-15-1",
        name: "Sprint 2025-15",
        period_start: "2025-04-09",
        period_end: "2025-04-11",
        total_cost_usd: 2.85,
        total_tokens_in: 5400,
        total_tokens_out: 2500,
        avg_latency_ms: 900,
        success_rate: 0.5,
        cost_delta: 0,
        status: "on_track",
        summary: "Custo estável no período 2025-04-09 \u2013 2025-04-11 com 0.01 mi tokens processados.",
      },
    ]);
  });

  it("window_days=1, limit=12 keeps the zero-cost day that has a run", () => {
    const r = sprintReports(dailyTotals(EXAMPLE), { startMs: undefined, endMs: undefined, windowDays: 1, limit: 12 });
    expect(r.map((x) => x.period_end)).toEqual(["2025-04-11", "2025-04-10", "2025-04-09", "2025-04-08"]);
    expect(r.map((x) => x.id)).toEqual(["sprint-2025-15-1", "sprint-2025-15-2", "sprint-2025-15-3", "sprint-2025-15-4"]);
    expect(r[0].cost_delta).toBe(-1);
    expect(r[1].cost_delta).toBeCloseTo(0.590909090909, 10);
    expect(r[2].cost_delta).toBeCloseTo(0.1, 12);
    expect(r[3].cost_delta).toBe(0);
    expect(r.map((x) => x.status)).toEqual(["on_track", "regression", "regression", "on_track"]);
    expect(r[0].summary.startsWith("Queda de 100.0% no custo versus sprint anterior")).toBe(true);
    expect(r[1].summary.startsWith("Alta de 59.1%")).toBe(true);
    expect(r[2].summary.startsWith("Alta de 10.0%")).toBe(true);
    expect(r[3].summary.startsWith("Custo estável")).toBe(true);
  });

  it("sums per day the providers' costs each rounded to 6 decimals", () => {
    const t = dailyTotals([
      { day: "2025-04-08", provider_id: "a", runs: 1, tokens_in: 1, tokens_out: 1, duration_ms: 10, successes: 1, cost_usd: 0.0000004 },
      { day: "2025-04-08", provider_id: "b", runs: 1, tokens_in: 1, tokens_out: 1, duration_ms: 30, successes: 0, cost_usd: 0.0000004 },
    ]);
    expect(t).toHaveLength(1);
    expect(t[0].cost).toBe(0); // each rounds to 0, although their sum 0.0000008 would round to 0.000001
    expect(t[0].runs).toBe(2);
    expect(t[0].durationMs).toBe(40);
  });

  it("uses the window end date for the ISO week across a year boundary", () => {
    const r = sprintReports(
      dailyTotals([
        { day: "2024-12-28", provider_id: "a", runs: 1, tokens_in: 0, tokens_out: 0, duration_ms: 1, successes: 1, cost_usd: 1 },
        { day: "2024-12-31", provider_id: "a", runs: 1, tokens_in: 0, tokens_out: 0, duration_ms: 1, successes: 1, cost_usd: 1.05 },
      ]),
      { startMs: undefined, endMs: undefined, windowDays: 3, limit: 4 },
    );
    expect(r.map((x) => [x.id, x.period_start, x.period_end])).toEqual([
      ["sprint-2025-01-1", "2024-12-29", "2024-12-31"],
      ["sprint-2024-52-2", "2024-12-28", "2024-12-28"],
    ]);
    expect(r[0].cost_delta).toBeCloseTo(0.05, 12);
    expect(r[0].status).toBe("attention");
  });

  it("answers nothing without data", () => {
    expect(sprintReports([], { startMs: undefined, endMs: undefined, windowDays: 7, limit: 4 })).toEqual([]);
  });
});

describe("pull-request windows and reports (§12.2)", () => {
  it("defaults the selection window to E − W × limit days", () => {
    const now = ms("2025-04-30T00:00:00Z");
    expect(selectionRange(undefined, undefined, now, 7, 4)).toEqual({
      from: "2025-04-02T00:00:00.000Z",
      to: "2025-04-30T00:00:00.000Z",
    });
    expect(selectionRange(undefined, ms("2025-04-10T00:00:00Z"), now, 1, 1)?.from).toBe("2025-04-09T00:00:00.000Z");
    expect(selectionRange(ms("2025-04-01T00:00:00Z"), undefined, now, 7, 4)?.from).toBe("2025-04-01T00:00:00.000Z");
    expect(selectionRange(ms("2025-05-01T00:00:00Z"), undefined, now, 7, 4)).toBeNull();
    expect(selectionRange(undefined, ms("0001-01-02T00:00:00Z"), now, 90, 12)?.from).toBe("0001-01-01T00:00:00.000Z");
  });

  it("splits before/after at the merge instant and clips after at now", () => {
    const m = ms("2025-04-10T00:00:00Z");
    expect(impactWindows(m, 7, ms("2025-05-01T00:00:00Z"))).toEqual({
      before: { from: "2025-04-03T00:00:00.000Z", to: "2025-04-09T23:59:59.999Z" },
      after: { from: "2025-04-10T00:00:00.000Z", to: "2025-04-16T23:59:59.999Z" },
    });
    expect(impactWindows(m, 7, ms("2025-04-12T08:00:00Z")).after).toEqual({
      from: "2025-04-10T00:00:00.000Z",
      to: "2025-04-12T08:00:00.000Z",
    });
    expect(impactWindows(m, 7, m - 1).after).toBeNull();
  });

  it("reproduces the pr-42 worked example", () => {
    const report = pullRequestReport(
      { id: "pr-42", title: "t", owner: "o", merged_at_ms: ms("2025-04-10T00:00:00Z"), provider_id: "gemini", route: "chat" },
      { cost: 2 + 2, tokens: 4000 },
      { cost: 1.5 + 1.5, tokens: 3000 },
      { name: "Gemini MCP", lane: "balanced" },
    );
    expect(report).toEqual({
      id: "pr-42",
      provider_id: "gemini",
      provider_name: "Gemini MCP",
      route: "chat",
      lane: "balanced",
      title: "t",
      owner: "o",
      merged_at: "2025-04-10T00:00:00Z",
      cost_impact_usd: -1,
      cost_delta: -0.25,
      tokens_impact: -1000,
      status: "on_track",
      summary: "Queda de 25.0% no custo da rota chat (Gemini MCP) frente ao período anterior.",
    });
  });

  it("falls back to the provider id, null lane and route 'default'", () => {
    const pr = { id: "x", title: "t", owner: "o", merged_at_ms: 0, provider_id: "ghost", route: null };
    const up = pullRequestReport(pr, { cost: 1, tokens: 10 }, { cost: 1.1, tokens: 5 }, null);
    expect(up).toMatchObject({ provider_name: "ghost", lane: null, route: null, cost_impact_usd: 0.1, tokens_impact: -5, status: "regression" });
    expect(up.summary).toBe("Alta de 10.0% no custo da rota default (ghost) em relação ao período anterior.");
    const flat = pullRequestReport(pr, { cost: 0, tokens: 0 }, { cost: 3, tokens: 7 }, null);
    expect(flat).toMatchObject({ cost_delta: 0, cost_impact_usd: 3, status: "on_track", tokens_impact: 7 });
    expect(flat.summary).toBe("Custo estável para a rota default (ghost) quando comparado ao período anterior.");
  });
});
