/**
 * The Session record (§9) and its stored row.
 */
import type { ValidationItem } from "../../lib/errors";
import { formatStoredInstant } from "../../lib/time";
import { containsUnstorableText, unstorableTextItem } from "../../lib/validation";

export interface Session {
  id: string;
  provider_id: string;
  created_at: string;
  status: string;
  reason: string | null;
  client: string | null;
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
}

export function sessionFromRow(row: Omit<SessionRow, "seq">): Session {
  return {
    id: row.id,
    provider_id: row.provider_id,
    created_at: formatStoredInstant(row.created_at),
    status: row.status,
    reason: row.reason,
    client: row.client,
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

/** 422 items for a string reason/client that the store could not keep verbatim. */
export function unstorableTextItems(body: Record<string, unknown>): ValidationItem[] {
  return (["reason", "client"] as const)
    .filter((field) => typeof body[field] === "string" && containsUnstorableText(body[field] as string))
    .map((field) => unstorableTextItem(["body", field], body[field] as string));
}
