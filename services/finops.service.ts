/**
 * finops: the FinOps reports (§12.1 sprints, §12.2 pull requests) and the registration of pull
 * requests (§12.3). Owns `pull_requests`; reads `telemetry_events` of the same store, each report
 * inside one read transaction. Report logic lives in ./finops/reports.ts, SQL in ./finops/queries.ts.
 */
import type { Knex } from "knex";
import type { Context } from "moleculer";
import type { Config } from "../lib/config";
import { conflict } from "../lib/errors";
import { ProviderDirectory, ProviderInfo } from "../lib/provider-directory";
import { validatePullRequest } from "../lib/pull-request";
import { parseIdempotencyKey, replayedAnswerMeta, runIdempotent, WriteAnswer } from "../lib/store/idempotency";
import { readSnapshot } from "../lib/store/knex";
import { auditOf, insertAudit } from "../lib/store/audit";
import { StoreMixin, StoreServiceSchema } from "../lib/store/mixin";
import { formatInstant } from "../lib/time";
import { throwIfInvalid } from "../lib/validation";
import { ReportParams, readReportParams } from "./finops/params";
import { dayProviderGroups, insertPullRequest, selectPullRequests, windowTotals } from "./finops/queries";
import { PullRequestReport, SprintReport, dailyTotals, impactWindows, pullRequestReport, selectionRange, sprintReports } from "./finops/reports";

/** The route Idempotency-Keys of pull-request registration belong to. */
export const REGISTER_PR_ROUTE = "POST /telemetry/finops/pull-requests";

interface FinopsVars {
  /** The writer (registration). */
  knex: Knex;
  /** The read pool (the reports). */
  readKnex: Knex;
  providers: ProviderDirectory;
}

/** The stored record answered by the registration. */
export interface PullRequestRecordOut {
  id: string;
  title: string;
  owner: string;
  merged_at: string;
  provider_id: string;
  route: string | null;
}

/** The ids of the manifest providers in `lane`, or undefined when no lane filter is given. */
async function laneProviderIds(providers: ProviderDirectory, lane: string | undefined): Promise<string[] | undefined> {
  if (lane === undefined) return undefined;
  return (await providers.list()).filter((p) => p.lane === lane).map((p) => p.id);
}

export default function finopsService(config: Pick<Config, "store">): StoreServiceSchema {
  const schema = {
    name: "finops",
    mixins: [StoreMixin(config.store)],

    events: {
      "providers.changed"(this: FinopsVars) {
        this.providers.invalidate();
      },
    },

    actions: {
      /** GET /telemetry/finops/sprints: params = the query. */
      sprints: {
        async handler(this: FinopsVars, ctx: Context<Record<string, unknown>>): Promise<{ items: SprintReport[] }> {
          const params: ReportParams = readReportParams(ctx.params ?? {});
          if (params.matchesNothing) return { items: [] };
          const providerIds = await laneProviderIds(this.providers, params.lane);
          if (providerIds !== undefined && providerIds.length === 0) return { items: [] };
          const groups = await readSnapshot(this.readKnex, (trx) =>
            dayProviderGroups(trx, {
              startMs: params.startMs,
              endMs: params.endMs,
              providerId: params.providerId,
              providerIds,
            }),
          );
          return {
            items: sprintReports(dailyTotals(groups), {
              startMs: params.startMs,
              endMs: params.endMs,
              windowDays: params.windowDays,
              limit: params.limit,
            }),
          };
        },
      },

      /** GET /telemetry/finops/pull-requests: params = the query. */
      pullRequests: {
        async handler(this: FinopsVars, ctx: Context<Record<string, unknown>>): Promise<{ items: PullRequestReport[] }> {
          const params = readReportParams(ctx.params ?? {});
          if (params.matchesNothing) return { items: [] };
          const nowMs = Date.now();
          const merged = selectionRange(params.startMs, params.endMs, nowMs, params.windowDays, params.limit);
          if (merged === null) return { items: [] };
          const manifest: Map<string, ProviderInfo> = await this.providers.byId();
          let providerIds: string[] | undefined;
          if (params.lane !== undefined) {
            providerIds = [...manifest.values()].filter((p) => p.lane === params.lane).map((p) => p.id);
            if (providerIds.length === 0) return { items: [] };
          }
          const items = await readSnapshot(this.readKnex, async (trx) => {
            const prs = await selectPullRequests(trx, merged, { providerId: params.providerId, providerIds }, params.limit);
            // Every PR's before and after windows in one read: totals[2i] before, totals[2i + 1] after.
            const totals = await windowTotals(
              trx,
              prs.flatMap((pr) => {
                const windows = impactWindows(pr.merged_at_ms, params.windowDays, nowMs);
                return [windows.before, windows.after].map((range) => ({ providerId: pr.provider_id, route: pr.route, range }));
              }),
            );
            return prs.map((pr, i): PullRequestReport => {
              const provider = manifest.get(pr.provider_id);
              return pullRequestReport(pr, totals[2 * i], totals[2 * i + 1], provider ? { name: provider.summary.name, lane: provider.lane } : null);
            });
          });
          return { items };
        },
      },

      /**
       * POST /telemetry/finops/pull-requests (§12.3): params = the JSON object body,
       * `meta.idempotencyKey` = the Idempotency-Key header when sent; the stored record (201 set by
       * the gateway). 422 invalid body or key, 409 existing id. A retry with the same key and body
       * within 24 h answers the first record again (header Idempotent-Replayed) instead of a 409;
       * another body with that key → 422.
       */
      ingestPullRequest: {
        async handler(this: FinopsVars, ctx: Context<unknown, Record<string, unknown>>): Promise<PullRequestRecordOut> {
          const key = parseIdempotencyKey(ctx.meta.idempotencyKey);
          const checked = validatePullRequest(ctx.params, ["body"]);
          throwIfInvalid(checked.problems);
          const pr = checked.record;
          if (pr === null) throw new Error("validatePullRequest returned neither a record nor problems");
          const nowMs = Date.now();
          const audit = auditOf(ctx.meta, { target: `pull_request:${pr.id}` });
          const outcome = await runIdempotent(
            this.knex,
            { route: REGISTER_PR_ROUTE, key, body: ctx.params, nowMs },
            async (trx): Promise<WriteAnswer<PullRequestRecordOut>> => {
              if (!(await insertPullRequest(trx, { ...pr, created_at_ms: nowMs }))) {
                throw conflict(`Pull request '${pr.id}' already exists`);
              }
              // §25.2: in the transaction of the pull request.
              if (audit.entry !== null) await insertAudit(trx, [audit.entry]);
              const record = {
                id: pr.id,
                title: pr.title,
                owner: pr.owner,
                merged_at: formatInstant(pr.merged_at_ms),
                provider_id: pr.provider_id,
                route: pr.route,
              };
              return { status: 201, body: record };
            },
          );
          if (outcome.replayed) Object.assign(ctx.meta, replayedAnswerMeta(outcome.status));
          else audit.committed();
          return outcome.body;
        },
      },
    },

    created(this: FinopsVars & { broker: Context["broker"] }) {
      this.providers = new ProviderDirectory(this.broker);
    },
  };
  return schema as unknown as StoreServiceSchema;
}
