/**
 * splitRange (services/telemetry/store/levels.ts): which buckets of each rollup level a range reads
 * and which instants are left to the raw rows. First with the day level alone (whole days and
 * partial days), checked against a brute-force walk over every day of the range; then with every
 * level (days, hours, minutes, at most two partial minutes) over random ranges at millisecond
 * precision, checked piece by piece.
 */
import { seededRandom } from "../../lib/prng";
import { BucketSpan, DAY_LEVEL, InstantRange, LEVELS, RollupLevel, splitRange } from "../../services/telemetry/store/levels";
import { MAX_INSTANT_MS, MIN_INSTANT_MS, toStoredInstant } from "../../lib/time";

const DAY = 86_400_000;
const at = (iso: string) => toStoredInstant(Date.parse(iso));

/** The split over the day level alone, in the form {wholeDays, edges}. */
function splitRangeByDays(range: InstantRange): { wholeDays: { firstDay?: string; lastDay?: string } | null; edges: InstantRange[] } {
  const split = splitRange(range, [DAY_LEVEL]);
  expect(split.levels.length).toBeLessThanOrEqual(1);
  const spans = split.levels[0]?.spans ?? [];
  expect(spans.length).toBeLessThanOrEqual(1);
  if (spans.length === 0) return { wholeDays: null, edges: split.edges };
  const wholeDays: { firstDay?: string; lastDay?: string } = {};
  if (spans[0].first !== undefined) wholeDays.firstDay = spans[0].first;
  if (spans[0].last !== undefined) wholeDays.lastDay = spans[0].last;
  return { wholeDays, edges: split.edges };
}

describe("splitRange over the day level alone", () => {
  it("mid-day bounds: whole days between them, the two partial days as edges", () => {
    expect(splitRangeByDays({ startTs: at("2025-05-02T06:00:00.000Z"), endTs: at("2025-05-04T17:59:59.999Z") })).toEqual({
      wholeDays: { firstDay: "2025-05-03", lastDay: "2025-05-03" },
      edges: [
        { startTs: "2025-05-02T06:00:00.000Z", endTs: "2025-05-02T23:59:59.999Z" },
        { startTs: "2025-05-04T00:00:00.000Z", endTs: "2025-05-04T17:59:59.999Z" },
      ],
    });
  });

  it("a range covering whole days exactly has no edge", () => {
    expect(splitRangeByDays({ startTs: at("2025-05-02T00:00:00.000Z"), endTs: at("2025-05-04T23:59:59.999Z") })).toEqual({
      wholeDays: { firstDay: "2025-05-02", lastDay: "2025-05-04" },
      edges: [],
    });
    expect(splitRangeByDays({ startTs: at("2025-05-02T00:00:00.000Z"), endTs: at("2025-05-02T23:59:59.999Z") })).toEqual({
      wholeDays: { firstDay: "2025-05-02", lastDay: "2025-05-02" },
      edges: [],
    });
  });

  it("one millisecond short of a whole day at either end makes that day an edge", () => {
    expect(splitRangeByDays({ startTs: at("2025-05-02T00:00:00.001Z"), endTs: at("2025-05-04T23:59:59.998Z") })).toEqual({
      wholeDays: { firstDay: "2025-05-03", lastDay: "2025-05-03" },
      edges: [
        { startTs: "2025-05-02T00:00:00.001Z", endTs: "2025-05-02T23:59:59.999Z" },
        { startTs: "2025-05-04T00:00:00.000Z", endTs: "2025-05-04T23:59:59.998Z" },
      ],
    });
  });

  it("ranges without a whole day stay one raw range", () => {
    const inside = { startTs: at("2025-05-03T05:59:59.999Z"), endTs: at("2025-05-03T18:00:00.000Z") };
    expect(splitRangeByDays(inside)).toEqual({ wholeDays: null, edges: [inside] });
    const acrossMidnight = { startTs: at("2025-05-02T12:00:00.000Z"), endTs: at("2025-05-03T11:59:59.999Z") };
    expect(splitRangeByDays(acrossMidnight)).toEqual({ wholeDays: null, edges: [acrossMidnight] });
    const instant = { startTs: at("2025-05-03T00:00:00.000Z"), endTs: at("2025-05-03T00:00:00.000Z") };
    expect(splitRangeByDays(instant)).toEqual({ wholeDays: null, edges: [instant] });
  });

  it("absent bounds are unbounded day spans", () => {
    expect(splitRangeByDays({})).toEqual({ wholeDays: {}, edges: [] });
    expect(splitRangeByDays({ startTs: at("2025-05-03T12:00:00.000Z") })).toEqual({
      wholeDays: { firstDay: "2025-05-04" },
      edges: [{ startTs: "2025-05-03T12:00:00.000Z", endTs: "2025-05-03T23:59:59.999Z" }],
    });
    expect(splitRangeByDays({ endTs: at("2025-05-02T00:00:00.000Z") })).toEqual({
      wholeDays: { lastDay: "2025-05-01" },
      edges: [{ startTs: "2025-05-02T00:00:00.000Z", endTs: "2025-05-02T00:00:00.000Z" }],
    });
  });

  it("stays inside the storable instants at both ends", () => {
    const lastDayNoon = { startTs: toStoredInstant(MAX_INSTANT_MS - DAY / 2) };
    expect(splitRangeByDays(lastDayNoon)).toEqual({ wholeDays: null, edges: [lastDayNoon] });
    const firstDayNoon = { endTs: toStoredInstant(MIN_INSTANT_MS + DAY / 2) };
    expect(splitRangeByDays(firstDayNoon)).toEqual({ wholeDays: null, edges: [firstDayNoon] });
    expect(splitRangeByDays({ startTs: toStoredInstant(MIN_INSTANT_MS), endTs: toStoredInstant(MAX_INSTANT_MS) })).toEqual({
      wholeDays: { firstDay: "0001-01-01", lastDay: "9999-12-31" },
      edges: [],
    });
    // Before 1970 the day arithmetic works the same.
    expect(splitRangeByDays({ startTs: at("1969-12-30T12:00:00.000Z"), endTs: at("1969-12-31T23:59:59.999Z") })).toEqual({
      wholeDays: { firstDay: "1969-12-31", lastDay: "1969-12-31" },
      edges: [{ startTs: "1969-12-30T12:00:00.000Z", endTs: "1969-12-30T23:59:59.999Z" }],
    });
  });

  it("covers every instant of a range exactly once (brute force over sampled ranges)", () => {
    // Instants around three midnights; each range is checked instant by instant at the points
    // where a mistake could show: every bound, midnight ± 1 ms and noon of every day involved.
    const base = Date.parse("2025-05-02T00:00:00.000Z");
    const points = [-1, 0, 1, DAY / 2, DAY - 1, DAY, DAY + 1, 1.5 * DAY, 2 * DAY - 1, 2 * DAY, 2 * DAY + 1, 3 * DAY - 1].map((o) => base + o);
    const probes = [...new Set(points.flatMap((p) => [p - DAY, p - 1, p, p + 1, p + DAY]))];
    const bounds: (number | undefined)[] = [undefined, ...points];
    for (const s of bounds) {
      for (const e of bounds) {
        if (s !== undefined && e !== undefined && s > e) continue;
        const range: InstantRange = {};
        if (s !== undefined) range.startTs = toStoredInstant(s);
        if (e !== undefined) range.endTs = toStoredInstant(e);
        const split = splitRangeByDays(range);
        for (const p of probes) {
          const ts = toStoredInstant(p);
          const inRange = (s === undefined || p >= s) && (e === undefined || p <= e);
          const day = ts.slice(0, 10);
          const w = split.wholeDays;
          const inDays = w !== null && (w.firstDay === undefined || day >= w.firstDay) && (w.lastDay === undefined || day <= w.lastDay);
          const inEdges = split.edges.filter((g) => (g.startTs === undefined || ts >= g.startTs) && (g.endTs === undefined || ts <= g.endTs)).length;
          if (inDays) {
            // A rollup day must lie wholly inside the range.
            const dayStart = Date.parse(`${day}T00:00:00.000Z`);
            expect({ range, day, whole: (s === undefined || dayStart >= s) && (e === undefined || dayStart + DAY - 1 <= e) }).toEqual({
              range,
              day,
              whole: true,
            });
          }
          expect({ range, ts, count: (inDays ? 1 : 0) + inEdges }).toEqual({ range, ts, count: inRange ? 1 : 0 });
        }
      }
    }
  });
});

/** First and last ms of a bucket of a level. */
function bucketMs(level: RollupLevel, bucket: string): [number, number] {
  const text = level.name === "day" ? `${bucket}T00:00:00.000Z` : level.name === "hour" ? `${bucket}:00:00.000Z` : `${bucket}:00.000Z`;
  const start = Date.parse(text);
  return [start, start + level.ms - 1];
}

describe("splitRange over days, hours and minutes", () => {
  const base = Date.parse("2025-05-02T00:00:00.000Z");

  /** Checks one bounded split piece by piece; returns the pieces as [start, end] ms, in order. */
  function checkSplit(startMs: number, endMs: number): [number, number, string][] {
    const split = splitRange({ startTs: toStoredInstant(startMs), endTs: toStoredInstant(endMs) });
    const pieces: [number, number, string][] = [];
    const spansPerLevel = new Map(split.levels.map((l) => [l.level.name, l.spans] as const));
    // At most one span of days, two of hours and two of minutes; two raw edges.
    expect((spansPerLevel.get("day") ?? []).length).toBeLessThanOrEqual(1);
    expect((spansPerLevel.get("hour") ?? []).length).toBeLessThanOrEqual(2);
    expect((spansPerLevel.get("minute") ?? []).length).toBeLessThanOrEqual(2);
    expect(split.edges.length).toBeLessThanOrEqual(2);
    for (const { level, spans } of split.levels) {
      for (const span of spans as BucketSpan[]) {
        expect(span.first).toBeDefined();
        expect(span.last).toBeDefined();
        const [first] = bucketMs(level, span.first!);
        const [, last] = bucketMs(level, span.last!);
        expect(first).toBeLessThanOrEqual(last);
        pieces.push([first, last, level.name]);
      }
    }
    for (const edge of split.edges) {
      const s = Date.parse(edge.startTs!);
      const e = Date.parse(edge.endTs!);
      // No whole minute inside an edge: with two edges each is part of one minute; a single edge
      // (a range without a whole minute) is at most parts of two adjacent minutes.
      expect(Math.ceil(s / 60_000) * 60_000 + 59_999).toBeGreaterThan(e);
      if (split.edges.length === 2) expect(Math.floor(s / 60_000)).toBe(Math.floor(e / 60_000));
      pieces.push([s, e, "raw"]);
    }
    pieces.sort((a, b) => a[0] - b[0]);
    // Disjoint, contiguous, and together exactly [start, end].
    expect(pieces[0][0]).toBe(startMs);
    expect(pieces[pieces.length - 1][1]).toBe(endMs);
    for (let i = 1; i < pieces.length; i++) expect(pieces[i][0]).toBe(pieces[i - 1][1] + 1);
    // The finer a piece, the closer to an end: levels only get coarser towards the middle.
    const rank: Record<string, number> = { raw: 0, minute: 1, hour: 2, day: 3 };
    const peak = Math.max(...pieces.map((p) => rank[p[2]]));
    const top = pieces.findIndex((p) => rank[p[2]] === peak);
    for (let i = 1; i <= top; i++) expect(rank[pieces[i][2]]).toBeGreaterThanOrEqual(rank[pieces[i - 1][2]]);
    for (let i = top + 1; i < pieces.length; i++) expect(rank[pieces[i][2]]).toBeLessThanOrEqual(rank[pieces[i - 1][2]]);
    return pieces;
  }

  it("a range cut at arbitrary milliseconds: days, hours, minutes, two partial minutes", () => {
    const pieces = checkSplit(Date.parse("2025-05-02T13:47:12.345Z"), Date.parse("2025-05-05T02:03:59.998Z"));
    expect(pieces.map((p) => [toStoredInstant(p[0]), toStoredInstant(p[1]), p[2]])).toEqual([
      ["2025-05-02T13:47:12.345Z", "2025-05-02T13:47:59.999Z", "raw"],
      ["2025-05-02T13:48:00.000Z", "2025-05-02T13:59:59.999Z", "minute"],
      ["2025-05-02T14:00:00.000Z", "2025-05-02T23:59:59.999Z", "hour"],
      ["2025-05-03T00:00:00.000Z", "2025-05-04T23:59:59.999Z", "day"],
      ["2025-05-05T00:00:00.000Z", "2025-05-05T01:59:59.999Z", "hour"],
      ["2025-05-05T02:00:00.000Z", "2025-05-05T02:02:59.999Z", "minute"],
      ["2025-05-05T02:03:00.000Z", "2025-05-05T02:03:59.998Z", "raw"],
    ]);
  });

  it("the last 24 hours without an end: one partial minute, then minutes, hours and open days", () => {
    const split = splitRange({ startTs: "2025-05-02T13:47:12.345Z" });
    expect(split).toEqual({
      levels: [
        { level: LEVELS[0], spans: [{ first: "2025-05-03" }] },
        { level: LEVELS[1], spans: [{ first: "2025-05-02T14", last: "2025-05-02T23" }] },
        { level: LEVELS[2], spans: [{ first: "2025-05-02T13:48", last: "2025-05-02T13:59" }] },
      ],
      edges: [{ startTs: "2025-05-02T13:47:12.345Z", endTs: "2025-05-02T13:47:59.999Z" }],
    });
  });

  it("ranges inside one minute, one hour or one day use only the finer levels", () => {
    expect(splitRange({ startTs: "2025-05-02T13:47:12.345Z", endTs: "2025-05-02T13:47:59.999Z" })).toEqual({
      levels: [],
      edges: [{ startTs: "2025-05-02T13:47:12.345Z", endTs: "2025-05-02T13:47:59.999Z" }],
    });
    expect(splitRange({ startTs: "2025-05-02T13:00:00.000Z", endTs: "2025-05-02T13:59:59.999Z" })).toEqual({
      levels: [{ level: LEVELS[1], spans: [{ first: "2025-05-02T13", last: "2025-05-02T13" }] }],
      edges: [],
    });
    checkSplit(Date.parse("2025-05-02T00:00:00.001Z"), Date.parse("2025-05-02T23:59:59.998Z"));
  });

  it("covers random millisecond ranges exactly (500 ranges up to three days long)", () => {
    const rand = seededRandom(8);
    for (let i = 0; i < 500; i++) {
      const start = base + Math.floor(rand() * 2 * DAY);
      // Lengths from 0 ms to three days, most of them short enough to stay below a day or an hour.
      const scale = [1_000, 60_000, 3_600_000, DAY, 3 * DAY][Math.floor(rand() * 5)];
      checkSplit(start, start + Math.floor(rand() * scale));
    }
  });
});
