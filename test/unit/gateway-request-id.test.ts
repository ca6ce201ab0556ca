/**
 * services/api/request-id.ts (runtime-contract §27): a client's X-Request-ID is taken only when it is
 * 1..128 safe characters; else X-Correlation-ID under the same rule; else none (the gateway makes one).
 */
import { clientRequestId, isSafeRequestId, MAX_REQUEST_ID_CHARS } from "../../services/api/request-id";

describe("isSafeRequestId", () => {
  it.each(["a", "req-42", "0d82a9be-28e9-49ea-a54b-2886eb7c9019", "01HZY3N6V8Q0R5T2W9X4K7M1PA", "trace:span.1_2", "x".repeat(MAX_REQUEST_ID_CHARS)])(
    "accepts %j",
    (id) => {
      expect(isSafeRequestId(id)).toBe(true);
    },
  );

  it.each([
    ["empty", ""],
    ["129 characters", "x".repeat(MAX_REQUEST_ID_CHARS + 1)],
    ["a space", "req 42"],
    ["a newline", "req\n42"],
    ["a carriage return", "req\r\nX-Evil: 1"],
    ["a tab", "req\t42"],
    ["a quote", 'req"42'],
    ["a brace", "{req}"],
    ["a slash", "a/b"],
    ["non-ASCII", "réq"],
    ["a NUL", "a\u0000b"],
  ])("refuses %s", (_label, id) => {
    expect(isSafeRequestId(id)).toBe(false);
  });

  it("refuses what is not a string", () => {
    expect(isSafeRequestId(undefined)).toBe(false);
    expect(isSafeRequestId(["a"])).toBe(false);
  });
});

describe("clientRequestId", () => {
  it("takes a safe X-Request-ID, before X-Correlation-ID", () => {
    expect(clientRequestId({ "x-request-id": "req-1", "x-correlation-id": "corr-1" })).toBe("req-1");
  });

  it("falls back to a safe X-Correlation-ID when X-Request-ID is absent or unsafe", () => {
    expect(clientRequestId({ "x-correlation-id": "corr-1" })).toBe("corr-1");
    expect(clientRequestId({ "x-request-id": "has space", "x-correlation-id": "corr-2" })).toBe("corr-2");
  });

  it("gives none when neither is safe (the gateway generates one)", () => {
    expect(clientRequestId({})).toBeUndefined();
    expect(clientRequestId({ "x-request-id": "y".repeat(200) })).toBeUndefined();
    expect(clientRequestId({ "x-request-id": "a b", "x-correlation-id": "c\td" })).toBeUndefined();
  });
});
