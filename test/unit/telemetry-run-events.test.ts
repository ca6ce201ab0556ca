/**
 * services/telemetry/run-events.ts: one ingestion transaction becomes Run items up to
 * RUN_EVENTS_MAX runs, a summary beyond (runtime-contract §23.1 `run` / `runs`).
 */
import { RUN_EVENTS_MAX, RUN_EVENTS_MAX_METADATA_CHARS, runsRecordedPayload, SUMMARY_PROVIDERS_MAX } from "../../services/telemetry/run-events";
import { rowFromRun, validateIngestBody } from "../../services/telemetry/store/run";

function rows(n: number, provider: (i: number) => string, metadata: Record<string, unknown> = {}) {
  const now = Date.parse("2026-01-02T00:00:00Z");
  const runs = validateIngestBody({ runs: Array.from({ length: n }, (_, i) => ({ provider_id: provider(i), ts: now + i * 1000, metadata })) }, now);
  return runs.map((r) => rowFromRun(r, now));
}

describe("runsRecordedPayload", () => {
  it("carries the Run items of a small transaction", () => {
    const r = rows(RUN_EVENTS_MAX, (i) => `p${i % 2}`);
    const payload = runsRecordedPayload(
      r,
      r.map((_, i) => i + 10),
      new Map(),
    );
    expect("runs" in payload && payload.runs).toHaveLength(RUN_EVENTS_MAX);
    if (!("runs" in payload)) throw new Error("expected runs");
    expect(payload.runs[1]).toMatchObject({ id: 11, provider_id: "p1", provider_name: "p1", ts: "2026-01-02T00:00:01Z" });
  });

  it("summarises a small one whose metadata is large", () => {
    const big = rows(3, () => "p", { pad: "x".repeat(Math.ceil(RUN_EVENTS_MAX_METADATA_CHARS / 3)) });
    const payload = runsRecordedPayload(big, [1, 2, 3], new Map());
    expect("summary" in payload && payload.summary).toMatchObject({ count: 3, first_id: 1, last_id: 3, providers: [{ provider_id: "p", count: 3 }] });
    const fits = rows(3, () => "p", { pad: "x".repeat(1000) });
    expect("runs" in runsRecordedPayload(fits, [1, 2, 3], new Map())).toBe(true);
  });

  it("summarises a large one: count, id and time range, providers by runs (cut at the limit)", () => {
    const r = rows(5000, (i) => (i < 4000 ? "big" : `small${i % 150}`));
    const ids = r.map((_, i) => 5000 - i);
    const payload = runsRecordedPayload(r, ids, new Map());
    if (!("summary" in payload)) throw new Error("expected a summary");
    expect(payload.summary).toMatchObject({
      count: 5000,
      first_id: 1,
      last_id: 5000,
      start: "2026-01-02T00:00:00Z",
      end: "2026-01-02T01:23:19Z",
      provider_count: 151,
    });
    expect(payload.summary.providers).toHaveLength(SUMMARY_PROVIDERS_MAX);
    expect(payload.summary.providers[0]).toEqual({ provider_id: "big", count: 4000 });
    expect(JSON.stringify(payload).length).toBeLessThan(10_000);
  });
});
