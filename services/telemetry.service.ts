/**
 * telemetry: owns the runs table. Ingestion (§11) and the dashboard reads (§10).
 * Domain logic lives in ./telemetry/ (ingest.ts: validation and normalisation; queries.ts: SQL).
 */
import type { Knex } from "knex";
import type { Context, Logger } from "moleculer";
import type { Config } from "../lib/config";
import { ProviderDirectory } from "../lib/provider-directory";
import { MAX_SERIAL_ID } from "../lib/store/columns";
import { auditOf } from "../lib/store/audit";
import { replayedAnswerMeta } from "../lib/store/idempotency";
import { requestLogger } from "../lib/logging/request-context";
import { nodeMetrics } from "../lib/metrics/node-metrics";
import { dialectOf } from "../lib/store/knex";
import { StoreMixin, StoreServiceSchema } from "../lib/store/mixin";
import { RunIngestion, publishRecorded } from "./telemetry/ingest";
import { publishRunsRecorded } from "./telemetry/run-events";
import { parseReadQuery, TELEMETRY_QUERIES } from "./telemetry/filters";
import { readHeatmap, readMetrics, readPareto, readRuns, readTimeseries } from "./telemetry/reads";

interface TelemetryVars {
  providers: ProviderDirectory;
  /** Ingestion with group commit over the writer (services/telemetry/ingest.ts). */
  ingestion: RunIngestion;
}

/** What the read handlers use of the service instance: the store's read pool (lib/store/mixin.ts). */
interface ReadVars {
  readKnex: Knex;
}

/** Query parameters as the gateway passes them (one string per key: services/api/query.ts). */
type QueryParams = Record<string, unknown>;

/** What the ingest handler uses of the service instance. */
interface IngestVars {
  knex: Knex;
  broker: Context["broker"];
  logger: Logger;
}

export default function telemetryService(config: Pick<Config, "store">): StoreServiceSchema & { created?: unknown } {
  const schema = {
    name: "telemetry",
    mixins: [StoreMixin(config.store)],

    events: {
      "providers.changed"(this: TelemetryVars) {
        this.providers.invalidate();
      },
    },

    actions: {
      // INGEST-ACTIONS (owned by the ingestion work): ingest
      /**
       * POST /telemetry/runs (§11): params = the body, `meta.idempotencyKey` = the Idempotency-Key
       * header when sent; {inserted, ids} once the rows are committed. A retry with the same key and
       * body within 24 h answers the first {inserted, ids} again (header Idempotent-Replayed) and
       * stores and publishes nothing; another body with that key → 422.
       */
      ingest: {
        async handler(this: TelemetryVars & IngestVars, ctx: Context<unknown, Record<string, unknown>>) {
          const audit = auditOf(ctx.meta);
          const { status, result, rows, replayed } = await this.ingestion.ingest(ctx.params, {
            idempotencyKey: ctx.meta.idempotencyKey,
            audit: audit.entry,
          });
          if (!replayed) audit.committed();
          if (replayed) Object.assign(ctx.meta, replayedAnswerMeta(status));
          // Its lines name the request (§27).
          else void publishRecorded(this.broker, this.providers, requestLogger(this.logger, ctx), rows, result.ids);
          return result;
        },
      },
      // READ-ACTIONS (owned by the read-query work): metrics, heatmap, timeseries, pareto, runs
      /** GET /telemetry/metrics (§10.2): params = the query. */
      metrics: {
        async handler(this: TelemetryVars & ReadVars, ctx: Context<QueryParams>) {
          const query = parseReadQuery(ctx.params, TELEMETRY_QUERIES.metrics);
          return readMetrics(this.readKnex, query, await this.providers.list());
        },
      },
      /** GET /telemetry/heatmap (§10.3) */
      heatmap: {
        async handler(this: TelemetryVars & ReadVars, ctx: Context<QueryParams>) {
          const query = parseReadQuery(ctx.params, TELEMETRY_QUERIES.heatmap);
          return readHeatmap(this.readKnex, query, await this.providers.list());
        },
      },
      /** GET /telemetry/timeseries (§10.4) */
      timeseries: {
        async handler(this: TelemetryVars & ReadVars, ctx: Context<QueryParams>) {
          const query = parseReadQuery(ctx.params, TELEMETRY_QUERIES.timeseries);
          return readTimeseries(this.readKnex, query, await this.providers.list());
        },
      },
      /** GET /telemetry/pareto (§10.5) */
      pareto: {
        async handler(this: TelemetryVars & ReadVars, ctx: Context<QueryParams>) {
          const query = parseReadQuery(ctx.params, TELEMETRY_QUERIES.pareto);
          return readPareto(this.readKnex, query, await this.providers.list());
        },
      },
      /** GET /telemetry/runs (§10.6): keyset pages, newest first. */
      runs: {
        async handler(this: TelemetryVars & ReadVars, ctx: Context<QueryParams>) {
          const maxRunId = MAX_SERIAL_ID[dialectOf(this.readKnex)];
          const query = parseReadQuery(ctx.params, TELEMETRY_QUERIES.runs, maxRunId);
          return readRuns(this.readKnex, query, await this.providers.list());
        },
      },
    },

    created(this: TelemetryVars & IngestVars) {
      this.providers = new ProviderDirectory(this.broker);
      // §27: runs stored by this node (POST /telemetry/runs and every tool call's run), counted once committed.
      const ingested = nodeMetrics(this.broker)
        .counter("console_mcp_runs_ingested_total", "Telemetry runs this node stored (POST /telemetry/runs and tool calls)")
        .child();
      // Each committed group is one `telemetry.runs.recorded` event (the live stream, runtime-contract §23).
      this.ingestion = new RunIngestion(this.knex, config.store.writePoolSize, (rows, ids) => {
        ingested.inc(ids.length);
        void publishRunsRecorded(this.broker, this.providers, this.logger, rows, ids);
      });
    },
  };
  return schema as unknown as StoreServiceSchema;
}
