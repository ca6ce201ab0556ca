/**
 * sessions: sessions opened with a provider (Part I §9, runtime-contract §22), stored in the shared
 * store so every replica sees the same sessions and they survive restarts.
 *
 * A session goes `pending` (created) → `active` (a tool call named it: `sessions.recordCall`, which
 * the runtime calls before it sends the call) → `closed` (DELETE /sessions/{id}, or idle for
 * CONSOLE_MCP_SESSION_IDLE_S: a periodic sweep on every replica, one statement each). Every change is
 * broadcast as `sessions.changed` with the Session as it is after the change (for the events of §23).
 */
import { randomUUID } from "node:crypto";
import type { Context, ServiceBroker, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { Config } from "../lib/config";
import { conflict, notFound } from "../lib/errors";
import { auditOf } from "../lib/store/audit";
import { dialectOf } from "../lib/store/knex";
import { StoreMixin, type StoreVars } from "../lib/store/mixin";
import { compileSchema, containsUnstorableText, throwIfInvalid } from "../lib/validation";
import { toStoredInstant } from "../lib/time";
import { idleCutoffMs, sweepIntervalMs } from "./sessions/expiry";
import { encodeSessionsCursor, MAX_SEQ, parseSessionsQuery } from "./sessions/listing";
import { closeIdleSessions, closeSession, findSession, insertSession, listSessions, recordSessionCall } from "./sessions/queries";
import { Session, SESSION_BODY_FIELDS, SessionRow, sessionFromRow, sessionTextItems, splitSessionInput } from "./sessions/session";

/** The broker event of every session change; its payload is the Session after the change. */
export const SESSIONS_CHANGED = "sessions.changed";

const checkProviderId = compileSchema({ provider_id: { type: "string" } });
const checkBody = compileSchema(SESSION_BODY_FIELDS);

type CreateParams = { provider_id: string; reason?: string | null; client?: string | null } & Record<string, unknown>;

function sessionNotFound(id: unknown): Error {
  return notFound(`Session '${String(id)}' not found`);
}

/** A session id the store can hold: a string without NUL or lone surrogates (anything else names no session). */
function isStorableId(id: unknown): id is string {
  return typeof id === "string" && !containsUnstorableText(id);
}

interface SessionsVars extends StoreVars {
  sweepTimer: NodeJS.Timeout | null;
  sweeping: Promise<number> | null;
}

interface SessionsMethods {
  sweepIdle(): Promise<number>;
  announce(rows: Omit<SessionRow, "seq">[]): void;
}

type This = SessionsVars & SessionsMethods & { broker: ServiceBroker; logger: ServiceBroker["logger"] };

export default function sessionsService(
  config: Pick<Config, "store" | "runtime">,
): ServiceSchema<ServiceSettingSchema, SessionsMethods, SessionsVars> {
  const idleS = config.runtime.sessionIdleS;
  const sweepEveryMs = sweepIntervalMs(idleS);
  return {
    name: "sessions",
    mixins: [StoreMixin(config.store)],

    actions: {
      /**
       * POST /providers/{provider_id}/sessions (§9.1): params are the body's keys plus provider_id →
       * `{session, provider}`, the session `pending`. 422 bad body; 404 unknown provider.
       */
      create: {
        async handler(this: This, ctx: Context<CreateParams>) {
          const { provider_id: providerId, ...body } = ctx.params;
          throwIfInvalid([...checkProviderId({ provider_id: providerId }, ["path"]), ...checkBody(body, ["body"]), ...sessionTextItems(body)]);
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
            closed_at: null,
            last_call_at: null,
            call_count: 0,
          };
          const audit = auditOf(ctx.meta as Record<string, unknown>);
          await insertSession(this.knex, row, audit.entry);
          audit.committed();
          this.announce([row]);
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
        async handler(this: This, ctx: Context<Record<string, unknown>>): Promise<{ sessions: Session[]; next_cursor?: string | null }> {
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

      /** GET /sessions/{session_id} (§9.3): `{session}`; 404 `Session '<id>' not found`. */
      get: {
        params: { session_id: "string" },
        async handler(this: This, ctx: Context<{ session_id: string }>) {
          // No stored id holds such text (ids are UUIDs), and PostgreSQL would reject the query.
          if (!isStorableId(ctx.params.session_id)) throw sessionNotFound(ctx.params.session_id);
          const row = await findSession(this.readKnex, ctx.params.session_id);
          if (row === undefined) throw sessionNotFound(ctx.params.session_id);
          return { session: sessionFromRow(row) };
        },
      },

      /**
       * DELETE /sessions/{session_id} (runtime-contract §22): params `{session_id}` → `{session}`
       * closed (`status: "closed"`, `closed_at` set). Closing a closed session answers the same
       * record (200, nothing changes); 404 `Session '<id>' not found`.
       */
      close: {
        async handler(this: This, ctx: Context<{ session_id?: unknown }>) {
          const id = ctx.params.session_id;
          if (!isStorableId(id)) throw sessionNotFound(id);
          const audit = auditOf(ctx.meta as Record<string, unknown>);
          const closed = await closeSession(this.knex, id, toStoredInstant(Date.now()), audit.entry);
          if (closed === undefined) throw sessionNotFound(id);
          if (closed.changed) audit.committed();
          if (closed.changed) this.announce([closed.row]);
          return { session: sessionFromRow(closed.row) };
        },
      },

      /**
       * Records one tool call against a session (runtime-contract §21/§22), for the runtime, before it
       * sends the call: params `{session_id, provider_id}` (the called server's id) → `{session}` after
       * the change (`active`, `call_count` + 1, `last_call_at` now), checked and changed in one
       * transaction. 404 `Session '<id>' not found`; 409 `Session '<id>' is closed`; 409 `Session '<id>'
       * belongs to server '<other>', not '<provider_id>'`. Not idempotent (lib/write-actions.ts).
       */
      recordCall: {
        visibility: "public",
        async handler(this: This, ctx: Context<{ session_id?: unknown; provider_id?: unknown }>) {
          const { session_id: id, provider_id: providerId } = ctx.params;
          if (!isStorableId(id)) throw sessionNotFound(id);
          // A server id no stored session can carry: the session, if any, belongs to another server.
          const outcome = await recordSessionCall(this.knex, id, isStorableId(providerId) ? providerId : "", toStoredInstant(Date.now()));
          switch (outcome.kind) {
            case "missing":
              throw sessionNotFound(id);
            case "closed":
              throw conflict(`Session '${id}' is closed`);
            case "other-server":
              throw conflict(`Session '${id}' belongs to server '${outcome.row.provider_id}', not '${String(providerId)}'`);
            case "recorded":
              this.announce([outcome.row]);
              return { session: sessionFromRow(outcome.row) };
          }
        },
      },

      /**
       * Runs the idle sweep now (the timer runs it every sweepIntervalMs): closes the sessions idle for
       * CONSOLE_MCP_SESSION_IDLE_S → `{closed: number}` (0 when expiry is off). For operators and tests.
       */
      sweepIdle: {
        visibility: "public",
        async handler(this: This) {
          return { closed: await this.sweepIdle() };
        },
      },
    },

    methods: {
      /** One sweep at a time per replica; resolves with the number of sessions this sweep closed. */
      sweepIdle(this: This): Promise<number> {
        if (idleS <= 0) return Promise.resolve(0);
        if (this.sweeping !== null) return this.sweeping;
        const now = Date.now();
        this.sweeping = closeIdleSessions(this.knex, toStoredInstant(idleCutoffMs(now, idleS)), toStoredInstant(now))
          .then((rows) => {
            if (rows.length > 0) this.logger.info(`sessions: closed ${rows.length} session(s) idle for ${idleS} s`);
            this.announce(rows);
            return rows.length;
          })
          .finally(() => {
            this.sweeping = null;
          });
        return this.sweeping;
      },

      /** Broadcasts `sessions.changed` for each row, in order (after its change is committed). */
      announce(this: This, rows: Omit<SessionRow, "seq">[]): void {
        for (const row of rows) void this.broker.broadcast(SESSIONS_CHANGED, sessionFromRow(row));
      },
    },

    created(this: This) {
      this.sweepTimer = null;
      this.sweeping = null;
    },

    async started(this: This) {
      if (sweepEveryMs === null) return;
      const sweep = () =>
        void this.sweepIdle().catch((err: unknown) => this.logger.warn(`sessions: the idle sweep failed: ${(err as Error).message}`));
      this.sweepTimer = setInterval(sweep, sweepEveryMs);
      this.sweepTimer.unref();
      sweep();
    },

    // Runs before the store mixin's `stopped` (Moleculer stops in reverse order), so no sweep outlives the store.
    async stopped(this: This) {
      if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
      this.sweepTimer = null;
      await (this.sweeping ?? Promise.resolve()).catch(() => undefined);
    },
  };
}
