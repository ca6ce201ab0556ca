/**
 * stderr capture (runtime-contract §19, §24): lines, cut, levels, the secret masked, the tail.
 */
import { lineLevel, maskSecret, MAX_LINE_CHARS, StderrLine, StderrLineSplitter } from "../../services/runtime/stderr-lines";

function collect(secret: string | null = null): { lines: StderrLine[]; splitter: StderrLineSplitter } {
  const lines: StderrLine[] = [];
  return { lines, splitter: new StderrLineSplitter(secret, (l) => lines.push(l)) };
}

describe("lineLevel", () => {
  it("error and warn from the first word, else info", () => {
    expect(lineLevel("error: boom")).toBe("error");
    expect(lineLevel("[ERROR] boom")).toBe("error");
    expect(lineLevel("Fatal crash")).toBe("error");
    expect(lineLevel("WARN slow")).toBe("warn");
    expect(lineLevel("warning: deprecated")).toBe("warn");
    expect(lineLevel("Server started, no error")).toBe("info");
    expect(lineLevel("errors are fine")).toBe("info");
    expect(lineLevel("")).toBe("info");
    expect(lineLevel("   ")).toBe("info");
  });
});

describe("maskSecret", () => {
  it("replaces every occurrence", () => {
    expect(maskSecret("k=abc abcabc", "abc")).toBe("k=*** ******");
    expect(maskSecret("nothing", null)).toBe("nothing");
    expect(maskSecret("nothing", "")).toBe("nothing");
  });

  it("masks each line of a secret of several lines, as a server prints it line by line (a PEM key)", () => {
    const secret = "NLSECRET-first-half\nNLSECRET-second-half";
    expect(maskSecret("error: key NLSECRET-first-half", secret)).toBe("error: key ***");
    expect(maskSecret("NLSECRET-second-half rejected", secret)).toBe("*** rejected");
    expect(maskSecret(`whole: ${secret}`, secret)).toBe("whole: ***");
    const pem = "-----BEGIN KEY-----\r\nMIIEvQIBADANBgkqhkiG9w0B\r\nab\r\n-----END KEY-----";
    expect(maskSecret("line MIIEvQIBADANBgkqhkiG9w0B end", pem)).toBe("line *** end");
    // Parts shorter than 4 characters are not masked alone (they would hide ordinary text).
    expect(maskSecret("ab cd", pem)).toBe("ab cd");
  });
});

describe("StderrLineSplitter", () => {
  it("splits LF and CRLF across chunk boundaries, flushes the last line at end", () => {
    const { lines, splitter } = collect();
    splitter.push(Buffer.from("one\r\ntw"));
    splitter.push(Buffer.from("o\n\nthree"));
    expect(lines.map((l) => l.message)).toEqual(["one", "two", ""]);
    splitter.end();
    expect(lines.map((l) => l.message)).toEqual(["one", "two", "", "three"]);
  });

  it("decodes UTF-8 split across chunks", () => {
    const { lines, splitter } = collect();
    const bytes = Buffer.from("héllo wörld\n");
    splitter.push(bytes.subarray(0, 2));
    splitter.push(bytes.subarray(2));
    expect(lines[0].message).toBe("héllo wörld");
  });

  it("masks the secret before anything else sees the line, also across chunks", () => {
    const { lines, splitter } = collect("tok-42");
    splitter.push("error: key tok");
    splitter.push("-42 rejected; tok-42 again\n");
    expect(lines).toEqual([{ level: "error", message: "error: key *** rejected; *** again" }]);
    expect(splitter.tail()).not.toContain("tok-42");
  });

  it("cuts a line at 4,096 characters and drops its rest, memory bounded", () => {
    const { lines, splitter } = collect();
    for (let i = 0; i < 100; i++) splitter.push("x".repeat(1000));
    splitter.push("y\nnext\n");
    expect(lines.map((l) => l.message.length)).toEqual([MAX_LINE_CHARS, 4]);
    expect(lines[1].message).toBe("next");
  });

  it("masks a secret that straddles the cut", () => {
    const secret = "SECRETVALUE";
    const { lines, splitter } = collect(secret);
    splitter.push("a".repeat(MAX_LINE_CHARS - 4) + secret + "b".repeat(100) + "\n");
    expect(lines[0].message.length).toBe(MAX_LINE_CHARS);
    expect(lines[0].message).not.toContain("SECR");
    expect(lines[0].message).toBe("a".repeat(MAX_LINE_CHARS - 4) + "***b");
  });

  it("keeps the newest ≤ 2,000 characters as the tail", () => {
    const { splitter } = collect();
    for (let i = 0; i < 500; i++) splitter.push(`line ${i}\n`);
    const tail = splitter.tail();
    expect(tail.length).toBeLessThanOrEqual(2000);
    expect(tail.endsWith("line 499")).toBe(true);
    expect(tail).not.toContain("line 100\n");
    expect(splitter.tail(20)).toBe("97\nline 498\nline 499");
  });
});
