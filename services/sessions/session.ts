/**
 * The Session record (Part I §9, runtime-contract §22) and its stored row.
 */
import type { ValidationItem } from "../../lib/errors";
import { formatStoredInstant } from "../../lib/time";
import { fastestValidatorToJsonSchema } from "../../lib/fv-json-schema";
import type { JsonSchema } from "../../lib/json-schema";
import { containsUnstorableText, unstorableTextItem } from "../../lib/validation";

/**
 * Status of a session (§22): `pending` (created, no tool call yet), `active` (at least one call
 * recorded), `closed` (by DELETE /sessions/{id} or the idle sweep; no call may name it again).
 */
export type SessionStatus = "pending" | "active" | "closed";

/** The statuses a session may still be called in. */
export const OPEN_STATUSES: readonly SessionStatus[] = ["pending", "active"];

export interface Session {
  id: string;
  provider_id: string;
  created_at: string;
  status: string;
  reason: string | null;
  client: string | null;
  /** When it was closed (output datetime), null while open. */
  closed_at: string | null;
  /** When its newest tool call was recorded (output datetime), null before the first. */
  last_call_at: string | null;
  /** Tool calls recorded against it. */
  call_count: number;
}

export interface SessionRow {
  seq: number;
  id: string;
  provider_id: string;
  created_at: string;
  status: string;
  reason: string | null;
  client: string | null;
  /** JSON text of the extra keys the creation body carried (e.g. the console's `overrides`). */
  options: string;
  /** Stored instant texts (lib/time.ts), null as in Session. */
  closed_at: string | null;
  last_call_at: string | null;
  /** A number (PostgreSQL's int8 is read as a number by lib/store/knex.ts). */
  call_count: number;
}

export function sessionFromRow(row: Omit<SessionRow, "seq">): Session {
  return {
    id: row.id,
    provider_id: row.provider_id,
    created_at: formatStoredInstant(row.created_at),
    status: row.status,
    reason: row.reason,
    client: row.client,
    closed_at: row.closed_at === null ? null : formatStoredInstant(row.closed_at),
    last_call_at: row.last_call_at === null ? null : formatStoredInstant(row.last_call_at),
    call_count: Number(row.call_count),
  };
}

/** Splits a validated creation body into the session fields and the extra keys kept as options. */
export function splitSessionInput(body: Record<string, unknown>): {
  reason: string | null;
  client: string | null;
  options: Record<string, unknown>;
} {
  const { reason, client, ...options } = body;
  return { reason: (reason as string | null | undefined) ?? null, client: (client as string | null | undefined) ?? null, options };
}

/** Longest `reason` and `client`, in characters (code points): runtime-contract §22. */
export const MAX_SESSION_TEXT_CHARS = 1000;

function charCount(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/**
 * The fastest-validator schema of a creation body's fields (§9.1, §22): `reason` and `client`
 * strings or null, unknown keys kept (they are stored as the session's options). Checked by the
 * sessions service with sessionTextItems after it.
 */
export const SESSION_BODY_FIELDS = {
  $$strict: false,
  reason: { type: "string", nullable: true, optional: true, description: "Why the session is opened (stored verbatim)." },
  client: { type: "string", nullable: true, optional: true, description: "Who opens it (e.g. the console, a CLI)." },
} as const;

/**
 * The JSON Schema of a creation body: SESSION_BODY_FIELDS converted (lib/fv-json-schema.ts), with
 * sessionTextItems' length limit. Not said by the schema: text no store can keep is refused.
 */
export function sessionBodySchema(): JsonSchema {
  const schema = fastestValidatorToJsonSchema(SESSION_BODY_FIELDS);
  const properties = schema.properties as Record<string, JsonSchema>;
  for (const field of ["reason", "client"]) properties[field] = { ...properties[field], maxLength: MAX_SESSION_TEXT_CHARS };
  return schema;
}

/**
 * 422 items for the string `reason`/`client` of a creation body (types are checked by the schema):
 * text the store could not keep verbatim (NUL, lone surrogates), or longer than 1,000 characters
 * (`too_long`, runtime-contract §22). Stored verbatim otherwise, so no trimming before counting.
 */
export function sessionTextItems(body: Record<string, unknown>): ValidationItem[] {
  const items: ValidationItem[] = [];
  for (const field of ["reason", "client"] as const) {
    const value = body[field];
    if (typeof value !== "string") continue;
    if (containsUnstorableText(value)) {
      items.push(unstorableTextItem(["body", field], value));
    } else if (value.length > MAX_SESSION_TEXT_CHARS && charCount(value) > MAX_SESSION_TEXT_CHARS) {
      items.push({
        type: "too_long",
        loc: ["body", field],
        msg: `String should have at most ${MAX_SESSION_TEXT_CHARS} characters`,
        // No `input` (optional in §6.4): echoing up to 1 MiB back would make the answer as large as the request.
        ctx: { max_length: MAX_SESSION_TEXT_CHARS, actual_length: charCount(value) },
      });
    }
  }
  return items;
}
