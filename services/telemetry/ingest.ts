/**
 * Ingestion (§11): a validated body becomes rows written in one transaction; once they are durable,
 * one `telemetry.run.recorded` event per run is published with the Run item as payload.
 */
import type { Knex } from "knex";
import type { Logger, ServiceBroker } from "moleculer";
import type { ProviderDirectory } from "../../lib/provider-directory";
import { insertTelemetryRows } from "../../lib/store/telemetry-insert";
import { TelemetryRowInsert, rowFromRun, runItemFromRow, validateIngestBody } from "../../lib/telemetry-run";

export const RUN_RECORDED_EVENT = "telemetry.run.recorded";

export interface IngestResult {
  inserted: number;
  ids: number[];
}

export interface IngestOutcome {
  result: IngestResult;
  rows: TelemetryRowInsert[];
}

/** Validates the body (422 on any problem, nothing stored) and stores every run in one transaction. */
export async function ingestRuns(knex: Knex, body: unknown, nowMs: number = Date.now()): Promise<IngestOutcome> {
  const runs = validateIngestBody(body, nowMs);
  const rows = runs.map((run) => rowFromRun(run, nowMs));
  const ids = await knex.transaction((trx) => insertTelemetryRows(trx, rows));
  return { result: { inserted: ids.length, ids }, rows };
}

/**
 * Publishes `telemetry.run.recorded` for each stored run, in input order. Never throws: a failure
 * (providers unavailable, transporter down) is logged and does not affect the ingestion answer.
 */
export async function publishRecorded(
  broker: Pick<ServiceBroker, "emit">,
  providers: ProviderDirectory,
  logger: Pick<Logger, "warn">,
  rows: readonly TelemetryRowInsert[],
  ids: readonly number[],
): Promise<void> {
  let providerById;
  try {
    providerById = await providers.byId();
  } catch (err) {
    logger.warn(`${RUN_RECORDED_EVENT} not published for ${ids.length} run(s): providers unavailable: ${String(err)}`);
    return;
  }
  for (let i = 0; i < rows.length; i++) {
    try {
      await broker.emit(RUN_RECORDED_EVENT, runItemFromRow({ ...rows[i], id: ids[i] }, providerById));
    } catch (err) {
      logger.warn(`${RUN_RECORDED_EVENT} not published for run ${ids[i]}: ${String(err)}`);
    }
  }
}
