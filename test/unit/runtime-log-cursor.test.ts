/**
 * The log cursor of GET /servers/{id}/process/logs (§19) and the text the runtime store keeps.
 */
import { isContractError } from "../../lib/errors";
import { BAD_LOG_CURSOR, parseLogCursor } from "../../services/runtime/log-cursor";
import { storableText } from "../../services/runtime/store";

function rejection(raw: unknown): { code: number; message: string } | null {
  try {
    parseLogCursor(raw);
    return null;
  } catch (err) {
    if (!isContractError(err)) throw err;
    return { code: err.code, message: err.message };
  }
}

describe("log cursor (§19)", () => {
  it("is absent without the parameter, and for an empty value (api-contract §1.1: `?cursor=` = not given)", () => {
    expect(parseLogCursor(undefined)).toBeNull();
    expect(parseLogCursor(null)).toBeNull();
    expect(parseLogCursor("")).toBeNull();
  });

  it("accepts 1..18 decimal digits and normalises them", () => {
    expect(parseLogCursor("0")).toBe("0");
    expect(parseLogCursor("000")).toBe("0");
    expect(parseLogCursor("7")).toBe("7");
    expect(parseLogCursor("0042")).toBe("42");
    expect(parseLogCursor("123456789012345678")).toBe("123456789012345678");
    expect(parseLogCursor("999999999999999999")).toBe("999999999999999999");
    expect(parseLogCursor("000000000000000001")).toBe("1");
  });

  it("answers 400 'Cursor must be an integer' for anything else", () => {
    const bad: unknown[] = [
      " ",
      " 1",
      "1 ",
      "+1",
      "-1",
      "1.0",
      "1e3",
      "0x10",
      "1234567890123456789",
      "١٢",
      "１",
      "abc",
      "null",
      "1\u0000",
      ["1", "2"],
      5,
      true,
      {},
      "9".repeat(19),
    ];
    for (const raw of bad) expect({ raw, rejected: rejection(raw) }).toEqual({ raw, rejected: { code: 400, message: BAD_LOG_CURSOR } });
    expect(BAD_LOG_CURSOR).toBe("Cursor must be an integer");
  });
});

describe("storable text", () => {
  it("replaces NUL and lone surrogates, keeps pairs and everything else", () => {
    expect(storableText("a\u0000b")).toBe("a\uFFFDb");
    expect(storableText("\ud800x\udfff")).toBe("\uFFFDx\uFFFD");
    expect(storableText("ok \ud83d\ude00 é \t\n")).toBe("ok \ud83d\ude00 é \t\n");
  });

  it("cuts at the limit before cleaning, so a cut pair leaves no lone half", () => {
    expect(storableText("abcdef", 4)).toBe("abcd");
    expect(storableText("ab\ud83d\ude00", 3)).toBe("ab\uFFFD");
    expect(storableText("ab\ud83d\ude00", 4)).toBe("ab\ud83d\ude00");
    expect(storableText("short", 4096)).toBe("short");
  });
});
