/**
 * The telemetry run of a tool call (runtime-contract §21) is always a run the ingestion accepts
 * (api-contract §11.2), whatever the MCP server named its tool or reported as usage: the call was
 * sent, so its answer must never be a 422 about `runs[0]` fields the client never sent.
 */
import { usageOf } from "../../services/runtime/connection";
import { runToolName, toolRun } from "../../services/runtime/views";
import { MAX_RUN_COST_USD, MAX_RUN_INTEGER, validateRun } from "../../services/telemetry/store/run";
import type { ValidationItem } from "../../lib/errors";

function runOf(tool: string, usage: unknown) {
  const u = usageOf({ _meta: { usage } });
  return toolRun({
    serverId: "srv",
    tool,
    startedAtMs: Date.UTC(2026, 0, 1),
    durationMs: 12.4,
    status: "success",
    usage: { input_tokens: u.tokens_in, output_tokens: u.tokens_out, cost_usd: u.cost_usd },
    sessionId: null,
    client: null,
    argumentsBytes: 2,
    resultBytes: 10,
    error: null,
  });
}

function problemsOf(run: Record<string, unknown>): ValidationItem[] {
  const problems: ValidationItem[] = [];
  validateRun(run, ["body", "runs", 0], { nowMs: Date.now() }, problems);
  return problems;
}

describe("a tool call's run is valid whatever the server sent", () => {
  it.each([
    ["a 12,000-character name", "L".repeat(12_000)],
    ["a 201-character name of characters outside the BMP", "😀".repeat(201)],
    ["a name with NUL", "nul\u0000x"],
    ["a name with a lone surrogate", "lone\ud800x"],
  ])("%s", (_what, name) => {
    const run = runOf(name, null);
    expect(problemsOf(run)).toEqual([]);
    expect(Array.from(run.tool as string).length).toBeLessThanOrEqual(200);
    expect(run.route).toBe(run.tool);
  });

  it("keeps a name the run can hold as it is (200 characters, astral ones counted once)", () => {
    expect(runToolName("echo")).toBe("echo");
    expect(runToolName("😀".repeat(200))).toBe("😀".repeat(200));
    expect(runToolName("a\u0000b\udc00c")).toBe("a\uFFFDb\uFFFDc");
  });

  it("usage past what a run holds is malformed: 0 tokens, null cost", () => {
    expect(usageOf({ _meta: { usage: { input_tokens: 1e20, output_tokens: MAX_RUN_INTEGER + 2, cost_usd: 2e6 } } })).toEqual({
      tokens_in: 0,
      tokens_out: 0,
      cost_usd: null,
    });
    expect(usageOf({ _meta: { usage: { input_tokens: MAX_RUN_INTEGER, output_tokens: 1, cost_usd: MAX_RUN_COST_USD } } })).toEqual({
      tokens_in: MAX_RUN_INTEGER,
      tokens_out: 1,
      cost_usd: MAX_RUN_COST_USD,
    });
    expect(problemsOf(runOf("pricey", { input_tokens: 1e20, cost_usd: 2e6 }))).toEqual([]);
  });
});
