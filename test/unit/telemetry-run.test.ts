/**
 * The run format of services/telemetry/store/run.ts: §11.2 validation, status normalisation, the §10.2 error
 * category labels and cache rules, stored rows and Run items.
 */
import { ContractError, ValidationItem } from "../../lib/errors";
import {
  MAX_BATCH_RUNS,
  MAX_RUN_COST_USD,
  MAX_RUN_INTEGER,
  RunInput,
  cacheValues,
  errorCategory,
  errorLabel,
  normaliseStatus,
  rowFromRun,
  runItemFromRow,
  validateIngestBody,
  validateRun,
} from "../../services/telemetry/store/run";

const NOW = Date.UTC(2025, 3, 10, 12, 0, 0);

function valid(input: Record<string, unknown>): RunInput {
  const problems: ValidationItem[] = [];
  const run = validateRun(input, ["body"], { nowMs: NOW }, problems);
  expect(problems).toEqual([]);
  return run as RunInput;
}

function problemsOf(input: unknown, options: { requireTs?: boolean } = {}): ValidationItem[] {
  const problems: ValidationItem[] = [];
  const run = validateRun(input, ["body"], { nowMs: NOW, ...options }, problems);
  expect(run).toBeNull();
  return problems;
}

function ingestProblems(body: unknown): ValidationItem[] {
  try {
    validateIngestBody(body, NOW);
  } catch (err) {
    expect(err).toBeInstanceOf(ContractError);
    expect((err as ContractError).code).toBe(422);
    return (err as ContractError).data as ValidationItem[];
  }
  throw new Error("expected a 422");
}

describe("validateRun (§11.2)", () => {
  it("applies every default to a run with only provider_id", () => {
    expect(valid({ provider_id: "gemini" })).toEqual({
      provider_id: "gemini",
      tool: "unknown",
      route: null,
      tokens_in: 0,
      tokens_out: 0,
      duration_ms: 0,
      status: "unknown",
      cost_usd: null,
      metadata: {},
      ts_ms: NOW,
      experiment_cohort: null,
      experiment_tag: null,
    });
  });

  it("trims strings; blank optional strings become their defaults", () => {
    const run = valid({
      provider_id: "  codex ",
      tool: "  ",
      route: " \t",
      experiment_cohort: " a ",
      experiment_tag: "",
      status: "   ",
    });
    expect(run.provider_id).toBe("codex");
    expect(run.tool).toBe("unknown");
    expect(run.route).toBeNull();
    expect(run.experiment_cohort).toBe("a");
    expect(run.experiment_tag).toBeNull();
    expect(run.status).toBe("unknown");
    const nulls = valid({ provider_id: "p", tool: null, route: null, status: null, metadata: null, ts: null, cost_usd: null });
    expect(nulls).toMatchObject({ tool: "unknown", route: null, status: "unknown", metadata: {}, ts_ms: NOW, cost_usd: null });
  });

  it("requires provider_id: missing, null, blank, non-string and too long are 422", () => {
    expect(problemsOf({})).toEqual([expect.objectContaining({ type: "missing", loc: ["body", "provider_id"] })]);
    expect(problemsOf({ provider_id: null })[0]).toMatchObject({ type: "missing", loc: ["body", "provider_id"] });
    expect(problemsOf({ provider_id: "   " })[0]).toMatchObject({ type: "too_short", loc: ["body", "provider_id"] });
    expect(problemsOf({ provider_id: 12 })[0]).toMatchObject({ type: "string_type", loc: ["body", "provider_id"] });
    expect(problemsOf({ provider_id: "x".repeat(201) })[0]).toMatchObject({ type: "too_long", loc: ["body", "provider_id"] });
    // 200 characters after trimming are fine; characters are code points.
    expect(valid({ provider_id: ` ${"x".repeat(200)} ` }).provider_id).toHaveLength(200);
    expect(valid({ provider_id: "😀".repeat(200) }).provider_id).toBe("😀".repeat(200));
  });

  it("checks the length limits of the optional strings", () => {
    for (const [field, max] of [
      ["tool", 200],
      ["route", 200],
      ["status", 100],
      ["experiment_cohort", 200],
      ["experiment_tag", 200],
    ] as const) {
      expect(problemsOf({ provider_id: "p", [field]: "a".repeat(max + 1) })).toEqual([
        expect.objectContaining({ type: "too_long", loc: ["body", field] }),
      ]);
      expect(problemsOf({ provider_id: "p", [field]: 5 })).toEqual([expect.objectContaining({ type: "string_type", loc: ["body", field] })]);
      valid({ provider_id: "p", [field]: "a".repeat(max) });
    }
  });

  it("accepts integral JSON numbers only for tokens and durations, up to 2^53 − 1 (§11.2)", () => {
    expect(MAX_RUN_INTEGER).toBe(2 ** 53 - 1);
    const run = valid({ provider_id: "p", tokens_in: 5.0, tokens_out: 0, duration_ms: Number.MAX_SAFE_INTEGER });
    expect(run.tokens_in).toBe(5);
    expect(run.duration_ms).toBe(2 ** 53 - 1);
    for (const field of ["tokens_in", "tokens_out", "duration_ms"]) {
      for (const bad of [5.5, "5", null, true, [], {}]) {
        expect(problemsOf({ provider_id: "p", [field]: bad })).toEqual([expect.objectContaining({ type: "int_parsing", loc: ["body", field] })]);
      }
      expect(problemsOf({ provider_id: "p", [field]: -1 })).toEqual([expect.objectContaining({ type: "greater_than_equal", loc: ["body", field] })]);
      // Every value the contract allows is accepted, 10^9 (an earlier, narrower bound) included.
      for (const accepted of [1_000_000_001, 2 ** 53 - 1]) {
        expect(valid({ provider_id: "p", [field]: accepted })[field as "tokens_in"]).toBe(accepted);
      }
      for (const tooLarge of [2 ** 53, 1e300]) {
        expect(problemsOf({ provider_id: "p", [field]: tooLarge })).toEqual([
          {
            type: "less_than_equal",
            loc: ["body", field],
            msg: "Input should be less than or equal to 9007199254740991",
            input: tooLarge,
            ctx: { le: 2 ** 53 - 1 },
          },
        ]);
      }
    }
  });

  it("bounds cost_usd at 10^6 USD per run (issue 7: no cost sum can reach Infinity)", () => {
    expect(MAX_RUN_COST_USD).toBe(1e6);
    const atMax = valid({
      provider_id: "p",
      tokens_in: 2 ** 53 - 1,
      tokens_out: 2 ** 53 - 1,
      duration_ms: 2 ** 53 - 1,
      cost_usd: 1e6,
      metadata: { cache: { hit: true, tokens: 2 ** 53 - 1 } },
    });
    expect(rowFromRun(atMax, 0)).toMatchObject({
      tokens_in: 2 ** 53 - 1,
      tokens_out: 2 ** 53 - 1,
      duration_ms: 2 ** 53 - 1,
      cost_usd: 1e6,
      cached_tokens: 2 ** 53 - 1,
    });
    expect(valid({ provider_id: "p", cost_usd: "1000000" }).cost_usd).toBe(1e6);
    for (const cost of [1_000_000.01, "1000001", 1e308]) {
      expect(problemsOf({ provider_id: "p", cost_usd: cost })).toEqual([
        { type: "less_than_equal", loc: ["body", "cost_usd"], msg: "Input should be less than or equal to 1000000", input: cost, ctx: { le: 1e6 } },
      ]);
    }
    expect(ingestProblems({ runs: [{ provider_id: "p" }, { provider_id: "p", cost_usd: 1_000_000.000001 }] })).toEqual([
      expect.objectContaining({ type: "less_than_equal", loc: ["body", "runs", 1, "cost_usd"] }),
    ]);
  });

  it("never refuses a run for a large number in metadata: a cached-token count beyond 2^53 − 1 in magnitude is no count", () => {
    const M = 2 ** 53 - 1;
    // Within 2^53 − 1 in magnitude: a count, wherever the §10.2 rule finds it, negative ones included.
    expect(cacheValues(valid({ provider_id: "p", metadata: { cache: { hit: true, tokens: M } } }).metadata, 3).cached_tokens).toBe(M);
    expect(cacheValues(valid({ provider_id: "p", metadata: { cache: { hit: true, tokens: -M } } }).metadata, 3).cached_tokens).toBe(-M);
    expect(cacheValues(valid({ provider_id: "p", metadata: { cacheHitTokens: String(M) } }).metadata, 3).cached_tokens).toBe(M);
    // Beyond: ignored, so the rule goes on as if the key held no count (the next key, or tokens_out on a hit).
    const cases: [Record<string, unknown>, number, { cache_hit: number | null; cached_tokens: number }][] = [
      [{ cache: { hit: true, tokens: 2 ** 53 } }, 40, { cache_hit: 1, cached_tokens: 40 }],
      [{ cache: { hit: true, tokens: -(2 ** 53) } }, 40, { cache_hit: 1, cached_tokens: 40 }],
      [{ cache: { token_count: "5e20" } }, 40, { cache_hit: null, cached_tokens: 0 }],
      [{ cache: { hit: true, tokens: 1e300, token_count: 12 } }, 40, { cache_hit: 1, cached_tokens: 12 }],
      [{ cache_hit: true, cached_tokens: 1e308 }, 7, { cache_hit: 1, cached_tokens: 7 }],
      [{ cacheHitTokens: 1e300 }, 7, { cache_hit: null, cached_tokens: 0 }],
    ];
    for (const [metadata, tokensOut, expected] of cases) {
      expect(validateIngestBody({ runs: [{ provider_id: "p", tokens_out: tokensOut, metadata }] }, NOW)).toHaveLength(1);
      const run = valid({ provider_id: "p", tokens_out: tokensOut, metadata });
      expect(rowFromRun(run, 0)).toMatchObject(expected);
    }
    // Numbers elsewhere in metadata are the client's: any size.
    valid({ provider_id: "p", metadata: { tokens: 1e308, nested: { n: -1e308 }, big: 2 ** 80 } });
  });

  it("accepts a finite non-negative cost or null; numeric strings are numbers", () => {
    expect(valid({ provider_id: "p", cost_usd: 0 }).cost_usd).toBe(0);
    expect(valid({ provider_id: "p", cost_usd: 0.125 }).cost_usd).toBe(0.125);
    expect(valid({ provider_id: "p", cost_usd: "1.5" }).cost_usd).toBe(1.5);
    expect(valid({ provider_id: "p", cost_usd: null }).cost_usd).toBeNull();
    expect(problemsOf({ provider_id: "p", cost_usd: -0.01 })[0]).toMatchObject({ type: "greater_than_equal", loc: ["body", "cost_usd"] });
    for (const bad of ["abc", "", true, [], {}, "1e999"]) {
      expect(problemsOf({ provider_id: "p", cost_usd: bad })[0]).toMatchObject({ loc: ["body", "cost_usd"] });
    }
  });

  it("requires metadata to be an object or null", () => {
    expect(valid({ provider_id: "p", metadata: { a: 1 } }).metadata).toEqual({ a: 1 });
    for (const bad of [[], "x", 3, true]) {
      expect(problemsOf({ provider_id: "p", metadata: bad })[0]).toMatchObject({ loc: ["body", "metadata"] });
    }
  });

  it("parses ts with every §6.2 form; null or absent is the request time; seed runs need ts", () => {
    expect(valid({ provider_id: "p", ts: "2025-03-07T21:45:12Z" }).ts_ms).toBe(Date.UTC(2025, 2, 7, 21, 45, 12));
    expect(valid({ provider_id: "p", ts: "2025-03-07T18:45:12-03:00" }).ts_ms).toBe(Date.UTC(2025, 2, 7, 21, 45, 12));
    expect(valid({ provider_id: "p", ts: 1741383912 }).ts_ms).toBe(Date.UTC(2025, 2, 7, 21, 45, 12));
    expect(valid({ provider_id: "p", ts: "2025-03-07" }).ts_ms).toBe(Date.UTC(2025, 2, 7));
    expect(valid({ provider_id: "p" }).ts_ms).toBe(NOW);
    for (const bad of ["not-a-date", "2025-02-30T00:00:00Z", "", true, {}]) {
      expect(problemsOf({ provider_id: "p", ts: bad })[0]).toMatchObject({ type: "datetime_parsing", loc: ["body", "ts"] });
    }
    expect(problemsOf({ provider_id: "p" }, { requireTs: true })).toEqual([expect.objectContaining({ type: "missing", loc: ["body", "ts"] })]);
  });

  it("reports one item per problem and ignores unknown keys", () => {
    const problems = problemsOf({ provider_id: 1, tokens_in: 1.5, ts: "x", metadata: [], extra: "ignored" });
    expect(problems.map((p) => p.loc)).toEqual([
      ["body", "provider_id"],
      ["body", "tokens_in"],
      ["body", "metadata"],
      ["body", "ts"],
    ]);
    expect(problemsOf("a run?")).toEqual([expect.objectContaining({ type: "model_type", loc: ["body"] })]);
  });
});

describe("status normalisation", () => {
  it.each([
    ["ok", "success"],
    ["Completed", "success"],
    [" SUCCESS ", "success"],
    ["succeeded", "success"],
    ["pass", "success"],
    ["passed", "success"],
    ["failed", "error"],
    ["Failure", "error"],
    ["ERROR", "error"],
    ["exception", "error"],
    ["blocked", "denied"],
    ["Denied", "denied"],
    ["", "unknown"],
    ["  ", "unknown"],
    ["Retry", "retry"],
    ["tool_error", "tool_error"],
    ["TIMEOUT", "timeout"],
    ["Rate_Limit", "rate_limit"],
  ])("%j → %j", (input, expected) => {
    expect(normaliseStatus(input)).toBe(expected);
  });

  it("null and undefined are unknown", () => {
    expect(normaliseStatus(null)).toBe("unknown");
    expect(normaliseStatus(undefined)).toBe("unknown");
  });
});

describe("error category (§10.2)", () => {
  it("labels texts as the contract's examples", () => {
    expect(errorLabel("rate_limit")).toBe("Rate Limit");
    expect(errorLabel("error")).toBe("Error");
    expect(errorLabel("tool_error")).toBe("Tool Error");
    expect(errorLabel("TIMEOUT")).toBe("Timeout");
    expect(errorLabel("  missing   repo_PERMISSIONS ")).toBe("Missing Repo Permissions");
    expect(errorLabel(" _ _ ")).toBe("");
  });

  it("takes metadata.error object keys in the order category, type, code, name, kind", () => {
    expect(errorCategory("error", { error: { kind: "k", name: "n", code: "c", type: "t", category: "cat" } })).toBe("Cat");
    expect(errorCategory("error", { error: { kind: "k", name: "n", code: "c", type: "the_type" } })).toBe("The Type");
    expect(errorCategory("error", { error: { kind: "k", name: "n", code: "upstream_5xx" } })).toBe("Upstream 5xx");
    expect(errorCategory("error", { error: { kind: "k", name: "crash" } })).toBe("Crash");
    expect(errorCategory("error", { error: { kind: "k" } })).toBe("K");
  });

  it("uses numbers in their shortest decimal form and skips null, booleans, objects, arrays and blanks", () => {
    expect(errorCategory("rate_limit", { error: { code: 429 } })).toBe("429");
    expect(errorCategory("error", { error: { code: 1.5 } })).toBe("1.5");
    expect(errorCategory("error", { error: { category: null, type: true, code: { x: 1 }, name: ["a"], kind: "  " }, error_code: 503 })).toBe("503");
    expect(errorCategory("error", { error: { category: false }, errorCategory: "disk_full" })).toBe("Disk Full");
  });

  it("takes a metadata.error string", () => {
    expect(errorCategory("tool_error", { error: "Missing repo permissions" })).toBe("Missing Repo Permissions");
    expect(errorCategory("tool_error", { error: "   ", failure_reason: "quota" })).toBe("Quota");
  });

  it("takes the top-level keys in the contract's order", () => {
    const keys = ["error_category", "errorCategory", "error_type", "errorType", "error_code", "errorCode", "failure_reason", "failureReason"];
    for (let i = 0; i < keys.length; i++) {
      const metadata: Record<string, unknown> = {};
      for (let j = keys.length - 1; j >= i; j--) metadata[keys[j]] = `value_${j}`;
      expect(errorCategory("error", metadata)).toBe(`Value ${i}`);
    }
    // The error object/string comes before the top-level keys.
    expect(errorCategory("error", { error_category: "top", error: { code: "inner" } })).toBe("Inner");
  });

  it("falls back to the label of the status, then Unknown", () => {
    expect(errorCategory("rate_limit", { error: true, error_code: null })).toBe("Rate Limit");
    expect(errorCategory("tool_error", {})).toBe("Tool Error");
    expect(errorCategory("TIMEOUT", {})).toBe("Timeout");
    expect(errorCategory("___", {})).toBe("Unknown");
  });
});

describe("cache rules (§10.2)", () => {
  it("gives the contract's example: 2 hits out of 3 samples, cached tokens 650", () => {
    const values = [
      cacheValues({ cache: { hit: true, tokens: 150 } }, 999),
      cacheValues({ cache: { hit: false } }, 999),
      cacheValues({ cache_hit: true, cached_tokens: 500 }, 999),
    ];
    expect(values).toEqual([
      { cache_hit: 1, cached_tokens: 150 },
      { cache_hit: 0, cached_tokens: 0 },
      { cache_hit: 1, cached_tokens: 500 },
    ]);
    const samples = values.filter((v) => v.cache_hit !== null);
    expect(samples.filter((v) => v.cache_hit === 1).length / samples.length).toBeCloseTo(0.666667, 6);
    expect(values.reduce((s, v) => s + v.cached_tokens, 0)).toBe(650);
  });

  it("converts flags from booleans, 0/1 and the hit/miss words", () => {
    for (const hit of [true, 1, "hit", "true", "yes", "y", "1", " HIT ", "Yes"]) {
      expect(cacheValues({ cache: { hit } }, 40)).toEqual({ cache_hit: 1, cached_tokens: 40 });
    }
    for (const miss of [false, 0, "miss", "false", "no", "n", "0", " MISS "]) {
      expect(cacheValues({ cache: { hit: miss, tokens: 10 } }, 40)).toEqual({ cache_hit: 0, cached_tokens: 0 });
    }
  });

  it("takes the first converting key of hit, cache_hit, status, result", () => {
    expect(cacheValues({ cache: { hit: "maybe", cache_hit: null, status: "miss", result: "hit" } }, 7).cache_hit).toBe(0);
    expect(cacheValues({ cache: { result: "hit", status: 2 } }, 7)).toEqual({ cache_hit: 1, cached_tokens: 7 });
  });

  it("takes the first non-zero numeric token count of tokens, token_count, cached_tokens, truncated", () => {
    expect(cacheValues({ cache: { hit: true, tokens: 0, token_count: "12.9", cached_tokens: 99 } }, 5).cached_tokens).toBe(12);
    expect(cacheValues({ cache: { hit: true, tokens: "abc", token_count: null, cached_tokens: 33.7 } }, 5).cached_tokens).toBe(33);
    // A hit without a known count contributes tokens_out.
    expect(cacheValues({ cache: { hit: true, tokens: 0 } }, 321).cached_tokens).toBe(321);
  });

  it("counts positive tokens without a flag; nothing without either", () => {
    expect(cacheValues({ cache: { tokens: 80 } }, 5)).toEqual({ cache_hit: null, cached_tokens: 80 });
    expect(cacheValues({ cached_tokens: "75" }, 5)).toEqual({ cache_hit: null, cached_tokens: 75 });
    expect(cacheValues({ cache: { note: "x" } }, 5)).toEqual({ cache_hit: null, cached_tokens: 0 });
    expect(cacheValues({}, 5)).toEqual({ cache_hit: null, cached_tokens: 0 });
  });

  it("uses the top-level keys only when metadata.cache yields neither a flag nor a count", () => {
    // The object gives a count: top-level flag ignored.
    expect(cacheValues({ cache: { tokens: 10 }, cache_hit: false }, 5)).toEqual({ cache_hit: null, cached_tokens: 10 });
    // The object gives nothing: top-level keys in their order.
    expect(cacheValues({ cache: { hit: "?" }, cacheHit: "x", cache_status: "miss", cacheStatus: "hit" }, 5).cache_hit).toBe(0);
    expect(cacheValues({ cacheStatus: "HIT", cache_tokens: 0, cacheHitTokens: 44 }, 5)).toEqual({ cache_hit: 1, cached_tokens: 44 });
    expect(cacheValues({ cacheHit: 1 }, 6)).toEqual({ cache_hit: 1, cached_tokens: 6 });
    // metadata.cache that is not an object is ignored.
    expect(cacheValues({ cache: true, cache_hit: "no" }, 5)).toEqual({ cache_hit: 0, cached_tokens: 0 });
  });
});

describe("validateIngestBody (§11.1)", () => {
  it("treats an object without runs as one run", () => {
    const runs = validateIngestBody({ provider_id: "gemini", tokens_in: 3 }, NOW);
    expect(runs).toHaveLength(1);
    expect(runs[0].tokens_in).toBe(3);
    expect(ingestProblems({ tokens_in: 3 })).toEqual([expect.objectContaining({ loc: ["body", "provider_id"] })]);
  });

  it("treats an object with runs as a batch, in order", () => {
    const runs = validateIngestBody({ runs: [{ provider_id: "a" }, { provider_id: "b" }, { provider_id: "c" }] }, NOW);
    expect(runs.map((r) => r.provider_id)).toEqual(["a", "b", "c"]);
  });

  it("rejects a non-object body and a bad runs list", () => {
    for (const body of [[], "x", 1, null]) expect(ingestProblems(body)).toEqual([expect.objectContaining({ loc: ["body"] })]);
    for (const runs of [null, "x", {}, []]) {
      expect(ingestProblems({ runs })).toEqual([expect.objectContaining({ loc: ["body", "runs"] })]);
    }
    const tooMany = Array.from({ length: MAX_BATCH_RUNS + 1 }, () => ({ provider_id: "p" }));
    expect(ingestProblems({ runs: tooMany })).toEqual([expect.objectContaining({ type: "too_long", loc: ["body", "runs"] })]);
    expect(validateIngestBody({ runs: tooMany.slice(1) }, NOW)).toHaveLength(MAX_BATCH_RUNS);
  });

  it("names the item of each problem; every item is validated", () => {
    const problems = ingestProblems({
      runs: [{ provider_id: "ok" }, { provider_id: "p", tokens_in: 5.5 }, "not a run", { tokens_out: "5" }],
    });
    expect(problems.map((p) => p.loc)).toEqual([
      ["body", "runs", 1, "tokens_in"],
      ["body", "runs", 2],
      ["body", "runs", 3, "provider_id"],
      ["body", "runs", 3, "tokens_out"],
    ]);
  });

  it("lists at least the first 100 problems of a big bad batch", () => {
    const runs = Array.from({ length: 300 }, () => ({ tokens_in: -1 }));
    const problems = ingestProblems({ runs });
    expect(problems.length).toBeGreaterThanOrEqual(100);
    expect(problems[0].loc).toEqual(["body", "runs", 0, "provider_id"]);
    expect(problems[1].loc).toEqual(["body", "runs", 0, "tokens_in"]);
    expect(problems[99].loc).toEqual(["body", "runs", 49, "tokens_in"]);
  });
});

describe("rows and Run items", () => {
  it("derives day, success flag, error category and cache values", () => {
    const failed = rowFromRun(
      valid({
        provider_id: "glm46",
        route: "balanced",
        status: "RATE_LIMIT",
        ts: "2025-03-07T23:59:59.999-01:00",
        tokens_out: 70,
        metadata: { error: { code: 429 }, cache: { hit: "yes" } },
        cost_usd: 0.5,
      }),
      NOW,
    );
    expect(failed).toMatchObject({
      status: "rate_limit",
      ts: "2025-03-08T00:59:59.999Z",
      day: "2025-03-08",
      ingested_at: "2025-04-10T12:00:00.000Z",
      is_success: 0,
      error_category: "429",
      cache_hit: 1,
      cached_tokens: 70,
      cost_usd: 0.5,
      metadata: JSON.stringify({ error: { code: 429 }, cache: { hit: "yes" } }),
    });
    const ok = rowFromRun(valid({ provider_id: "glm46", status: "passed", metadata: { error: "ignored" } }), NOW);
    expect(ok).toMatchObject({ status: "success", is_success: 1, error_category: null, cache_hit: null, cached_tokens: 0 });
  });

  it("builds the §10.6 Run item, with the manifest name and lane when known", () => {
    const row = {
      ...rowFromRun(valid({ provider_id: "gemini", ts: "2025-03-07T21:45:12Z", cost_usd: 0.1234565, metadata: { project: "x" } }), NOW),
      id: 7,
    };
    const providers = new Map([["gemini", { lane: "balanced" as const, summary: { name: "Gemini MCP" } }]]);
    expect(runItemFromRow(row, providers)).toEqual({
      id: 7,
      provider_id: "gemini",
      provider_name: "Gemini MCP",
      route: null,
      lane: "balanced",
      tool: "unknown",
      ts: "2025-03-07T21:45:12Z",
      tokens_in: 0,
      tokens_out: 0,
      duration_ms: 0,
      status: "unknown",
      cost_usd: 0.123456,
      metadata: { project: "x" },
      experiment_cohort: null,
      experiment_tag: null,
    });
    const unknown = runItemFromRow({ ...row, provider_id: "local", cost_usd: null, ts: "2025-03-07T21:45:12.345Z" }, providers);
    expect(unknown).toMatchObject({ provider_name: "local", lane: null, cost_usd: 0, ts: "2025-03-07T21:45:12.345Z" });
  });
});
