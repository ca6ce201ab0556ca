/**
 * Capture of what a server writes to stderr (runtime-contract §19, §24): bytes → lines (LF or CRLF),
 * each cut at 4,096 characters, every occurrence of the server's secret replaced by `***` before the
 * line goes anywhere, a level from the line's first word, and a tail of the newest text (≤ 2,000
 * characters) for `last_error`. Memory stays bounded whatever the server writes (a line without end
 * is cut, its rest dropped until the next newline).
 */
import { StringDecoder } from "node:string_decoder";

/** §19: a line is cut at 4,096 characters. */
export const MAX_LINE_CHARS = 4096;
/** §18.1: `last_error` carries at most 2,000 characters of stderr. */
export const TAIL_CHARS = 2000;
export const SECRET_MASK = "***";

export type LineLevel = "info" | "warn" | "error";

const ERROR_WORDS = new Set(["error", "err", "fatal", "critical", "crit", "panic", "exception"]);
const WARN_WORDS = new Set(["warn", "warning"]);

/**
 * §19 level of a stderr line: `error` or `warn` when its first word is such a word (case-insensitive,
 * with surrounding punctuation such as `[ERROR]`, `error:`, `WARN -`), else `info`.
 */
export function lineLevel(line: string): LineLevel {
  const m = /^[^A-Za-z0-9]*([A-Za-z]+)/.exec(line);
  if (m === null) return "info";
  const word = m[1].toLowerCase();
  if (ERROR_WORDS.has(word)) return "error";
  if (WARN_WORDS.has(word)) return "warn";
  return "info";
}

/** A secret's parts of at least this many characters are masked on their own (a multi-line secret). */
const MIN_MASKED_PART = 4;

/**
 * Every occurrence of `secret` in `text` replaced by `***` (§24); for a secret of several lines (a PEM
 * key, a JSON credential), then also every occurrence of each of its lines (of 4 characters or more),
 * since what a server prints reaches the log line by line. No-op for a null or empty secret.
 */
export function maskSecret(text: string, secret: string | null | undefined): string {
  if (!secret) return text;
  let masked = text.split(secret).join(SECRET_MASK);
  if (/[\r\n]/.test(secret)) {
    const parts = secret
      .split(/\r?\n|\r/)
      .filter((p) => p.length >= MIN_MASKED_PART)
      .sort((a, b) => b.length - a.length);
    for (const part of parts) masked = masked.split(part).join(SECRET_MASK);
  }
  return masked;
}

export interface StderrLine {
  level: LineLevel;
  /** The masked line, at most 4,096 characters, without its line end. */
  message: string;
}

/**
 * Splits a byte stream into masked, cut lines. `push` takes chunks, `end` flushes the last line (one
 * without a final newline). Lines go to `onLine` in order; `tail()` gives the newest ≤ 2,000
 * characters of masked text (lines joined with "\n").
 */
export class StderrLineSplitter {
  private readonly decoder = new StringDecoder("utf8");
  private pending = "";
  /** True while dropping the rest of a line already cut. */
  private dropping = false;
  private tailLines: string[] = [];
  private tailLength = 0;
  /** Characters kept before cutting: enough to see a secret that straddles the cut. */
  private readonly keep: number;

  constructor(
    private readonly secret: string | null,
    private readonly onLine: (line: StderrLine) => void,
  ) {
    this.keep = MAX_LINE_CHARS + (secret ? secret.length : 0);
  }

  push(chunk: Buffer | string): void {
    this.feed(typeof chunk === "string" ? chunk : this.decoder.write(chunk));
  }

  end(): void {
    this.feed(this.decoder.end());
    if (this.pending !== "" && !this.dropping) this.emit(this.pending);
    this.pending = "";
    this.dropping = false;
  }

  /** The newest stderr text, masked, at most `maxChars` (default 2,000) characters. */
  tail(maxChars: number = TAIL_CHARS): string {
    const text = this.tailLines.join("\n");
    return text.length > maxChars ? text.slice(text.length - maxChars) : text;
  }

  private feed(text: string): void {
    let start = 0;
    for (;;) {
      const nl = text.indexOf("\n", start);
      if (nl === -1) break;
      const piece = text.slice(start, nl);
      if (this.dropping) this.dropping = false;
      else this.emit(this.pending + piece);
      this.pending = "";
      start = nl + 1;
    }
    if (this.dropping) return;
    this.pending += text.slice(start);
    if (this.pending.length > this.keep) {
      this.emit(this.pending);
      this.pending = "";
      this.dropping = true;
    }
  }

  private emit(raw: string): void {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    let message = maskSecret(line, this.secret);
    if (message.length > MAX_LINE_CHARS) message = message.slice(0, MAX_LINE_CHARS);
    this.remember(message);
    this.onLine({ level: lineLevel(message), message });
  }

  private remember(message: string): void {
    this.tailLines.push(message);
    this.tailLength += message.length + 1;
    while (this.tailLines.length > 1 && this.tailLength - this.tailLines[0].length - 1 >= TAIL_CHARS) {
      this.tailLength -= this.tailLines[0].length + 1;
      this.tailLines.shift();
    }
  }
}
