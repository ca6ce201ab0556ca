/**
 * The runs cursor (§10.6): a position after one run in (ts desc, id desc) order, encoded as
 * base64url without padding of the UTF-8 JSON `{"ts": <stored ts>, "id": <id>}` (the framing is
 * lib/opaque-cursor.ts, shared with the sessions cursor).
 */
import { decodeOpaqueCursor, encodeOpaqueCursor } from "../../lib/opaque-cursor";
import { parseDatetime, toStoredInstant } from "../../lib/time";

export { MAX_CURSOR_LENGTH } from "../../lib/opaque-cursor";

/** A decoded cursor: the stored (fixed-width) ts of the run and its id. */
export interface RunPosition {
  ts: string;
  id: number;
}

export function encodeCursor(position: RunPosition): string {
  return encodeOpaqueCursor({ ts: position.ts, id: position.id });
}

/**
 * Decodes a cursor; null when it is malformed: characters outside [A-Za-z0-9_-], longer than 512,
 * not canonical base64url, not UTF-8, not a JSON object with exactly a string `ts` that is a valid
 * datetime and a non-negative integer `id` no larger than `maxId` (the largest run id the store's
 * id column can hold: lib/store/columns.ts MAX_SERIAL_ID; a larger id designates no position). The
 * ts comes back in the stored form, whatever datetime form the cursor used.
 */
export function decodeCursor(text: string, maxId: number = Number.MAX_SAFE_INTEGER): RunPosition | null {
  const value = decodeOpaqueCursor(text);
  if (value === null) return null;
  const keys = Object.keys(value);
  if (keys.length !== 2 || !keys.includes("ts") || !keys.includes("id")) return null;
  const { ts, id } = value as { ts: unknown; id: unknown };
  if (typeof ts !== "string" || typeof id !== "number" || !Number.isSafeInteger(id) || id < 0 || id > maxId) return null;
  const ms = parseDatetime(ts);
  if (ms === null) return null;
  return { ts: toStoredInstant(ms), id };
}
