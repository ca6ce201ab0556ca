import type { Knex } from "knex";

/**
 * Issue 9: live sessions (runtime-contract §22). New columns of `sessions`:
 * - `closed_at` (instant text, null while open), `last_call_at` (instant text of the newest recorded
 *   tool call, null before the first), `call_count` (tool calls recorded, 0 before the first);
 * - index `sessions_status_seq` (status, seq): the `status` filter of GET /sessions in creation order,
 *   and the idle sweep, which reads only the open (`pending`/`active`) sessions.
 *
 * Existing rows: every earlier version created sessions `pending` and never changed them, and no call
 * was recorded against any, so a `pending` row stays `pending` with `call_count` 0 and null instants
 * (it is idle since its creation, and the idle sweep treats it so). A row another tool marked `closed`
 * keeps `closed` with `closed_at` = `created_at` (the only instant known); a row with a status outside
 * `pending`/`active`/`closed` (none written by this backend) becomes `pending`.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("sessions", (t) => {
    t.string("closed_at", 24).nullable();
    t.string("last_call_at", 24).nullable();
    t.bigInteger("call_count").notNullable().defaultTo(0);
    t.index(["status", "seq"], "sessions_status_seq");
  });
  await knex("sessions").whereNotIn("status", ["pending", "active", "closed"]).update({ status: "pending" });
  await knex("sessions")
    .where("status", "closed")
    .whereNull("closed_at")
    .update({ closed_at: knex.ref("created_at") });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("sessions", (t) => {
    t.dropIndex(["status", "seq"], "sessions_status_seq");
  });
  await knex.schema.alterTable("sessions", (t) => {
    t.dropColumn("call_count");
    t.dropColumn("last_call_at");
    t.dropColumn("closed_at");
  });
}
