/**
 * Reading aggregate results alike on SQLite and PostgreSQL: SUM over no non-null value is null
 * (read as 0), and PostgreSQL's int8/numeric arrive already parsed as numbers (see knex.ts); a
 * numeric given as text is parsed here too. A sum beyond 2^53 comes out as the nearest double.
 */
export function aggregateNumber(value: unknown): number {
  return value === null || value === undefined ? 0 : Number(value);
}
