/**
 * lib/time.ts: the datetime forms of contract §6.2, the stored form and the output form of §1.2.
 */
import {
  formatInstant,
  formatStoredInstant,
  MAX_INSTANT_MS,
  MIN_INSTANT_MS,
  parseDatetime,
  storedToMs,
  toStoredInstant,
  utcDay,
} from "../../lib/time";

const BASE = Date.UTC(2025, 2, 7, 21, 45, 12); // 2025-03-07T21:45:12Z

describe("parseDatetime: accepted ISO forms", () => {
  it.each([
    ["2025-03-07T21:45:12Z", BASE],
    ["2025-03-07T21:45:12z", BASE],
    ["2025-03-07 21:45:12Z", BASE],
    ["2025-03-07T21:45:12", BASE], // naive → UTC
    ["2025-03-07 21:45:12", BASE],
    ["2025-03-07T21:45Z", BASE - 12000],
    ["2025-03-07T21:45", BASE - 12000],
    ["2025-03-07T21:45:12.5Z", BASE + 500],
    ["2025-03-07T21:45:12.34Z", BASE + 340],
    ["2025-03-07T21:45:12.345Z", BASE + 345],
    ["2025-03-07T21:45:12.3456Z", BASE + 345],
    ["2025-03-07T21:45:12.34567Z", BASE + 345],
    ["2025-03-07T21:45:12.999999Z", BASE + 999], // 6 digits, truncated to ms (not rounded)
    ["2025-03-07T21:45:12.000001", BASE],
    ["2025-03-07", Date.UTC(2025, 2, 7)],
    ["2024-02-29T00:00:00Z", Date.UTC(2024, 1, 29)],
  ])("%s", (text, ms) => {
    expect(parseDatetime(text)).toBe(ms);
  });

  it.each([
    ["2025-03-07T23:45:12+02:00", BASE],
    ["2025-03-07T23:45:12+0200", BASE],
    ["2025-03-07T18:15:12-03:30", BASE],
    ["2025-03-07T18:15:12-0330", BASE],
    ["2025-03-07T21:45:12+00:00", BASE],
    ["2025-03-07T21:45:12-00:00", BASE],
    ["2025-03-08T03:30:12.250+05:45", BASE + 250],
    ["2025-03-07 23:45+02:00", BASE - 12000],
    ["2025-03-08T07:45:12+10:00", BASE], // crosses the UTC day
  ])("offset %s is converted to UTC", (text, ms) => {
    expect(parseDatetime(text)).toBe(ms);
  });
});

describe("parseDatetime: epoch numbers", () => {
  it("reads seconds up to 2e10 and milliseconds above", () => {
    expect(parseDatetime(1741383912)).toBe(BASE);
    expect(parseDatetime("1741383912")).toBe(BASE);
    expect(parseDatetime(BASE)).toBe(BASE);
    expect(parseDatetime(String(BASE))).toBe(BASE);
    expect(parseDatetime(2e10)).toBe(2e13); // exactly 2e10 is still seconds
    expect(parseDatetime("20000000000")).toBe(2e13);
    expect(parseDatetime(2e10 + 1)).toBe(2e10 + 1); // above: milliseconds
    expect(parseDatetime("20000000001")).toBe(20000000001);
  });

  it("reads fractions and signs", () => {
    expect(parseDatetime("1741383912.5")).toBe(BASE + 500);
    expect(parseDatetime(1741383912.2509)).toBe(BASE + 250);
    expect(parseDatetime("0")).toBe(0);
    expect(parseDatetime("-86400")).toBe(-86400000);
    expect(parseDatetime("+60")).toBe(60000);
    expect(parseDatetime(".5")).toBe(500);
  });

  it("keeps every millisecond digit of a fractional seconds value (no binary rounding loss)", () => {
    // 259.001 × 1000 is 259000.99999999997 in doubles: the digits must be read as written.
    expect(parseDatetime("259.001")).toBe(259001);
    expect(parseDatetime(259.001)).toBe(259001);
    expect(parseDatetime("1.005")).toBe(1005);
    expect(parseDatetime(1.005)).toBe(1005);
    expect(parseDatetime("-259.001")).toBe(-259001);
    expect(parseDatetime("259.0019")).toBe(259001);
    expect(parseDatetime("20000000001.9")).toBe(20000000001);
    const wrong: string[] = [];
    for (let sec = 0; sec < 3000; sec += 37) {
      for (let ms = 0; ms < 1000; ms += 1) {
        const text = `${sec}.${String(ms).padStart(3, "0")}`;
        if (parseDatetime(text) !== sec * 1000 + ms || parseDatetime(Number(text)) !== sec * 1000 + ms) wrong.push(text);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("rejects non-finite and out-of-range numbers", () => {
    expect(parseDatetime(Number.NaN)).toBeNull();
    expect(parseDatetime(Number.POSITIVE_INFINITY)).toBeNull();
    expect(parseDatetime(1e300)).toBeNull();
    expect(parseDatetime("1e5")).toBeNull();
  });
});

describe("parseDatetime: rejected values", () => {
  it.each([
    "not-a-date",
    "2025-13-45T00:00:00Z",
    "2025-02-30T00:00:00Z",
    "2025-02-29",
    "2025-00-10",
    "2025-04-31T00:00:00Z",
    "2025-03-07T24:00:00Z",
    "2025-03-07T23:60:00Z",
    "2025-03-07T23:59:60Z",
    "",
    " ",
    "2025-03-07T21:45:12.1234567Z",
    "2025-03-07T21:45:12.Z",
    "2025-03-07T21",
    "2025-03-07T21:45:12+2",
    "2025-03-07T21:45:12+24:00",
    "2025-03-07T21:45:12+05:60",
    "2025-03-07T21:45:12 UTC",
    "25-03-07",
    "2025/03/07",
    "0000-01-01T00:00:00Z",
  ])("%j", (text) => {
    expect(parseDatetime(text)).toBeNull();
  });

  it.each([null, undefined, true, {}, [], ["2025-03-07"]])("non-string, non-number %j", (value) => {
    expect(parseDatetime(value)).toBeNull();
  });
});

describe("years 0001 and 9999", () => {
  it("parses and formats the extremes", () => {
    const min = parseDatetime("0001-01-01T00:00:00Z");
    const max = parseDatetime("9999-12-31T23:59:59Z");
    expect(min).toBe(MIN_INSTANT_MS);
    expect(max).toBe(MAX_INSTANT_MS - 999);
    expect(formatInstant(min as number)).toBe("0001-01-01T00:00:00Z");
    expect(formatInstant(max as number)).toBe("9999-12-31T23:59:59Z");
    expect(toStoredInstant(min as number)).toBe("0001-01-01T00:00:00.000Z");
    expect(parseDatetime("0099-06-15")).not.toBeNull();
    expect(formatInstant(parseDatetime("0099-06-15T10:00:00Z") as number)).toBe("0099-06-15T10:00:00Z");
    expect(parseDatetime("9999-12-31T23:59:59.999999Z")).toBe(MAX_INSTANT_MS);
  });

  it("rejects instants an offset moves outside 0001..9999", () => {
    expect(parseDatetime("0001-01-01T00:00:00+01:00")).toBeNull();
    expect(parseDatetime("9999-12-31T23:30:00-01:00")).toBeNull();
  });
});

describe("stored and output forms", () => {
  it("stores the fixed-width text form whose order is chronological", () => {
    expect(toStoredInstant(BASE)).toBe("2025-03-07T21:45:12.000Z");
    expect(toStoredInstant(BASE + 7)).toBe("2025-03-07T21:45:12.007Z");
    const instants = [MIN_INSTANT_MS, Date.UTC(999, 0, 1), 0, BASE, BASE + 1, MAX_INSTANT_MS].map(toStoredInstant);
    expect(instants.every((s) => s.length === 24)).toBe(true);
    expect([...instants].sort()).toEqual(instants);
  });

  it("writes seconds always and the milliseconds only when non-zero", () => {
    expect(formatInstant(BASE)).toBe("2025-03-07T21:45:12Z");
    expect(formatInstant(BASE + 345)).toBe("2025-03-07T21:45:12.345Z");
    expect(formatInstant(BASE + 10)).toBe("2025-03-07T21:45:12.010Z");
    expect(formatInstant(Date.UTC(2025, 0, 1))).toBe("2025-01-01T00:00:00Z");
    expect(formatStoredInstant("2025-03-07T21:45:12.000Z")).toBe("2025-03-07T21:45:12Z");
    expect(formatStoredInstant("2025-03-07T21:45:12.100Z")).toBe("2025-03-07T21:45:12.100Z");
  });

  it("round-trips stored instants", () => {
    for (const ms of [MIN_INSTANT_MS, 0, BASE + 345, MAX_INSTANT_MS]) {
      expect(storedToMs(toStoredInstant(ms))).toBe(ms);
      expect(parseDatetime(formatInstant(ms))).toBe(ms);
    }
    expect(() => storedToMs("garbage")).toThrow();
  });

  it("gives the UTC calendar day", () => {
    expect(utcDay(BASE)).toBe("2025-03-07");
    expect(utcDay(parseDatetime("2025-03-07T23:30:00-03:00") as number)).toBe("2025-03-08");
    expect(utcDay(Date.UTC(2025, 2, 7, 23, 59, 59, 999))).toBe("2025-03-07");
  });
});
