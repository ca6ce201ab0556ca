/**
 * A Server-Sent Events client for the tests and the benchmark: a real HTTP request (node:http) whose
 * stream is parsed as it arrives (WHATWG rules: lines split on LF, CRLF or CR; `field: value`; data
 * lines joined with LF; comments counted).
 */
import http from "node:http";

export interface ParsedEvent {
  id: string | null;
  event: string;
  data: string;
}

/** An incremental SSE parser: push text as it arrives, get the complete events back. */
export class SseReader {
  private buffer = "";
  private id: string | null = null;
  private event = "";
  private data: string[] = [];
  private pendingCR = false;
  /** Comment lines seen (`: keep-alive`). */
  comments = 0;

  push(text: string): ParsedEvent[] {
    let chunk = text;
    if (this.pendingCR && chunk.startsWith("\n")) chunk = chunk.slice(1);
    this.pendingCR = false;
    this.buffer += chunk;
    const out: ParsedEvent[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      if (m === null) break;
      if (m[0] === "\r" && m.index === this.buffer.length - 1) this.pendingCR = true;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      this.line(line, out);
    }
    return out;
  }

  private line(line: string, out: ParsedEvent[]): void {
    if (line === "") {
      if (this.data.length > 0) out.push({ id: this.id, event: this.event === "" ? "message" : this.event, data: this.data.join("\n") });
      this.event = "";
      this.data = [];
      return;
    }
    if (line.startsWith(":")) {
      this.comments += 1;
      return;
    }
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "id") this.id = value;
    else if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
  }
}

export interface SseEvent {
  id: string | null;
  event: string;
  data: any;
}

export interface SseClient {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Every event received so far, data parsed as JSON. */
  events: SseEvent[];
  /** Comments received so far. */
  comments(): number;
  /** The id of the newest event received (what an EventSource would send as Last-Event-ID). */
  lastId(): string | null;
  /** True once the server ended or dropped the stream. */
  ended(): boolean;
  /** Resolves when `done(events)` holds (checked at each arrival); rejects after `timeoutMs` with `what`. */
  until(done: (events: SseEvent[]) => boolean, what: string, timeoutMs?: number): Promise<SseEvent[]>;
  /** Resolves when the stream ends. */
  closed: Promise<void>;
  close(): void;
}

/**
 * Opens `url` (a full URL) as an event stream; resolves once the answer's headers arrived. A non-200
 * answer resolves too, with its body as one event `{event: "body", data: text}` once it ended.
 */
export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { accept: "text/event-stream", ...headers }, agent: false }, (res) => {
      const reader = new SseReader();
      const events: SseEvent[] = [];
      const waiters = new Set<() => void>();
      let ended = false;
      let body = "";
      const check = () => {
        for (const w of [...waiters]) w();
      };
      let closedResolve: () => void = () => undefined;
      const closed = new Promise<void>((r) => (closedResolve = r));
      const ok = res.statusCode === 200;
      res.setEncoding("utf8");
      res.on("data", (text: string) => {
        if (!ok) {
          body += text;
          return;
        }
        for (const e of reader.push(text)) {
          let data: unknown = e.data;
          try {
            data = JSON.parse(e.data);
          } catch {
            // keep the text
          }
          events.push({ id: e.id, event: e.event, data });
        }
        check();
      });
      const finish = () => {
        if (ended) return;
        ended = true;
        if (!ok) events.push({ id: null, event: "body", data: body });
        check();
        closedResolve();
      };
      res.on("end", finish);
      res.on("close", finish);
      res.on("error", finish);
      const client: SseClient = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        comments: () => reader.comments,
        lastId: () => {
          for (let i = events.length - 1; i >= 0; i--) if (events[i].id !== null) return events[i].id;
          return null;
        },
        ended: () => ended,
        until(done, what, timeoutMs = 30_000) {
          return new Promise((ok2, fail) => {
            const timer = setTimeout(() => {
              waiters.delete(waiter);
              fail(
                new Error(
                  `timed out after ${timeoutMs} ms waiting for ${what}; got ${events.length} events: ${JSON.stringify(events.slice(-10)).slice(0, 2000)}`,
                ),
              );
            }, timeoutMs);
            const waiter = () => {
              let satisfied = false;
              try {
                satisfied = done(events);
              } catch {
                satisfied = false;
              }
              if (satisfied) {
                clearTimeout(timer);
                waiters.delete(waiter);
                ok2(events);
              } else if (ended) {
                clearTimeout(timer);
                waiters.delete(waiter);
                fail(new Error(`the stream ended while waiting for ${what}; got ${events.length} events`));
              }
            };
            waiters.add(waiter);
            waiter();
          });
        },
        closed,
        close() {
          req.destroy();
          res.destroy();
        },
      };
      resolve(client);
    });
    req.on("error", reject);
  });
}
