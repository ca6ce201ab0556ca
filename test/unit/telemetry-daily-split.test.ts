/**
 * splitRangeByDays: which UTC days of a range the daily rollup serves and which instants are left
 * to the raw rows. Checked against a brute-force walk over every day of the range.
 */
import { InstantRange, splitRangeByDays } from "../../services/telemetry/store/daily";
import { MAX_INSTANT_MS, MIN_INSTANT_MS, toStoredInstant } from "../../lib/time";

const DAY = 86_400_000;
const at = (iso: string) => toStoredInstant(Date.parse(iso));

describe("splitRangeByDays", () => {
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
    const points = [-1, 0, 1, DAY / 2, DAY - 1, DAY, DAY + 1, 1.5 * DAY, 2 * DAY - 1, 2 * DAY, 2 * DAY + 1, 3 * DAY - 1].map(
      (o) => base + o,
    );
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
          const inDays =
            w !== null && (w.firstDay === undefined || day >= w.firstDay) && (w.lastDay === undefined || day <= w.lastDay);
          const inEdges = split.edges.filter(
            (g) => (g.startTs === undefined || ts >= g.startTs) && (g.endTs === undefined || ts <= g.endTs),
          ).length;
          if (inDays) {
            // A rollup day must lie wholly inside the range.
            const dayStart = Date.parse(`${day}T00:00:00.000Z`);
            expect({ range, day, whole: (s === undefined || dayStart >= s) && (e === undefined || dayStart + DAY - 1 <= e) })
              .toEqual({ range, day, whole: true });
          }
          expect({ range, ts, count: (inDays ? 1 : 0) + inEdges }).toEqual({ range, ts, count: inRange ? 1 : 0 });
        }
      }
    }
  });
});
