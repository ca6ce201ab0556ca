/**
 * Telemetry counts from a tool result's `_meta.usage` (runtime-contract §21), protocol errors as log lines (§19).
 */
import { protocolErrorSummary, usageOf } from "../../services/runtime/connection";

describe("usageOf", () => {
  it("reads input_tokens, output_tokens and cost_usd", () => {
    expect(usageOf({ _meta: { usage: { input_tokens: 12, output_tokens: 34, cost_usd: 0.0056 } } })).toEqual({
      tokens_in: 12,
      tokens_out: 34,
      cost_usd: 0.0056,
    });
  });

  it("0 tokens and null cost when absent", () => {
    expect(usageOf({})).toEqual({ tokens_in: 0, tokens_out: 0, cost_usd: null });
    expect(usageOf({ _meta: {} })).toEqual({ tokens_in: 0, tokens_out: 0, cost_usd: null });
    expect(usageOf({ _meta: { usage: null } })).toEqual({ tokens_in: 0, tokens_out: 0, cost_usd: null });
  });

  it("ignores malformed values (negative, not finite, not numbers) and rounds token counts", () => {
    expect(usageOf({ _meta: { usage: { input_tokens: -1, output_tokens: "7", cost_usd: Infinity } } })).toEqual({
      tokens_in: 0,
      tokens_out: 0,
      cost_usd: null,
    });
    expect(usageOf({ _meta: { usage: { input_tokens: 2.6, output_tokens: 0, cost_usd: 0 } } })).toEqual({ tokens_in: 3, tokens_out: 0, cost_usd: 0 });
    expect(usageOf({ _meta: "usage" })).toEqual({ tokens_in: 0, tokens_out: 0, cost_usd: null });
  });
});

describe("protocolErrorSummary", () => {
  it("never carries the JSON-RPC message the SDK embeds (stdout is never logged)", () => {
    const err = new Error('Received a response for an unknown message ID: {"jsonrpc":"2.0","id":7,"result":{"content":[{"text":"private"}]}}');
    expect(protocolErrorSummary(err)).toBe("Received a response for an unknown message ID");
    expect(protocolErrorSummary(new Error("Unknown message type: [1,2]"))).toBe("Unknown message type");
    expect(protocolErrorSummary(new Error("Failed to send response: Error: EPIPE k-123"), "k-123")).toBe("Failed to send response: Error: EPIPE ***");
    expect(protocolErrorSummary(new Error("x".repeat(500)))).toHaveLength(201);
  });
});
