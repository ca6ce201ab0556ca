/**
 * The contract's string order (§10.1): by UTF-16 code unit (binary), whatever the database
 * collation; a null sorts first.
 */

export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Ascending with null first. */
export function compareNullableText(a: string | null, b: string | null): number {
  if (a === null) return b === null ? 0 : -1;
  if (b === null) return 1;
  return compareText(a, b);
}
