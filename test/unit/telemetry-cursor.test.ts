import { decodeCursor, encodeCursor, MAX_CURSOR_LENGTH } from "../../services/telemetry/cursor";

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64url");

describe("runs cursor", () => {
  it("decodes the contract's example and returns the ts in the stored form", () => {
    expect(decodeCursor("eyJ0cyI6IjIwMjUtMDMtMDdUMjE6NDU6MTJaIiwiaWQiOjN9")).toEqual({
      ts: "2025-03-07T21:45:12.000Z",
      id: 3,
    });
  });

  it("encodes exactly the contract's form: base64url of {ts, id} without padding", () => {
    expect(encodeCursor({ ts: "2025-03-07T21:45:12Z", id: 3 })).toBe("eyJ0cyI6IjIwMjUtMDMtMDdUMjE6NDU6MTJaIiwiaWQiOjN9");
    const stored = encodeCursor({ ts: "2025-03-07T21:45:12.345Z", id: 1234567 });
    expect(stored).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(JSON.parse(Buffer.from(stored, "base64url").toString("utf8"))).toEqual({ ts: "2025-03-07T21:45:12.345Z", id: 1234567 });
  });

  it("round-trips stored positions, including id 0 and characters that need - and _", () => {
    for (const pos of [
      { ts: "2025-03-07T21:45:12.345Z", id: 0 },
      { ts: "0001-01-01T00:00:00.000Z", id: 9007199254740991 },
      { ts: "9999-12-31T23:59:59.999Z", id: 42 },
    ]) {
      const text = encodeCursor(pos);
      expect(text).not.toContain("=");
      expect(decodeCursor(text)).toEqual(pos);
    }
  });

  it("accepts any valid datetime form for ts and normalises it", () => {
    expect(decodeCursor(b64('{"ts":"2025-03-07 22:45:12.5+01:00","id":7}'))).toEqual({ ts: "2025-03-07T21:45:12.500Z", id: 7 });
    expect(decodeCursor(b64('{"id":7,"ts":"2025-03-07"}'))).toEqual({ ts: "2025-03-07T00:00:00.000Z", id: 7 });
  });

  const malformed: [string, string][] = [
    ["empty", ""],
    ["padding", `${b64('{"ts":"2025-03-07T21:45:12Z","id":3}')}=`],
    ["spaces", "eyJ0cyI6 IjIwMjUi"],
    ["standard base64 '+'", "eyJ0cyI6IjIwMjUtMDMtMDdUMjE6NDU6MTJaIiwiaWQiOjN+"],
    ["standard base64 '/'", "eyJ0cyI6IjIwMjUtMDMtMDdUMjE6NDU6MTJaIiwiaWQiOjN/"],
    ["percent-encoded", "eyJ0cyI6IjIwMjUtMDMtMDdUMjE6NDU6MTJaIiwiaWQiOjN9%3D"],
    ["non-ASCII", "eyJ0cyI6é"],
    ["too long", "A".repeat(MAX_CURSOR_LENGTH + 1)],
    ["impossible length (4k + 1)", "eyJ0c"],
    ["not UTF-8", Buffer.from([0xff, 0xfe, 0x7b, 0x7d]).toString("base64url")],
    ["not JSON", b64("hello world")],
    ["JSON array", b64('["2025-03-07T21:45:12Z",3]')],
    ["JSON string", b64('"2025-03-07T21:45:12Z"')],
    ["JSON null", b64("null")],
    ["JSON number", b64("3")],
    ["missing id", b64('{"ts":"2025-03-07T21:45:12Z"}')],
    ["missing ts", b64('{"id":3}')],
    ["extra key", b64('{"ts":"2025-03-07T21:45:12Z","id":3,"x":1}')],
    ["ts not a string", b64('{"ts":1741383912,"id":3}')],
    ["ts null", b64('{"ts":null,"id":3}')],
    ["ts not a datetime", b64('{"ts":"not-a-date","id":3}')],
    ["ts impossible date", b64('{"ts":"2025-02-30T00:00:00Z","id":3}')],
    ["ts empty", b64('{"ts":"","id":3}')],
    ["id negative", b64('{"ts":"2025-03-07T21:45:12Z","id":-1}')],
    ["id fractional", b64('{"ts":"2025-03-07T21:45:12Z","id":2.5}')],
    ["id a string", b64('{"ts":"2025-03-07T21:45:12Z","id":"3"}')],
    ["id null", b64('{"ts":"2025-03-07T21:45:12Z","id":null}')],
    ["id beyond 2^53", b64('{"ts":"2025-03-07T21:45:12Z","id":1e300}')],
  ];
  it.each(malformed)("rejects a malformed cursor: %s", (_name, text) => {
    expect(decodeCursor(text)).toBeNull();
  });

  it("rejects a non-canonical spelling whose unused trailing bits are set", () => {
    const valid = b64('{"ts":"2025-03-07T21:45:12Z","id":12}'); // 37 bytes: the last character has 4 unused bits
    expect(valid.length % 4).toBe(2);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const lastIndex = alphabet.indexOf(valid[valid.length - 1]);
    const sloppy = valid.slice(0, -1) + alphabet[lastIndex + 1];
    expect(Buffer.from(sloppy, "base64url").equals(Buffer.from(valid, "base64url"))).toBe(true);
    expect(decodeCursor(valid)).toEqual({ ts: "2025-03-07T21:45:12.000Z", id: 12 });
    expect(decodeCursor(sloppy)).toBeNull();
  });

  it("accepts a valid cursor of exactly 512 characters and nothing longer", () => {
    const json = (spaces: number) => `{"ts":"2025-03-07T21:45:12Z",${" ".repeat(spaces)}"id":3}`;
    // 384 bytes encode to exactly 512 characters; JSON whitespace pads a valid cursor to any size.
    const exact = b64(json(384 - json(0).length));
    expect(exact).toHaveLength(MAX_CURSOR_LENGTH);
    expect(decodeCursor(exact)).toEqual({ ts: "2025-03-07T21:45:12.000Z", id: 3 });
    const longer = b64(json(385 - json(0).length));
    expect(longer.length).toBeGreaterThan(MAX_CURSOR_LENGTH);
    expect(decodeCursor(longer)).toBeNull();
  });
});
