/**
 * Turns any error the gateway meets into the contract's HTTP answer (§6.4): contract errors keep
 * their status and detail; routing misses become 404 or 405; broker failures become 503; anything
 * else is a 500 whose details stay in the log.
 *
 * This is the path every failure takes, so nothing in it may throw: the ValidationItems of a 422 are
 * rebuilt from their known fields with a bounded copy of any echoed `input` (never deeper than the
 * body limit allows, never larger than a fixed budget, never anything JSON cannot write), and
 * `errorAnswerText` falls back to a fixed answer if serialisation still fails.
 */
import type { ServerResponse } from "node:http";
import { isContractError } from "../../lib/errors";
import { allowedMethods, HttpMethod } from "./routes";

export interface HttpErrorAnswer {
  status: number;
  body: { detail: unknown };
  headers: Record<string, string>;
}

const UNAVAILABLE_TYPES = new Set([
  "SERVICE_NOT_FOUND",
  "SERVICE_NOT_AVAILABLE",
  "REQUEST_TIMEOUT",
  "REQUEST_SKIPPED",
  "REQUEST_REJECTED",
  "QUEUE_FULL",
  "CIRCUIT_BREAKER_OPEN",
  "BROKER_NOT_STARTED",
  // BrokerDisconnectedError: this node has lost its transporter connection (NATS down).
  "BAD_GATEWAY",
]);

interface ErrorLike {
  code?: unknown;
  type?: unknown;
  message?: unknown;
  data?: unknown;
}

/** Deepest echoed value (arrays and objects together): the body nesting limit of §6.3. */
export const MAX_ECHO_DEPTH = 64;
/** Approximate JSON characters one echoed `input` (or `ctx`) may take. */
export const MAX_ECHO_CHARS = 64 * 1024;
/** Approximate JSON characters all the echoes of one answer may take together. */
export const MAX_ECHO_TOTAL_CHARS = 1024 * 1024;

interface EchoBudget {
  left: number;
}

/**
 * A copy of `value` that JSON.stringify writes without throwing, or undefined when the value cannot
 * be echoed within the limits: deeper than MAX_ECHO_DEPTH, larger than MAX_ECHO_CHARS or what is
 * left of the answer's budget, a cycle, or anything but null, booleans, finite numbers, strings,
 * arrays and plain objects (so no toJSON method runs). Iterative: no recursion on the value.
 */
export function echoValue(value: unknown, budget: EchoBudget = { left: MAX_ECHO_TOTAL_CHARS }): unknown {
  try {
    const limit = Math.min(MAX_ECHO_CHARS, budget.left);
    let size = 0;
    const copyOf = (v: unknown): { ok: true; copy: unknown; children?: [string | number, unknown][] } | { ok: false } => {
      if (v === null || typeof v === "boolean") {
        size += 5;
        return { ok: true, copy: v };
      }
      if (typeof v === "number") {
        size += 24;
        return Number.isFinite(v) ? { ok: true, copy: v } : { ok: false };
      }
      if (typeof v === "string") {
        size += v.length + 2;
        return { ok: true, copy: v };
      }
      if (typeof v !== "object") return { ok: false };
      if (Array.isArray(v)) {
        size += 2 + v.length;
        if (size > limit) return { ok: false };
        const children: [number, unknown][] = [];
        for (let i = 0; i < v.length; i++) children.push([i, v[i]]);
        return { ok: true, copy: new Array<unknown>(v.length), children };
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return { ok: false };
      const children: [string, unknown][] = [];
      for (const key of Object.keys(v)) {
        children.push([key, (v as Record<string, unknown>)[key]]);
        size += key.length + 4;
      }
      // A null-prototype copy: keys such as "__proto__" stay plain data.
      return { ok: true, copy: Object.create(null), children };
    };
    const root = copyOf(value);
    if (!root.ok) return undefined;
    const stack: { copy: unknown; children: [string | number, unknown][]; depth: number }[] = [];
    if (root.children !== undefined) stack.push({ copy: root.copy, children: root.children, depth: 1 });
    while (stack.length > 0) {
      if (size > limit) return undefined;
      const frame = stack.pop() as (typeof stack)[number];
      if (frame.depth > MAX_ECHO_DEPTH) return undefined;
      for (const [key, child] of frame.children) {
        const node = copyOf(child);
        if (!node.ok || size > limit) return undefined;
        (frame.copy as Record<string | number, unknown>)[key] = node.copy;
        if (node.children !== undefined) stack.push({ copy: node.copy, children: node.children, depth: frame.depth + 1 });
      }
    }
    if (size > limit) return undefined;
    budget.left -= size;
    return root.copy;
  } catch {
    return undefined;
  }
}

/** The ValidationItems of a 422, rebuilt from their known fields with bounded echoes. */
function safeValidationItems(data: unknown): unknown[] {
  const budget: EchoBudget = { left: MAX_ECHO_TOTAL_CHARS };
  const source = Array.isArray(data) ? data : [];
  const items: unknown[] = [];
  for (const raw of source) {
    const item = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
    const loc = Array.isArray(item.loc)
      ? item.loc.map((part) => (typeof part === "number" && Number.isFinite(part) ? part : String(part)))
      : ["body"];
    const out: Record<string, unknown> = {
      type: typeof item.type === "string" ? item.type : "value_error",
      loc,
      msg: typeof item.msg === "string" ? item.msg : "Invalid value",
    };
    if (item.input !== undefined) {
      const input = echoValue(item.input, budget);
      if (input !== undefined) out.input = input;
    }
    if (item.ctx !== undefined) {
      const ctx = echoValue(item.ctx, budget);
      if (ctx !== undefined && typeof ctx === "object" && ctx !== null && !Array.isArray(ctx)) out.ctx = ctx;
    }
    items.push(out);
  }
  if (items.length === 0) items.push({ type: "value_error", loc: ["body"], msg: "Invalid request" });
  return items;
}

/** The answer to send for an error; never throws (an error it cannot read is a plain 500). */
export function httpErrorAnswer(err: unknown, method: string, pathname: string): HttpErrorAnswer {
  try {
    return answerFor(err, method, pathname);
  } catch {
    return { status: 500, body: { detail: "Internal Server Error" }, headers: {} };
  }
}

function answerFor(err: unknown, method: string, pathname: string): HttpErrorAnswer {
  const e = (typeof err === "object" && err !== null ? err : {}) as ErrorLike;
  if (isContractError(err)) {
    const status = err.code;
    const detail = status === 422 ? safeValidationItems(err.data) : String(err.message);
    // §25.3: a 429 says when to try again (whole seconds).
    const retryAfter = (err.data as { retry_after_s?: unknown } | undefined)?.retry_after_s;
    if (status === 429 && typeof retryAfter === "number" && Number.isFinite(retryAfter)) {
      return { status, body: { detail }, headers: { "Retry-After": String(Math.max(1, Math.ceil(retryAfter))) } };
    }
    return { status, body: { detail }, headers: {} };
  }
  if (e.type === "UNABLE_DECODE_PARAM") {
    return {
      status: 422,
      body: { detail: [{ type: "value_error", loc: ["path"], msg: "Path parameter is not valid percent-encoding" }] },
      headers: {},
    };
  }
  if (e.type === "NOT_FOUND" && e.code === 404) {
    const allowed = allowedMethods(pathname);
    if (allowed.length > 0 && !allowed.includes(method as HttpMethod)) {
      return { status: 405, body: { detail: "Method Not Allowed" }, headers: { Allow: allowed.join(", ") } };
    }
    return { status: 404, body: { detail: "Not Found" }, headers: {} };
  }
  if ((typeof e.type === "string" && UNAVAILABLE_TYPES.has(e.type)) || e.code === 503) {
    return { status: 503, body: { detail: "Service unavailable, try again shortly" }, headers: { "Retry-After": "1" } };
  }
  return { status: 500, body: { detail: "Internal Server Error" }, headers: {} };
}

const FALLBACK_TEXT = '{"detail":"Internal Server Error"}';

/**
 * The status, headers and JSON text of an answer. Never throws: if the body cannot be serialised
 * the answer becomes the fixed 500 text (and a 422 keeps its status with items without echoes).
 */
export function errorAnswerText(answer: HttpErrorAnswer): { status: number; headers: Record<string, string>; text: string } {
  try {
    return { status: answer.status, headers: answer.headers, text: JSON.stringify(answer.body) };
  } catch {
    return { status: 500, headers: {}, text: FALLBACK_TEXT };
  }
}

/**
 * Writes an error answer (status, the answer's headers, JSON body). Never throws: when the headers
 * were already sent the response is just ended, and if writing fails the connection is dropped.
 */
export function writeErrorAnswer(res: ServerResponse, answer: HttpErrorAnswer): void {
  try {
    if (res.headersSent) {
      res.end();
      return;
    }
    const { status, headers, text } = errorAnswerText(answer);
    res.writeHead(status, {
      ...headers,
      "Content-Type": "application/json; charset=utf-8",
      "Content-Length": Buffer.byteLength(text),
    });
    res.end(text);
  } catch {
    try {
      res.destroy();
    } catch {
      // nothing left to do
    }
  }
}

/** The parts of a server socket the clientError answer uses (`_httpMessage`: Node's response in progress). */
interface ClientSocket {
  writable: boolean;
  _httpMessage?: { headersSent?: boolean } | null;
  end(data: string): void;
  destroy(): void;
}

/** Node's HTTP parser refusals (the request never reaches the gateway) by error code. */
const CLIENT_ERROR_ANSWERS: ReadonlyMap<string, [number, string]> = new Map([
  ["HPE_HEADER_OVERFLOW", [431, "Request Header Fields Too Large"]],
  ["HPE_CHUNK_EXTENSIONS_OVERFLOW", [413, "Request body too large"]],
  ["ERR_HTTP_REQUEST_TIMEOUT", [408, "Request Timeout"]],
]);

/**
 * The `clientError` listener of the HTTP server: a request Node's parser refuses (an unknown
 * method, a malformed request line or header, headers past 16 KiB) gets a JSON error body like every
 * other error (§6.4: 400, or 431 / 413 / 408 by cause) instead of Node's bare status line, when
 * nothing has been written on the connection yet; then the connection is closed. Never throws.
 */
export function answerClientError(err: unknown, socket: ClientSocket): void {
  try {
    const code = typeof err === "object" && err !== null ? String((err as { code?: unknown }).code) : "";
    // A kept-alive connection has written earlier answers: only a response in progress forbids
    // writing (the test Node's own default handler makes).
    const inProgress = socket._httpMessage?.headersSent === true;
    if (code !== "ECONNRESET" && socket.writable && !inProgress) {
      const [status, detail] = CLIENT_ERROR_ANSWERS.get(code) ?? [400, "Bad Request"];
      const text = JSON.stringify({ detail });
      // An answer to HEAD has no body (Node's parser error keeps the bytes it read in rawPacket).
      const raw = (err as { rawPacket?: unknown }).rawPacket;
      const head = Buffer.isBuffer(raw) && raw.subarray(0, 5).toString("latin1") === "HEAD ";
      socket.end(
        `HTTP/1.1 ${status} ${detail}\r\nContent-Type: application/json; charset=utf-8\r\n` +
          `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${head ? "" : text}`,
      );
      return;
    }
    socket.destroy();
  } catch {
    // the connection is already gone
  }
}
