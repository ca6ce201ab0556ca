/**
 * Ingestion (§11): a validated body becomes rows written in one transaction; once they are durable,
 * one `telemetry.run.recorded` event per run is published with the Run item as payload. An
 * `Idempotency-Key` makes a retry safe (§11.1, lib/store/idempotency.ts): its record is written in
 * the same transaction, and a replayed answer stores and publishes nothing.
 */
import type { Knex } from "knex";
import type { Logger, ServiceBroker } from "moleculer";
import type { ProviderDirectory } from "../../lib/provider-directory";
import { parseIdempotencyKey, runIdempotent } from "../../lib/store/idempotency";
import { insertTelemetryRows } from "./store/insert";
import { TelemetryRowInsert, rowFromRun, runItemFromRow, validateIngestBody } from "./store/run";

export const RUN_RECORDED_EVENT = "telemetry.run.recorded";
/** The route Idempotency-Keys of ingestion belong to. */
export const INGEST_ROUTE = "POST /telemetry/runs";
/** The success status of ingestion (§11.1), recorded with an Idempotency-Key's first answer. */
const CREATED = 201;

export interface IngestResult {
  inserted: number;
  ids: number[];
}

export interface IngestOutcome {
  /** 201 (§11.1): the status of this answer, or of the first one when replayed. */
  status: number;
  result: IngestResult;
  rows: TelemetryRowInsert[];
  /** true: the first answer of an earlier request with the same Idempotency-Key; nothing was stored now. */
  replayed: boolean;
}

export interface IngestOptions {
  nowMs?: number;
  /** The Idempotency-Key header's value as received (validated here), or undefined. */
  idempotencyKey?: unknown;
}

/**
 * Validates the key (422 at ["header", "idempotency-key"]) and the body (422 on any problem, nothing
 * stored), then stores every run in one transaction — or, for a key already used within 24 h,
 * answers its first answer again (same body) or a 422 (another body) without storing anything.
 */
export async function ingestRuns(knex: Knex, body: unknown, options: IngestOptions = {}): Promise<IngestOutcome> {
  const nowMs = options.nowMs ?? Date.now();
  const key = parseIdempotencyKey(options.idempotencyKey);
  const runs = validateIngestBody(body, nowMs);
  const rows = runs.map((run) => rowFromRun(run, nowMs));
  const outcome = await runIdempotent(knex, { route: INGEST_ROUTE, key, body, nowMs }, async (trx) => {
    const ids = await insertTelemetryRows(trx, rows);
    return { status: CREATED, body: { inserted: ids.length, ids } };
  });
  return { status: outcome.status, result: outcome.body, rows: outcome.replayed ? [] : rows, replayed: outcome.replayed };
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
