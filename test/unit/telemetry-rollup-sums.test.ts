/**
 * The daily rollup's per-batch sums (services/telemetry/store/rollups.ts, issue 7): exact integers at any
 * size, as numbers while safe and as bigints beyond 2^53 − 1.
 */
import { DAY_LEVEL } from "../../services/telemetry/store/levels";
import { addExact, rollupRows } from "../../services/telemetry/store/rollups";
import { rowFromRun, RunInput } from "../../services/telemetry/store/run";

const M = Number.MAX_SAFE_INTEGER;
const D = Date.parse("2025-05-10T00:00:00.000Z");

function run(tsMs: number, values: Partial<RunInput>): RunInput {
  return {
    provider_id: "gemini",
    tool: "t",
    route: "chat",
    tokens_in: 0,
    tokens_out: 0,
    duration_ms: 0,
    status: "success",
    cost_usd: null,
    metadata: {},
    ts_ms: tsMs,
    experiment_cohort: null,
    experiment_tag: null,
    ...values,
  };
}

describe("addExact", () => {
  it("adds safe integers as numbers and switches to bigint exactly where the sum leaves the safe range", () => {
    expect(addExact(2, 3)).toBe(5);
    expect(addExact(M - 1, 1)).toBe(M);
    expect(addExact(M, 1)).toBe(2n ** 53n);
    expect(addExact(M, M)).toBe(2n * BigInt(M));
    expect(addExact(-M, -1)).toBe(-(2n ** 53n));
    expect(addExact(2n ** 70n, -5)).toBe(2n ** 70n - 5n);
    // A double addition would have lost the 1: 2^53 + 1 is no double.
    expect(addExact(2 ** 52, 2 ** 52 + 1)).toBe(2n ** 53n + 1n);
  });
});

describe("rollupRows", () => {
  it("sums 1,100 runs at 2^53 − 1 exactly (the issue's example is 9,907,919,180,215,090,100 tokens)", () => {
    const runs = Array.from({ length: 1100 }, (_, i) =>
      rowFromRun(run(D + i * 1000, { tokens_in: M, tokens_out: M, duration_ms: M, metadata: { cache: { hit: true, tokens: M } } }), D),
    );
    const [row, ...rest] = rollupRows(DAY_LEVEL, runs);
    expect(rest).toEqual([]);
    const exact = 1100n * BigInt(M);
    expect(exact).toBe(9_907_919_180_215_090_100n);
    expect(row).toMatchObject({ run_count: 1100, tokens_in: exact, tokens_out: exact, duration_sum: exact, cached_tokens: exact });
  });

  it("keeps numbers while the sums stay safe, negative cached-token counts included", () => {
    const runs = [
      rowFromRun(run(D, { tokens_in: 7, metadata: { cache: { hit: true, tokens: M } } }), D),
      rowFromRun(run(D + 1, { tokens_in: 5, metadata: { cache: { hit: true, tokens: -M } } }), D),
      rowFromRun(run(D + 2, { tokens_in: M - 12, metadata: { cache: { hit: true, tokens: -M } } }), D),
    ];
    expect(rollupRows(DAY_LEVEL, runs)).toEqual([
      expect.objectContaining({ run_count: 3, tokens_in: M, tokens_out: 0, duration_sum: 0, cached_tokens: -M, cache_hits: 3 }),
    ]);
  });
});
