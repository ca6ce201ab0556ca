/**
 * Orderings of the read endpoints: strings compare by UTF-16 code unit (binary, §10.1), whatever
 * the database collation, and a null route sorts first.
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

/** (provider_id asc, route asc with null first). */
export function compareProviderRoute(
  a: { provider_id: string; route: string | null },
  b: { provider_id: string; route: string | null },
): number {
  return compareText(a.provider_id, b.provider_id) || compareNullableText(a.route, b.route);
}
