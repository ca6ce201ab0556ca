/**
 * Datetimes as the contract wants them (§1.2, §6.2): parsing of every accepted input form into epoch
 * milliseconds, the stored fixed-width text form, and the output form.
 */

const DATETIME_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|z|[+-]\d{2}:?\d{2})?)?$/;
const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)$/;

/** Epoch ms of a UTC date and time (years 0..99 included, unlike Date.UTC). */
function utcMs(year: number, month: number, day: number, h = 0, m = 0, s = 0, ms = 0): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(h, m, s, ms);
  return d.getTime();
}

/** Epoch ms of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: the instants the store can hold. */
export const MIN_INSTANT_MS = utcMs(1, 1, 1);
export const MAX_INSTANT_MS = utcMs(9999, 12, 31, 23, 59, 59, 999);

function daysInMonth(year: number, month: number): number {
  return new Date(utcMs(year, month + 1, 0)).getUTCDate();
}

/**
 * Parses a datetime value; returns epoch milliseconds, or null when the value is not an accepted
 * datetime. Accepts strings in the ISO forms of §6.2 and numbers (Unix seconds, or milliseconds when
 * the absolute value exceeds 2e10).
 */
export function parseDatetime(value: unknown): number | null {
  if (typeof value === "number") {
    // The shortest decimal form of the double is what the client wrote (259.001, not 259.00099…).
    const written = String(value);
    return NUMBER_RE.test(written) ? fromEpochText(written) : fromEpochNumber(value);
  }
  if (typeof value !== "string") return null;
  const text = value;
  if (NUMBER_RE.test(text)) return fromEpochText(text);
  const m = DATETIME_RE.exec(text);
  if (m === null) return null;
  const [, ys, mos, ds, hs, mis, ss, frac, zone] = m;
  const year = Number(ys);
  const month = Number(mos);
  const day = Number(ds);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hs === undefined) return utcMs(year, month, day);
  const hour = Number(hs);
  const minute = Number(mis);
  const second = ss === undefined ? 0 : Number(ss);
  if (hour > 23 || minute > 59 || second > 59) return null;
  const millis = frac === undefined ? 0 : Number(frac.padEnd(3, "0").slice(0, 3));
  let ms = utcMs(year, month, day, hour, minute, second, millis);
  if (zone !== undefined && zone !== "Z" && zone !== "z") {
    const sign = zone[0] === "-" ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2, 4));
    if (oh > 23 || om > 59) return null;
    ms -= sign * (oh * 60 + om) * 60000;
  }
  if (ms < MIN_INSTANT_MS || ms > MAX_INSTANT_MS) return null;
  return ms;
}

/**
 * A decimal epoch value read from its digits, so the milliseconds are exact: `259.001` seconds is
 * 259001 ms (multiplying the double by 1000 would give 259000.99…, truncated to 259000).
 */
function fromEpochText(text: string): number | null {
  const n = Number(text);
  if (!Number.isFinite(n)) return null;
  const negative = text.startsWith("-");
  const [intDigits, fracDigits = ""] = text.replace(/^[+-]/, "").split(".");
  const whole = Number(intDigits === "" ? "0" : intDigits);
  const magnitude = Math.abs(n) > 2e10 ? whole : whole * 1000 + Number(fracDigits.padEnd(3, "0").slice(0, 3));
  const ms = negative && magnitude !== 0 ? -magnitude : magnitude;
  if (ms < MIN_INSTANT_MS || ms > MAX_INSTANT_MS) return null;
  return ms;
}

function fromEpochNumber(n: number): number | null {
  if (!Number.isFinite(n)) return null;
  const ms = Math.abs(n) > 2e10 ? n : n * 1000;
  const truncated = Math.trunc(ms);
  if (truncated < MIN_INSTANT_MS || truncated > MAX_INSTANT_MS) return null;
  return truncated;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/** Fixed-width stored form `YYYY-MM-DDTHH:MM:SS.sssZ`, whose text order is chronological. */
export function toStoredInstant(ms: number): string {
  const d = new Date(ms);
  return (
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}` +
    `T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}` +
    `.${pad(d.getUTCMilliseconds(), 3)}Z`
  );
}

/** Output form: UTC with `Z`, seconds always, milliseconds only when non-zero. */
export function formatInstant(ms: number): string {
  const stored = toStoredInstant(ms);
  return stored.endsWith(".000Z") ? `${stored.slice(0, 19)}Z` : stored;
}

/** Output form of a stored instant text. */
export function formatStoredInstant(stored: string): string {
  return stored.endsWith(".000Z") ? `${stored.slice(0, 19)}Z` : stored;
}

/** Epoch ms of a stored instant text. */
export function storedToMs(stored: string): number {
  const ms = parseDatetime(stored);
  if (ms === null) throw new Error(`corrupt stored instant ${JSON.stringify(stored)}`);
  return ms;
}

/** UTC calendar day `YYYY-MM-DD` of an instant. */
export function utcDay(ms: number): string {
  return toStoredInstant(ms).slice(0, 10);
}
