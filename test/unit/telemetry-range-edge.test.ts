/**
 * The raw edges of a range read and the rest of their minute (services/telemetry/store/range-read.ts
 * edgeRest): an edge is answered by its minute row when no run lies in the rest.
 */
import { edgeRest } from "../../services/telemetry/store/range-read";

describe("edgeRest", () => {
  it("gives the minute and the part after an edge that starts the minute (a window ending now)", () => {
    expect(edgeRest({ startTs: "2026-11-29T20:05:00.000Z", endTs: "2026-11-29T20:05:17.250Z" })).toEqual({
      bucket: "2026-11-29T20:05",
      outside: [{ startTs: "2026-11-29T20:05:17.251Z", endTs: "2026-11-29T20:05:59.999Z" }],
    });
  });

  it("gives the part before an edge that ends the minute (a window's start)", () => {
    expect(edgeRest({ startTs: "2026-11-28T20:05:17.250Z", endTs: "2026-11-28T20:05:59.999Z" })).toEqual({
      bucket: "2026-11-28T20:05",
      outside: [{ startTs: "2026-11-28T20:05:00.000Z", endTs: "2026-11-28T20:05:17.249Z" }],
    });
  });

  it("gives both parts of an edge inside one minute, and one-millisecond parts", () => {
    expect(edgeRest({ startTs: "2026-11-29T20:05:00.001Z", endTs: "2026-11-29T20:05:59.998Z" })?.outside).toEqual([
      { startTs: "2026-11-29T20:05:00.000Z", endTs: "2026-11-29T20:05:00.000Z" },
      { startTs: "2026-11-29T20:05:59.999Z", endTs: "2026-11-29T20:05:59.999Z" },
    ]);
  });

  it("gives nothing for unbounded edges, whole minutes, or edges across minutes", () => {
    expect(edgeRest({ startTs: "2026-11-29T20:05:01.000Z" })).toBeUndefined();
    expect(edgeRest({ endTs: "2026-11-29T20:05:01.000Z" })).toBeUndefined();
    expect(edgeRest({ startTs: "2026-11-29T20:05:00.000Z", endTs: "2026-11-29T20:05:59.999Z" })).toBeUndefined();
    expect(edgeRest({ startTs: "2026-11-29T20:05:30.000Z", endTs: "2026-11-29T20:06:10.000Z" })).toBeUndefined();
  });
});
