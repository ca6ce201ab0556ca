/**
 * Request bodies (§6.3): read with the 1 MiB limit, parsed as JSON when the content type allows it,
 * and shaped into action params according to the route's input kind. Every JSON body of every
 * endpoint passes here, so the nesting limit is enforced once, here, on the text, before parsing.
 */
import { isUtf8 } from "node:buffer";
import type { IncomingMessage } from "node:http";
import { ContractError, validationFailed } from "../../lib/errors";
import { isPlainObject } from "../../lib/validation";

export const BODY_LIMIT_BYTES = 1024 * 1024;

/** Reads the raw body; rejects with 413 past the limit (the rest of the upload is discarded). */
export function readRawBody(req: IncomingMessage, limit = BODY_LIMIT_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      reject(new ContractError(413, "Request body too large"));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on("data", (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(new ContractError(413, "Request body too large"));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on("error", (err) => {
      if (!failed) reject(err);
    });
  });
}

function isJsonContentType(contentType: string | undefined): boolean {
  if (contentType === undefined || contentType.trim() === "") return true;
  const type = contentType.split(";")[0].trim().toLowerCase();
  return type === "application/json" || /^application\/[^/]+\+json$/.test(type);
}

/** Sentinel for "no body": an empty body or the JSON literal null. */
export const NO_BODY = Symbol("no body");

/** §6.3: JSON bodies nested deeper than this (arrays and objects together) are refused. */
export const MAX_JSON_DEPTH = 64;

/**
 * The deepest nesting of arrays and objects in a JSON text, or `limit + 1` as soon as it goes past
 * `limit` (the rest of the text is not read). One linear pass over the characters, no recursion,
 * so no input can exhaust the stack; brackets inside strings do not count. The text need not be
 * valid JSON: the syntax is checked afterwards by the parser. `[]` and `{}` are depth 1, `[[1]]` 2.
 */
export function jsonNestingDepth(text: string, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if ((c === 0x5d || c === 0x7d) && depth > 0) {
      depth--;
    }
  }
  return deepest;
}

/**
 * Parses a body: NO_BODY when empty or null, else the JSON value. 422 (`loc: ["body"]`) when the
 * bytes are not UTF-8, the content type is not JSON, the nesting is deeper than MAX_JSON_DEPTH
 * (checked before the syntax, §6.3), or the syntax is invalid (with the character position when
 * the parser gives one).
 */
export function parseJsonBody(raw: Buffer, contentType: string | undefined): unknown {
  if (!isUtf8(raw)) {
    throw validationFailed([{ type: "json_invalid", loc: ["body"], msg: "The body is not valid UTF-8 text" }]);
  }
  const text = raw.toString("utf8");
  if (text.trim() === "") return NO_BODY;
  if (!isJsonContentType(contentType)) {
    throw validationFailed([{ type: "model_attributes_type", loc: ["body"], msg: `Unsupported content type ${contentType}; send application/json` }]);
  }
  if (jsonNestingDepth(text) > MAX_JSON_DEPTH) {
    throw validationFailed([
      {
        type: "json_too_deep",
        loc: ["body"],
        msg: `JSON nested deeper than ${MAX_JSON_DEPTH} levels (arrays and objects together)`,
        ctx: { max_depth: MAX_JSON_DEPTH },
      },
    ]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const position = /position (\d+)/.exec((err as Error).message)?.[1];
    throw validationFailed([
      {
        type: "json_invalid",
        loc: position === undefined ? ["body"] : ["body", Number(position)],
        msg: "JSON decode error",
        // The parser's own message quotes the body ("sk-live-…"... is not valid JSON): a body may be
        // a secret (PUT /secrets), so the error names the position only, never the text.
        ctx: { error: jsonErrorText((err as Error).message, position) },
      },
    ]);
  }
  return value === null ? NO_BODY : value;
}

/** What went wrong in a JSON body, without quoting any of it. */
function jsonErrorText(parserMessage: string, position: string | undefined): string {
  if (/end of JSON input/i.test(parserMessage)) return "Unexpected end of JSON input";
  return position === undefined ? "Invalid JSON" : `Invalid JSON at position ${position}`;
}

/** A body that must be a JSON object. */
export function requireObjectBody(body: unknown): Record<string, unknown> {
  if (body === NO_BODY) {
    throw validationFailed([{ type: "missing", loc: ["body"], msg: "Field required" }]);
  }
  if (!isPlainObject(body)) {
    throw validationFailed([{ type: "model_type", loc: ["body"], msg: "Input should be a JSON object", input: body }]);
  }
  return body;
}

/** A body that may be absent (empty or null) or a JSON object. */
export function optionalObjectBody(body: unknown): Record<string, unknown> {
  return body === NO_BODY ? {} : requireObjectBody(body);
}
