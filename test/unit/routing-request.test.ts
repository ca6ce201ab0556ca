/** Body validation of POST /routing/simulate (§13) without a broker. */
import { ContractError } from "../../lib/errors";
import { parseSimulationRequest } from "../../services/routing/request";

function problems(body: Record<string, unknown>): { type: string; loc: (string | number)[] }[] {
  try {
    parseSimulationRequest(body);
  } catch (err) {
    expect(err).toBeInstanceOf(ContractError);
    expect((err as ContractError).code).toBe(422);
    return (err as ContractError).data as { type: string; loc: (string | number)[] }[];
  }
  throw new Error("expected a 422");
}

test("defaults: every provider, balanced, no failover, 10 million tokens", () => {
  expect(parseSimulationRequest({})).toEqual({
    providerIds: [],
    strategy: "balanced",
    failoverProviderId: null,
    volumeMillions: 10,
  });
});

test("extra keys are ignored and values are kept as sent", () => {
  expect(
    parseSimulationRequest({
      provider_ids: ["b", "a", "b"],
      strategy: "resilience",
      failover_provider_id: "a",
      volume_millions: 12,
      intents: [],
      custom_rules: [{ x: 1 }],
      overrides: null,
    }),
  ).toEqual({ providerIds: ["b", "a", "b"], strategy: "resilience", failoverProviderId: "a", volumeMillions: 12 });
});

test.each([
  ["12", 12],
  [" 12 ", 12],
  ["2.5", 2.5],
  ["1e3", 1000],
  [".5", 0.5],
  ["0", 0],
  ["-0", 0],
  ["1000000000", 1e9],
])("numeric string %j → %d", (raw, expected) => {
  expect(parseSimulationRequest({ volume_millions: raw }).volumeMillions).toBe(expected);
});

test.each([["0x10"], ["Infinity"], ["NaN"], ["1,5"], ["1e400"], ["-1"], ["1000000000.5"]])("volume string %j is rejected", (raw) => {
  expect(problems({ volume_millions: raw }).map((p) => p.loc)).toEqual([["body", "volume_millions"]]);
});

test("problem types follow the recommended names", () => {
  const found = problems({
    provider_ids: [1],
    strategy: "x",
    failover_provider_id: false,
    volume_millions: 2e9,
  });
  expect(found.map((p) => [p.type, p.loc])).toEqual(
    expect.arrayContaining([
      ["string_type", ["body", "provider_ids", 0]],
      ["literal_error", ["body", "strategy"]],
      ["string_type", ["body", "failover_provider_id"]],
      ["less_than_equal", ["body", "volume_millions"]],
    ]),
  );
  expect(found).toHaveLength(4);
});

test("null is refused where the contract says so, accepted for failover_provider_id", () => {
  expect(problems({ provider_ids: null, strategy: null, volume_millions: null }).map((p) => p.loc)).toEqual([
    ["body", "provider_ids"],
    ["body", "strategy"],
    ["body", "volume_millions"],
  ]);
  expect(parseSimulationRequest({ failover_provider_id: null }).failoverProviderId).toBeNull();
});

describe("an unknown strategy: the submitted value is the input, the allowed list the ctx", () => {
  test.each([["cheap"], ["Balanced"], [5], [true], [null], [["finops"]], [{ strategy: "finops" }]])("strategy %j", (value) => {
    const found = problems({ strategy: value }) as unknown as {
      type: string;
      loc: unknown[];
      msg: string;
      input: unknown;
      ctx: Record<string, unknown>;
    }[];
    expect(found).toEqual([
      {
        type: "literal_error",
        loc: ["body", "strategy"],
        msg: "Input should be one of balanced, finops, latency, resilience",
        input: value,
        ctx: { expected: "balanced, finops, latency, resilience" },
      },
    ]);
  });
});
