/**
 * The broker event `telemetry.runs.recorded`: the runs one ingestion transaction stored, for the
 * live event stream (runtime-contract §23.1). Broadcast, so every gateway receives it.
 *
 * One event per transaction, not one per run: a group commit (./ingest.ts) writes the requests that
 * waited together, so under load one event carries many requests' runs and the number of events
 * follows the number of transactions, not of runs. A transaction of at most RUN_EVENTS_MAX runs
 * (with at most RUN_EVENTS_MAX_METADATA_CHARS of metadata) carries their Run items (§10.6: the
 * stream's `run` events); a larger one — a batch of 5,000 runs, or many requests written together —
 * carries one summary instead (the stream's `runs` event), so a burst costs each client one small
 * event rather than megabytes, stays far below NATS's payload limit, and does not push the held
 * events of every other type out of the gateways' rings.
 *
 * (The per-run `telemetry.run.recorded` of api-contract §15 is published as before, by request.)
 */
import type { Logger, ServiceBroker } from "moleculer";
import type { ProviderDirectory } from "../../lib/provider-directory";
import { compareText } from "../../lib/text-order";
import { formatStoredInstant } from "../../lib/time";
import { type RunItem, type RunItemProvider, runItemFromRow, type TelemetryRowInsert } from "./store/run";

export const RUNS_RECORDED_EVENT = "telemetry.runs.recorded";
/** Most runs an event carries one by one; a larger transaction is summarised. */
export const RUN_EVENTS_MAX = 100;
/**
 * Most characters of metadata (JSON text) an event carries in Run items; beyond, the transaction is
 * summarised too (a run may carry almost 1 MiB of metadata: the event stays far below NATS's
 * default 1 MiB payload limit, and the gateways' rings small).
 */
export const RUN_EVENTS_MAX_METADATA_CHARS = 256 * 1024;
/** Most providers a summary lists (the ones with the most runs). */
export const SUMMARY_PROVIDERS_MAX = 100;

/** The stream's `runs` event: what one large ingestion transaction stored. */
export interface RunsSummary {
  /** Runs stored. */
  count: number;
  /** Smallest and largest run id. */
  first_id: number;
  last_id: number;
  /** Earliest and latest run `ts` (datetimes, §1.2). */
  start: string;
  end: string;
  /** Runs per provider, most first (then by id), at most SUMMARY_PROVIDERS_MAX. */
  providers: { provider_id: string; count: number }[];
  /** Distinct providers (more than `providers` lists when the list was cut). */
  provider_count: number;
}

export type RunsRecordedPayload = { runs: RunItem[] } | { summary: RunsSummary };

/** The payload for the rows of one transaction and their ids (same order). */
export function runsRecordedPayload(
  rows: readonly TelemetryRowInsert[],
  ids: readonly number[],
  providerById: ReadonlyMap<string, RunItemProvider>,
): RunsRecordedPayload {
  if (rows.length <= RUN_EVENTS_MAX) {
    let metadataChars = 0;
    for (const row of rows) metadataChars += row.metadata.length;
    if (metadataChars <= RUN_EVENTS_MAX_METADATA_CHARS) return { runs: rows.map((row, i) => runItemFromRow({ ...row, id: ids[i] }, providerById)) };
  }
  const perProvider = new Map<string, number>();
  let start = rows[0].ts;
  let end = rows[0].ts;
  let firstId = ids[0];
  let lastId = ids[0];
  for (const id of ids) {
    if (id < firstId) firstId = id;
    if (id > lastId) lastId = id;
  }
  for (const row of rows) {
    perProvider.set(row.provider_id, (perProvider.get(row.provider_id) ?? 0) + 1);
    // Stored instants are fixed-width text: text order is time order.
    if (row.ts < start) start = row.ts;
    if (row.ts > end) end = row.ts;
  }
  const providers = [...perProvider]
    .map(([provider_id, count]) => ({ provider_id, count }))
    .sort((a, b) => b.count - a.count || compareText(a.provider_id, b.provider_id));
  return {
    summary: {
      count: rows.length,
      first_id: firstId,
      last_id: lastId,
      start: formatStoredInstant(start),
      end: formatStoredInstant(end),
      providers: providers.slice(0, SUMMARY_PROVIDERS_MAX),
      provider_count: providers.length,
    },
  };
}

/**
 * Broadcasts `telemetry.runs.recorded` for one committed transaction. Nothing is built when no
 * service listens. Never throws: a failure (providers unavailable, transporter down) is logged.
 */
export async function publishRunsRecorded(
  broker: Pick<ServiceBroker, "broadcast" | "hasEventListener">,
  providers: ProviderDirectory,
  logger: Pick<Logger, "warn">,
  rows: readonly TelemetryRowInsert[],
  ids: readonly number[],
): Promise<void> {
  if (rows.length === 0 || !broker.hasEventListener(RUNS_RECORDED_EVENT)) return;
  try {
    const payload = runsRecordedPayload(rows, ids, await providers.byId());
    await broker.broadcast(RUNS_RECORDED_EVENT, payload);
  } catch (err) {
    logger.warn(`${RUNS_RECORDED_EVENT} not published for ${ids.length} run(s): ${String(err)}`);
  }
}
