/**
 * The `cursor` query parameter of GET /servers/{id}/process/logs (runtime-contract §19): the id of a
 * log entry, 1..18 decimal digits. Pure; the store reads entries after it (services/runtime/store.ts
 * readLogsAfter).
 */
import { badRequest } from "../../lib/errors";

/** §19: the 400 detail for a cursor that is not 1..18 decimal digits. */
export const BAD_LOG_CURSOR = "Cursor must be an integer";

const CURSOR_RE = /^[0-9]{1,18}$/;

/**
 * The log cursor as the request gave it, normalised: undefined, null (no parameter) or the empty
 * string (`?cursor=`, "not given" by api-contract §1.1, which Part II keeps) → null; 1..18 ASCII
 * decimal digits → the same number in decimal without leading zeros ("007" → "7", "000" → "0").
 * Anything else — a sign, spaces, a fraction, 19+ digits, an array (the gateway keeps the last of
 * repeated keys, so none reaches here from HTTP), a non-string — throws a 400 ContractError
 * `Cursor must be an integer`.
 *
 * The result may exceed Number.MAX_SAFE_INTEGER (18 digits reach 10^18 − 1); it stays exact as text.
 */
export function parseLogCursor(raw: unknown): string | null {
  if (raw === undefined || raw === null || raw === "") return null;
  if (typeof raw !== "string" || !CURSOR_RE.test(raw)) throw badRequest(BAD_LOG_CURSOR);
  const trimmed = raw.replace(/^0+/, "");
  return trimmed === "" ? "0" : trimmed;
}
