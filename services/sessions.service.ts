/**
 * sessions: sessions opened with a provider (§9), stored in the shared store so every replica sees
 * the same sessions and they survive restarts.
 */
import { randomUUID } from "node:crypto";
import type { Context } from "moleculer";
import type { Config } from "../lib/config";
import { notFound } from "../lib/errors";
import { dialectOf } from "../lib/store/knex";
import { StoreMixin, StoreServiceSchema } from "../lib/store/mixin";
import { compileSchema, containsUnstorableText, throwIfInvalid } from "../lib/validation";
import { toStoredInstant } from "../lib/time";
import { encodeSessionsCursor, MAX_SEQ, parseSessionsQuery } from "./sessions/listing";
import { findSession, insertSession, listSessions } from "./sessions/queries";
import { Session, SessionRow, sessionFromRow, sessionTextItems, splitSessionInput } from "./sessions/session";

const checkProviderId = compileSchema({ provider_id: { type: "string" } });
const checkBody = compileSchema({
  $$strict: false,
  reason: { type: "string", nullable: true, optional: true },
  client: { type: "string", nullable: true, optional: true },
});

type CreateParams = { provider_id: string; reason?: string | null; client?: string | null } & Record<string, unknown>;

export default function sessionsService(config: Pick<Config, "store">): StoreServiceSchema {
  return {
    name: "sessions",
    mixins: [StoreMixin(config.store)],

    actions: {
      /** POST /providers/{provider_id}/sessions: params are the body's keys plus provider_id. */
      create: {
        async handler(ctx: Context<CreateParams>) {
          const { provider_id: providerId, ...body } = ctx.params;
          throwIfInvalid([
            ...checkProviderId({ provider_id: providerId }, ["path"]),
            ...checkBody(body, ["body"]),
            ...sessionTextItems(body),
          ]);
          const provider = await ctx.call<{ summary: unknown }, { id: string }>("providers.get", {
            id: providerId,
          });
          const { reason, client, options } = splitSessionInput(body);
          const row: Omit<SessionRow, "seq"> = {
            id: randomUUID(),
            provider_id: providerId,
            created_at: toStoredInstant(Date.now()),
            status: "pending",
            reason,
            client,
            options: JSON.stringify(options),
          };
          await insertSession(this.knex, row);
          return { session: sessionFromRow(row), provider: provider.summary };
        },
      },

      /**
       * GET /sessions (§9.2, runtime-contract §22): params = the query. Without `limit`/`cursor`,
       * `{sessions}` = every session matching `status`/`provider_id` (every session without them),
       * oldest first. With them, one page `{sessions, next_cursor}`: at most `limit` (1..1000,
       * default 100) sessions after the cursor's position, oldest first; `next_cursor` is null on the
       * last page. 422 for a bad limit, 400 `invalid cursor` for a malformed cursor.
       */
      list: {
        async handler(ctx: Context<Record<string, unknown>>): Promise<{ sessions: Session[]; next_cursor?: string | null }> {
          const query = parseSessionsQuery(ctx.params, MAX_SEQ[dialectOf(this.readKnex)]);
          const page = query.page;
          if (query.matchesNothing) return page === null ? { sessions: [] } : { sessions: [], next_cursor: null };
          if (page === null) return { sessions: (await listSessions(this.readKnex, query.filter)).map(sessionFromRow) };
          // One row more than the page: its presence says whether a next page exists.
          const rows = await listSessions(this.readKnex, query.filter, { afterSeq: page.afterSeq, count: page.limit + 1 });
          const shown = rows.slice(0, page.limit);
          return {
            sessions: shown.map(sessionFromRow),
            next_cursor: rows.length > page.limit ? encodeSessionsCursor(Number(shown[shown.length - 1].seq)) : null,
          };
        },
      },

      /** GET /sessions/{session_id} */
      get: {
        params: { session_id: "string" },
        async handler(ctx: Context<{ session_id: string }>) {
          // No stored id holds such text (ids are UUIDs), and PostgreSQL would reject the query.
          if (containsUnstorableText(ctx.params.session_id)) throw notFound(`Session '${ctx.params.session_id}' not found`);
          const row = await findSession(this.readKnex, ctx.params.session_id);
          if (row === undefined) throw notFound(`Session '${ctx.params.session_id}' not found`);
          return { session: sessionFromRow(row) };
        },
      },
    },
  };
}
