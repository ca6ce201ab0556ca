/**
 * The pure parts of request-input hardening: the JSON nesting limit (§6.3), the bounded echo and
 * the error answer that cannot throw (§6.4), the query parser (§1.1, §6.1), Node parser refusals,
 * prototype words as data, and the run-id range of cursors.
 */
import { EventEmitter } from "node:events";
import type { ServerResponse } from "node:http";
import { isContractError, validationFailed } from "../../lib/errors";
import { MAX_SERIAL_ID } from "../../lib/store/columns";
import { normaliseStatus } from "../../services/telemetry/store/run";
import { INVALID_QUERY_ENCODING, QueryReader } from "../../lib/validation";
import { jsonNestingDepth, MAX_JSON_DEPTH, NO_BODY, parseJsonBody } from "../../services/api/body";
import { answerClientError, echoValue, errorAnswerText, httpErrorAnswer, MAX_ECHO_CHARS, writeErrorAnswer } from "../../services/api/http-errors";
import { decodeQueryComponent, parseQuery, splitRequestUrl } from "../../services/api/query";
import { decodeCursor } from "../../services/telemetry/cursor";
import { parseReadQuery, TELEMETRY_QUERIES } from "../../services/telemetry/filters";

const arrays = (depth: number, inner = "1") => "[".repeat(depth) + inner + "]".repeat(depth);
const objects = (depth: number) => '{"a":'.repeat(depth - 1) + "{}" + "}".repeat(depth - 1);
/** A value nested `depth` levels, built without recursion. */
function deepValue(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** The ValidationItems of a thrown 422. */
function itemsOf(fn: () => unknown): { type: string; loc: unknown[] }[] {
  try {
    fn();
  } catch (err) {
    if (isContractError(err) && err.code === 422) return err.data as { type: string; loc: unknown[] }[];
    throw err;
  }
  throw new Error("expected a 422");
}

describe("jsonNestingDepth", () => {
  it.each([
    ["1", 0],
    ['"x"', 0],
    ["[]", 1],
    ["{}", 1],
    ["[[1]]", 2],
    ['{"a":[{"b":{}}]}', 4],
    ['["[[[[", "{{{{"]', 1],
    ['["\\"[[[", "\\\\", [2]]', 2],
    ["[][][]", 1],
    ["]]]][", 1],
  ])("%s → %d", (text, depth) => {
    expect(jsonNestingDepth(text)).toBe(depth);
  });

  it("stops one level past the limit without reading the rest", () => {
    expect(jsonNestingDepth(arrays(100000))).toBe(MAX_JSON_DEPTH + 1);
    expect(jsonNestingDepth(arrays(10), 3)).toBe(4);
  });
});

describe("parseJsonBody: nesting (§6.3)", () => {
  const parse = (text: string) => parseJsonBody(Buffer.from(text), "application/json");

  it("accepts 64 levels of arrays, of objects, and of both", () => {
    expect(parse(arrays(64))).toEqual(JSON.parse(arrays(64)));
    expect(jsonNestingDepth(objects(64))).toBe(64);
    expect(parse(objects(64))).toEqual(JSON.parse(objects(64)));
    expect(parse(`{"x":${arrays(63)}}`)).toEqual({ x: JSON.parse(arrays(63)) });
  });

  it.each([
    ["65 arrays", arrays(65)],
    ["65 objects", objects(65)],
    ["the issue's 5,000 [ then 5,000 ]", "[".repeat(5000) + "]".repeat(5000)],
    ["deep inside an ignored key", `{"strategy":"finops","extra":${arrays(64)}}`],
    ["deep and also invalid JSON (nesting is checked first)", "[".repeat(65) + "oops"],
    ["a million levels", "[".repeat(1000000)],
  ])("refuses %s with one 422 item at loc body", (_label, text) => {
    const items = itemsOf(() => parse(text));
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ type: "json_too_deep", loc: ["body"] });
  });

  it("does not count brackets inside strings", () => {
    expect(parse(JSON.stringify({ reason: "[".repeat(5000) }))).toEqual({ reason: "[".repeat(5000) });
  });

  it("refuses bytes that are not UTF-8 instead of replacing them", () => {
    for (const bytes of [
      [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d],
      [0x22, 0xed, 0xa0, 0x80, 0x22],
      [0x22, 0xc0, 0x80, 0x22],
    ]) {
      const items = itemsOf(() => parseJsonBody(Buffer.from(bytes), undefined));
      expect(items).toEqual([expect.objectContaining({ type: "json_invalid", loc: ["body"] })]);
    }
    expect(parseJsonBody(Buffer.from('{"reason":"café 💥"}'), undefined)).toEqual({ reason: "café 💥" });
  });

  it("keeps the other rules: empty and null are no body", () => {
    expect(parse("")).toBe(NO_BODY);
    expect(parse("null")).toBe(NO_BODY);
  });
});

describe("echoValue: a bounded copy of an echoed input", () => {
  it("copies plain JSON values", () => {
    const value = { a: [1, "x", null, true, { b: 2.5 }], c: "" };
    expect(echoValue(value)).toEqual(value);
    expect(echoValue("text")).toBe("text");
    expect(echoValue(null)).toBeNull();
  });

  it("keeps a __proto__ key as data, not as a prototype", () => {
    const value = JSON.parse('{"__proto__":{"polluted":true}}');
    const copy = echoValue(value) as Record<string, unknown>;
    expect(Object.keys(copy)).toEqual(["__proto__"]);
    expect(JSON.stringify(copy)).toBe('{"__proto__":{"polluted":true}}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("gives up (undefined) instead of throwing on what cannot be echoed", () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const throwing = Object.defineProperty({}, "x", {
      enumerable: true,
      get: () => {
        throw new Error("getter");
      },
    });
    for (const value of [
      deepValue(5000),
      deepValue(65),
      cycle,
      10n,
      [1n],
      NaN,
      Infinity,
      () => 1,
      Symbol("s"),
      new Date(0),
      throwing,
      "x".repeat(MAX_ECHO_CHARS + 1),
      new Array(1e9),
    ]) {
      expect(echoValue(value)).toBeUndefined();
    }
    expect(echoValue(deepValue(64))).toEqual(deepValue(64));
  });

  it("shares one budget across the items of an answer", () => {
    const budget = { left: 3000 };
    expect(echoValue("a".repeat(2000), budget)).toBe("a".repeat(2000));
    expect(echoValue("b".repeat(2000), budget)).toBeUndefined();
    expect(echoValue("c".repeat(100), budget)).toBe("c".repeat(100));
  });
});

describe("the error answer cannot throw", () => {
  it("a 422 whose echoed input is 5,000 levels deep serialises, without that input", () => {
    const err = validationFailed([{ type: "model_type", loc: ["body"], msg: "Input should be a JSON object", input: deepValue(5000) }]);
    const answer = httpErrorAnswer(err, "POST", "/api/v1/routing/simulate");
    expect(answer.status).toBe(422);
    const { status, text } = errorAnswerText(answer);
    expect(status).toBe(422);
    expect(JSON.parse(text)).toEqual({ detail: [{ type: "model_type", loc: ["body"], msg: "Input should be a JSON object" }] });
  });

  it("rebuilds odd items from their known fields", () => {
    const odd = [{ type: 5, loc: [1, { x: 1 }, "a"], msg: null, input: 10n, ctx: { n: 1n } }, "not an item"];
    const err = validationFailed(odd as never);
    const { text } = errorAnswerText(httpErrorAnswer(err, "GET", "/x"));
    expect(JSON.parse(text)).toEqual({
      detail: [
        { type: "value_error", loc: [1, "[object Object]", "a"], msg: "Invalid value" },
        { type: "value_error", loc: ["body"], msg: "Invalid value" },
      ],
    });
  });

  it("an error object that throws when read is a plain 500", () => {
    const hostile = new Proxy(
      {},
      {
        get: () => {
          throw new Error("trap");
        },
      },
    );
    expect(httpErrorAnswer(hostile, "GET", "/x")).toEqual({ status: 500, body: { detail: "Internal Server Error" }, headers: {} });
  });

  it("a body JSON cannot write becomes the fixed 500 text", () => {
    expect(errorAnswerText({ status: 422, body: { detail: [10n] }, headers: {} })).toEqual({
      status: 500,
      headers: {},
      text: '{"detail":"Internal Server Error"}',
    });
  });

  it("writeErrorAnswer drops the connection when writing fails, and only ends a started response", () => {
    const destroyed: string[] = [];
    const failing = {
      headersSent: false,
      writeHead() {
        throw new Error("bad header");
      },
      end() {},
      destroy() {
        destroyed.push("destroy");
      },
    } as unknown as ServerResponse;
    expect(() => writeErrorAnswer(failing, { status: 400, body: { detail: "x" }, headers: {} })).not.toThrow();
    expect(destroyed).toEqual(["destroy"]);
    const ended: string[] = [];
    const started = { headersSent: true, end: () => ended.push("end"), writeHead: () => ended.push("writeHead") } as unknown as ServerResponse;
    writeErrorAnswer(started, { status: 400, body: { detail: "x" }, headers: {} });
    expect(ended).toEqual(["end"]);
  });
});

describe("parseQuery (§1.1: the last occurrence wins, for any count)", () => {
  it.each([1, 2, 20, 21, 100, 5000])("%d repeats of a key then another value → the last value", (repeats) => {
    const text = `${"provider_id=codex&".repeat(repeats)}provider_id=gemini`;
    expect(parseQuery(text).provider_id).toBe("gemini");
  });

  it("every value is a string; keys are literal (brackets and dots are other keys)", () => {
    const q = parseQuery("provider_id[]=a&provider_id[x]=b&a[b][c]=1&a.b=2&limit=5&start[0]=x");
    expect({ ...q }).toEqual({ "provider_id[]": "a", "provider_id[x]": "b", "a[b][c]": "1", "a.b": "2", limit: "5", "start[0]": "x" });
    expect(q.provider_id).toBeUndefined();
  });

  it("+ is a space, %2B a plus; values may contain = and the key may be empty", () => {
    expect({ ...parseQuery("a=x+y&b=x%2By&c=a=b=c&=v&d&&e=") }).toEqual({ a: "x y", b: "x+y", c: "a=b=c", "": "v", d: "", e: "" });
    expect({ ...parseQuery("") }).toEqual({});
    expect({ ...parseQuery("a=1;b=2") }).toEqual({ a: "1;b=2" });
  });

  it("decodes UTF-8 escapes, NUL included", () => {
    expect({ ...parseQuery("p=caf%C3%A9&q=%F0%9F%92%A5&n=a%00b") }).toEqual({ p: "café", q: "💥", n: "a\u0000b" });
  });

  it.each(["%", "%zz", "%4", "abc%", "%E9", "%C3%28", "%ED%A0%80", "%C0%80", "%FF%FE", "%F4%90%80%80", "ok%zz"])(
    "a value that is not valid percent-encoded UTF-8 (%s) is marked with its raw text, never guessed",
    (raw) => {
      expect(decodeQueryComponent(raw)).toBeNull();
      expect(parseQuery(`route=${raw}`).route).toEqual({ [INVALID_QUERY_ENCODING]: raw });
    },
  );

  it("a malformed key stays its raw text (so no endpoint lists it)", () => {
    expect({ ...parseQuery("provider%zz_id=x&provider_id=y") }).toEqual({ "provider%zz_id": "x", provider_id: "y" });
  });

  it("prototype keys are data of a prototype-free object; __proto__ is dropped", () => {
    const q = parseQuery("__proto__=x&%5F%5Fproto%5F%5F=y&__proto__[polluted]=1&constructor=c&toString=t&hasOwnProperty=h&valueOf=v");
    expect(Object.getPrototypeOf(q)).toBeNull();
    expect(Object.keys(q)).toEqual(["__proto__[polluted]", "constructor", "toString", "hasOwnProperty", "valueOf"]);
    expect(q.constructor).toBe("c");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // What moleculer-web does with the query (Object.assign into a plain object) stays harmless.
    const params = Object.assign({}, q);
    expect(Object.getPrototypeOf(params)).toBe(Object.prototype);
  });

  it("splitRequestUrl splits at the first ? like moleculer-web", () => {
    expect(splitRequestUrl("/api/v1/x?a=1?b=2")).toEqual({ url: "/api/v1/x", query: expect.objectContaining({ a: "1?b=2" }) });
    expect(splitRequestUrl("/api/v1/x").url).toBe("/api/v1/x");
    expect({ ...splitRequestUrl("/api/v1/x").query }).toEqual({});
  });
});

describe("QueryReader with the parser's values", () => {
  it("a malformed listed parameter is a 422 naming it; an unlisted one is ignored", () => {
    const query = parseQuery("provider_id=%E9&limit=%zz&start=%&other=%zz&route=ok");
    const items = itemsOf(() => parseReadQuery(query, TELEMETRY_QUERIES.runs));
    expect(items.map((i) => i.loc)).toEqual([
      ["query", "start"],
      ["query", "provider_id"],
      ["query", "limit"],
    ]);
    expect(items.every((i) => i.type === "value_error")).toBe(true);
  });

  it("the last occurrence decides: a malformed value followed by a good one is fine, and the reverse is not", () => {
    expect(parseReadQuery(parseQuery("provider_id=%E9&provider_id=gemini"), TELEMETRY_QUERIES.metrics).providerId).toBe("gemini");
    expect(itemsOf(() => parseReadQuery(parseQuery("provider_id=gemini&provider_id=%E9"), TELEMETRY_QUERIES.metrics)).map((i) => i.loc)).toEqual([
      ["query", "provider_id"],
    ]);
  });

  it("reads own keys only", () => {
    const reader = new QueryReader(Object.create({ provider_id: "inherited" }) as Record<string, unknown>);
    expect(reader.filter("provider_id")).toBeUndefined();
  });
});

describe("answerClientError: Node parser refusals get a JSON body", () => {
  class FakeSocket extends EventEmitter {
    writable = true;
    _httpMessage: { headersSent?: boolean } | null = null;
    written = "";
    destroyed = false;
    end(data: string) {
      this.written += data;
    }
    destroy() {
      this.destroyed = true;
    }
  }
  const bodyOf = (text: string) => JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4));

  it.each([
    ["HPE_INVALID_METHOD", 400, "Bad Request"],
    ["HPE_HEADER_OVERFLOW", 431, "Request Header Fields Too Large"],
    ["ERR_HTTP_REQUEST_TIMEOUT", 408, "Request Timeout"],
  ])("%s → %d", (code, status, detail) => {
    const socket = new FakeSocket();
    answerClientError(Object.assign(new Error("x"), { code }), socket);
    expect(socket.written.startsWith(`HTTP/1.1 ${status} `)).toBe(true);
    expect(socket.written).toContain("Content-Type: application/json");
    expect(bodyOf(socket.written)).toEqual({ detail });
  });

  it("no body after HEAD; nothing written during a response or after a reset", () => {
    const head = new FakeSocket();
    answerClientError(Object.assign(new Error("x"), { code: "HPE_HEADER_OVERFLOW", rawPacket: Buffer.from("HEAD /x HTTP/1.1\r\n") }), head);
    expect(head.written.endsWith("\r\n\r\n")).toBe(true);
    const busy = new FakeSocket();
    busy._httpMessage = { headersSent: true };
    answerClientError(Object.assign(new Error("x"), { code: "HPE_INVALID_METHOD" }), busy);
    expect(busy.written).toBe("");
    expect(busy.destroyed).toBe(true);
    const reset = new FakeSocket();
    answerClientError(Object.assign(new Error("x"), { code: "ECONNRESET" }), reset);
    expect(reset.written).toBe("");
    expect(reset.destroyed).toBe(true);
  });
});

describe("prototype words are data", () => {
  it.each(["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf", "CONSTRUCTOR"])("status %s is kept, lower-cased", (word) => {
    expect(normaliseStatus(word)).toBe(word.toLowerCase());
  });
});

describe("cursor ids within the run id column (§10.6)", () => {
  const cursorFor = (id: string) => Buffer.from(`{"ts":"2025-01-01T00:00:00Z","id":${id}}`).toString("base64url");

  it("PostgreSQL's 32-bit serial: 2147483647 is a position, 2147483648 is not", () => {
    expect(decodeCursor(cursorFor("2147483647"), MAX_SERIAL_ID.pg)).toEqual({ ts: "2025-01-01T00:00:00.000Z", id: 2147483647 });
    expect(decodeCursor(cursorFor("2147483648"), MAX_SERIAL_ID.pg)).toBeNull();
  });

  it("SQLite's 64-bit rowid, as far as a JavaScript number is exact", () => {
    expect(decodeCursor(cursorFor("2147483648"), MAX_SERIAL_ID.sqlite)).toEqual({ ts: "2025-01-01T00:00:00.000Z", id: 2147483648 });
    expect(decodeCursor(cursorFor("9007199254740991"), MAX_SERIAL_ID.sqlite)?.id).toBe(9007199254740991);
    expect(decodeCursor(cursorFor("9007199254740992"), MAX_SERIAL_ID.sqlite)).toBeNull();
  });

  it("parseReadQuery answers 400 invalid cursor past the bound it is given", () => {
    const query = { cursor: cursorFor("2147483648") };
    expect(() => parseReadQuery(query, TELEMETRY_QUERIES.runs, MAX_SERIAL_ID.pg)).toThrow("invalid cursor");
    expect(parseReadQuery(query, TELEMETRY_QUERIES.runs, MAX_SERIAL_ID.sqlite).cursor?.id).toBe(2147483648);
  });
});
