/**
 * The runs cursor (§10.6): a position after one run in (ts desc, id desc) order, encoded as
 * base64url without padding of the UTF-8 JSON `{"ts": <stored ts>, "id": <id>}`.
 */
import { parseDatetime, toStoredInstant } from "../../lib/time";

/** A decoded cursor: the stored (fixed-width) ts of the run and its id. */
export interface RunPosition {
  ts: string;
  id: number;
}

export const MAX_CURSOR_LENGTH = 512;
const CURSOR_ALPHABET = /^[A-Za-z0-9_-]+$/;

export function encodeCursor(position: RunPosition): string {
  return Buffer.from(JSON.stringify({ ts: position.ts, id: position.id }), "utf8").toString("base64url");
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes a cursor; null when it is malformed: characters outside [A-Za-z0-9_-], longer than 512,
 * not canonical base64url, not UTF-8, not a JSON object with exactly a string `ts` that is a valid
 * datetime and a non-negative integer `id` no larger than `maxId` (the largest run id the store's
 * id column can hold: lib/store/columns.ts MAX_SERIAL_ID; a larger id designates no position). The
 * ts comes back in the stored form, whatever datetime form the cursor used.
 */
export function decodeCursor(text: string, maxId: number = Number.MAX_SAFE_INTEGER): RunPosition | null {
  if (text.length === 0 || text.length > MAX_CURSOR_LENGTH || !CURSOR_ALPHABET.test(text)) return null;
  if (text.length % 4 === 1) return null;
  const bytes = Buffer.from(text, "base64url");
  // Buffer decoding is lenient (ignores stray trailing bits): only the canonical spelling is accepted.
  if (bytes.toString("base64url") !== text) return null;
  let json: string;
  try {
    json = utf8.decode(bytes);
  } catch {
    return null;
  }
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const keys = Object.keys(value);
  if (keys.length !== 2 || !keys.includes("ts") || !keys.includes("id")) return null;
  const { ts, id } = value as { ts: unknown; id: unknown };
  if (typeof ts !== "string" || typeof id !== "number" || !Number.isSafeInteger(id) || id < 0 || id > maxId) return null;
  const ms = parseDatetime(ts);
  if (ms === null) return null;
  return { ts: toStoredInstant(ms), id };
}
