/**
 * The ranges of the store's integer columns on each backend, for checking numbers taken from a
 * request before they reach SQL (a value outside its column's type is an error on PostgreSQL — a
 * 500 if unchecked — and can never match a stored row anyway).
 */
import type { Dialect } from "./knex";

/**
 * Largest value of an auto-increment id (`increments`: run `id` §3.2, session `seq` §3.4):
 * PostgreSQL creates a `serial`, a 32-bit `integer`; SQLite an INTEGER PRIMARY KEY, 64-bit, of which
 * a JavaScript number holds exactly the safe range. The smallest stored id is 1.
 */
export const MAX_SERIAL_ID: Readonly<Record<Dialect, number>> = {
  pg: 2 ** 31 - 1,
  sqlite: Number.MAX_SAFE_INTEGER,
};
