/** The Idempotency-Key header check and the body hash of lib/store/idempotency.ts (§11.1), without a store. */
import { ContractError } from "../../lib/errors";
import { bodyHash, parseIdempotencyKey, replayedAnswerMeta } from "../../lib/store/idempotency";

function refused(raw: unknown) {
  try {
    parseIdempotencyKey(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(ContractError);
    expect((err as ContractError).code).toBe(422);
    return (err as ContractError).data as { loc: unknown[]; input: unknown }[];
  }
  throw new Error(`expected ${JSON.stringify(raw)} to be refused`);
}

test("no header: no key", () => {
  expect(parseIdempotencyKey(undefined)).toBeUndefined();
});

test.each([["a"], ["~"], ["550e8400-e29b-41d4-a716-446655440000"], ["k".repeat(128)], ["!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"]])(
  "%j is a key, kept as sent",
  (key) => {
    expect(parseIdempotencyKey(key)).toBe(key);
  },
);

test.each([
  [""],
  [" "],
  [" lead"],
  ["trail "],
  ["in side"],
  ["tab\there"],
  ["k".repeat(129)],
  ["caf\u00e9"],
  ["\u0000"],
  ["\u007f"],
  ["emoji\u{1F680}"],
  [12],
  [["a", "b"]],
  [{}],
  [true],
])("%j → 422 at [header, idempotency-key] echoing the value", (raw) => {
  expect(refused(raw)).toEqual([expect.objectContaining({ loc: ["header", "idempotency-key"], input: raw })]);
});

describe("body hash", () => {
  test("one JSON value, one hash: key order does not matter, at any depth", () => {
    expect(bodyHash({ a: 1, b: { c: [1, { d: 2, e: 3 }], f: null } })).toBe(bodyHash({ b: { f: null, c: [1, { e: 3, d: 2 }] }, a: 1 }));
    expect(bodyHash({ n: 1.0 })).toBe(bodyHash({ n: 1 }));
  });

  test("any other difference is another body", () => {
    const base = bodyHash({ runs: [{ provider_id: "a", tokens_in: 1 }, { provider_id: "b" }] });
    for (const other of [
      { runs: [{ provider_id: "b" }, { provider_id: "a", tokens_in: 1 }] },
      { runs: [{ provider_id: "a", tokens_in: 2 }, { provider_id: "b" }] },
      { runs: [{ provider_id: "a", tokens_in: "1" }, { provider_id: "b" }] },
      {
        runs: [
          { provider_id: "a", tokens_in: 1 },
          { provider_id: "b", tool: null },
        ],
      },
      { runs: [{ provider_id: "a", tokens_in: 1 }, { provider_id: "b" }], extra: true },
      { runs: { 0: { provider_id: "a", tokens_in: 1 }, 1: { provider_id: "b" } } },
    ]) {
      expect(bodyHash(other)).not.toBe(base);
    }
    expect(base).toMatch(/^[0-9a-f]{64}$/);
  });
});

test("a replayed answer carries its recorded status and the Idempotent-Replayed header", () => {
  expect(replayedAnswerMeta(201)).toEqual({ $statusCode: 201, $responseHeaders: { "Idempotent-Replayed": "true" } });
});
