/**
 * Server-Sent Events framing (WHATWG HTML, "Server-sent events"; runtime-contract §23.1): an event is
 * `id:`, `event:` and one `data:` line, then a blank line; a comment is a line starting with `:`.
 * JSON.stringify never writes a raw CR or LF, so one data line always holds the whole JSON object.
 */

/** The frame of one event: `id: <id>\nevent: <type>\ndata: <json>\n\n`. */
export function eventFrame(id: string, type: string, data: unknown): Buffer {
  return Buffer.from(`id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`, "utf8");
}

/** The keep-alive comment (§23.1: `: keep-alive`). */
export const KEEP_ALIVE_FRAME: Buffer = Buffer.from(": keep-alive\n\n", "utf8");

/** The response headers of a stream. `X-Accel-Buffering: no` keeps proxies such as nginx from buffering it. */
export const STREAM_HEADERS: Readonly<Record<string, string>> = {
  "Content-Type": "text/event-stream; charset=utf-8",
  "Cache-Control": "no-cache, no-transform",
  Connection: "keep-alive",
  "X-Accel-Buffering": "no",
};
