/**
 * Request bodies (§6.3): read with the 1 MiB limit, parsed as JSON when the content type allows it,
 * and shaped into action params according to the route's input kind.
 */
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

/** Parses a body: NO_BODY when empty or null, else the JSON value; 422 on a bad type or syntax. */
export function parseJsonBody(raw: Buffer, contentType: string | undefined): unknown {
  const text = raw.toString("utf8");
  if (text.trim() === "") return NO_BODY;
  if (!isJsonContentType(contentType)) {
    throw validationFailed([
      { type: "model_attributes_type", loc: ["body"], msg: `Unsupported content type ${contentType}; send application/json` },
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
        ctx: { error: (err as Error).message },
      },
    ]);
  }
  return value === null ? NO_BODY : value;
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
