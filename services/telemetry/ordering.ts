/**
 * Orderings of the read endpoints: strings compare by UTF-16 code unit (binary, §10.1), whatever
 * the database collation, and a null route sorts first.
 */

import { compareNullableText, compareText } from "../../lib/text-order";

/** (provider_id asc, route asc with null first). */
export function compareProviderRoute(a: { provider_id: string; route: string | null }, b: { provider_id: string; route: string | null }): number {
  return compareText(a.provider_id, b.provider_id) || compareNullableText(a.route, b.route);
}
