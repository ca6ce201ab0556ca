/**
 * The framing of the contract's opaque page cursors (api-contract §10.6, reused by runtime-contract
 * §22 for sessions): base64url without padding of the UTF-8 JSON of one object. Each list decides
 * which keys its object has and checks their values; this module only checks the framing.
 */

/** Longest cursor accepted (§10.6). */
export const MAX_CURSOR_LENGTH = 512;
const CURSOR_ALPHABET = /^[A-Za-z0-9_-]+$/;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The cursor text of a JSON object. */
export function encodeOpaqueCursor(value: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
}

/**
 * The JSON object a cursor carries, or null when the framing is malformed: empty, longer than
 * MAX_CURSOR_LENGTH, characters outside [A-Za-z0-9_-], not the canonical base64url spelling (Node's
 * decoder ignores stray trailing bits), not UTF-8, not JSON, or not a JSON object. Never throws,
 * whatever the text (NUL and lone surrogates included).
 */
export function decodeOpaqueCursor(text: string): Record<string, unknown> | null {
  if (text.length === 0 || text.length > MAX_CURSOR_LENGTH || !CURSOR_ALPHABET.test(text)) return null;
  if (text.length % 4 === 1) return null;
  const bytes = Buffer.from(text, "base64url");
  if (bytes.toString("base64url") !== text) return null;
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  return value as Record<string, unknown>;
}
