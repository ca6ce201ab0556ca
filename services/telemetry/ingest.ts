/**
 * Ingestion (§11): a validated body becomes rows written in one transaction; once they are durable,
 * one `telemetry.run.recorded` event per run is published with the Run item as payload. An
 * `Idempotency-Key` makes a retry safe (§11.1, lib/store/idempotency.ts): its record is written in
 * the same transaction, and a replayed answer stores and publishes nothing.
 */
import type { Knex } from "knex";
import type { Logger, ServiceBroker } from "moleculer";
import type { ProviderDirectory } from "../../lib/provider-directory";
import { AuditEntry, insertAudit } from "../../lib/store/audit";
import { GroupCommit, Settled } from "../../lib/store/group-commit";
import {
  IdempotentOutcome,
  IdempotentRequest,
  KeyClaim,
  WriteAnswer,
  claimKey,
  completeKey,
  parseIdempotencyKey,
  purgeNowAndThen,
} from "../../lib/store/idempotency";
import { dialectOf } from "../../lib/store/knex";
import { compareText } from "../../lib/text-order";
import { insertTelemetryRows } from "./store/insert";
import { MAX_BATCH_RUNS, TelemetryRowInsert, rowFromRun, runItemFromRow, validateIngestBody } from "./store/run";

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
  /**
   * The request's audit entry (runtime-contract §25.2: `telemetry.ingest`, or `tool.call` for a
   * tool call's run), written in the transaction of the runs; null for a caller that has none.
   */
  audit?: AuditEntry | null;
}

/** One validated ingestion request, as it waits for its group (lib/store/group-commit.ts). */
export interface IngestUnit {
  rows: TelemetryRowInsert[];
  /** Route, key (undefined without the header), body and instant of the request. */
  request: IdempotentRequest;
  /** Its audit entry, written with its runs (not for a replay, which stores nothing). */
  audit: AuditEntry | null;
}

type UnitOutcome = IdempotentOutcome<IngestResult>;

/** Most runs one group transaction writes (a single larger request still forms a group alone). */
export const GROUP_MAX_RUNS = MAX_BATCH_RUNS;
/** Most requests one group transaction writes. */
export const GROUP_MAX_REQUESTS = 128;
/**
 * Groups written at the same time on PostgreSQL (never more than the write pool): two let one group
 * insert its runs while the other commits. Each writes the rollups in a stripe of its own
 * (./store/stripes.ts), so they no longer wait for each other's rollup rows; more groups only
 * shrink the groups (measured with `npm run bench -- mixed` before the stripes, when concurrent
 * groups still waited for each other's commits: 4 at a time halved the throughput of 1 or 2).
 */
export const PG_CONCURRENT_GROUPS = 2;

/**
 * Writes the units in the caller's transaction: the keyed units claim their keys first, in key order
 * (a replay or a reused key settles the unit without writing it), then the rows of every unit to
 * write go in one insert, in unit order (./store/insert.ts: ids increase with the position, so each
 * unit gets the next slice of the ids, in its own input order), and the claimed keys get their
 * answers. A claim waits for a concurrent transaction that claimed the same key; claiming in key
 * order (not arrival order) means two groups holding the same keys — two replicas, or two groups of
 * one — wait for each other in one direction only and cannot deadlock.
 */
export async function writeUnits(trx: Knex.Transaction, units: readonly IngestUnit[]): Promise<Settled<UnitOutcome>[]> {
  const settled: Settled<UnitOutcome>[] = new Array(units.length);
  const keyed = units.flatMap((u, i) => (u.request.key === undefined ? [] : [i]));
  keyed.sort((a, b) => compareText(units[a].request.key as string, units[b].request.key as string));
  const claims = new Map<number, KeyClaim<IngestResult>>();
  for (const i of keyed) claims.set(i, await claimKey<IngestResult>(trx, units[i].request));
  const writing: number[] = [];
  for (let i = 0; i < units.length; i++) {
    const claim = claims.get(i);
    if (claim === undefined || claim.kind === "claimed") writing.push(i);
    else if (claim.kind === "replay") settled[i] = { ok: true, value: claim.outcome };
    else settled[i] = { ok: false, error: claim.error };
  }
  const rows = writing.flatMap((i) => units[i].rows);
  const ids = rows.length === 0 ? [] : await insertTelemetryRows(trx, rows);
  let at = 0;
  const audits: AuditEntry[] = [];
  for (const i of writing) {
    const mine = ids.slice(at, at + units[i].rows.length);
    at += units[i].rows.length;
    const answer: WriteAnswer<IngestResult> = { status: CREATED, body: { inserted: mine.length, ids: mine } };
    if (units[i].request.key !== undefined) await completeKey(trx, units[i].request, answer);
    settled[i] = { ok: true, value: { ...answer, replayed: false } };
    const audit = units[i].audit;
    if (audit !== null) audits.push({ ...audit, details: { ...audit.details, runs: mine.length, first_run_id: mine[0] ?? null } });
  }
  // §25.2: one entry per request, in the group's transaction (every request of it commits or none).
  await insertAudit(trx, audits);
  return settled;
}

/**
 * Writes a group of ingestion requests in one transaction and settles each. When that transaction
 * fails, nothing of it is stored, and each request is written again in a transaction of its own, so
 * only a request that fails by itself fails (all or nothing per request, §11.1).
 */
export async function writeIngestGroup(knex: Knex, units: readonly IngestUnit[]): Promise<Settled<UnitOutcome>[]> {
  try {
    return await knex.transaction((trx) => writeUnits(trx, units));
  } catch (err) {
    if (units.length === 1) return [{ ok: false, error: err }];
  }
  const settled: Settled<UnitOutcome>[] = [];
  for (const unit of units) {
    try {
      settled.push((await knex.transaction((trx) => writeUnits(trx, [unit])))[0]);
    } catch (err) {
      settled.push({ ok: false, error: err });
    }
  }
  return settled;
}

/**
 * Validates the key (422 at ["header", "idempotency-key"]) and the body (422 on any problem, nothing
 * stored): the request as a unit to write.
 */
export function ingestUnit(body: unknown, options: IngestOptions = {}): IngestUnit {
  const nowMs = options.nowMs ?? Date.now();
  const key = parseIdempotencyKey(options.idempotencyKey);
  const runs = validateIngestBody(body, nowMs);
  return { rows: runs.map((run) => rowFromRun(run, nowMs)), request: { route: INGEST_ROUTE, key, body, nowMs }, audit: options.audit ?? null };
}

function outcomeOf(unit: IngestUnit, outcome: UnitOutcome): IngestOutcome {
  return { status: outcome.status, result: outcome.body, rows: outcome.replayed ? [] : unit.rows, replayed: outcome.replayed };
}

/**
 * Validates, then stores every run in one transaction — or, for a key already used within 24 h,
 * answers its first answer again (same body) or a 422 (another body) without storing anything.
 */
export async function ingestRuns(knex: Knex, body: unknown, options: IngestOptions = {}): Promise<IngestOutcome> {
  const unit = ingestUnit(body, options);
  if (unit.request.key !== undefined) await purgeNowAndThen(knex, unit.request.nowMs);
  const [settled] = await writeIngestGroup(knex, [unit]);
  if (!settled.ok) throw settled.error;
  return outcomeOf(unit, settled.value);
}

/**
 * Ingestion of one service instance with group commit: requests that arrive while a group is being
 * written wait and are written together in the next one (one transaction, one insert, one rollup
 * upsert; each request still all or nothing, its ids in its input order). One group at a time on
 * SQLite (one writer); on PostgreSQL PG_CONCURRENT_GROUPS, at most `writePoolSize`.
 */
export class RunIngestion {
  private readonly groups: GroupCommit<IngestUnit, UnitOutcome>;

  /**
   * `onWritten`, when given, is called once per group written, after its commit, with the rows it
   * stored (replayed requests excluded) and their ids, in order (./run-events.ts publishes them).
   */
  constructor(
    private readonly knex: Knex,
    writePoolSize: number,
    onWritten?: (rows: TelemetryRowInsert[], ids: number[]) => void,
  ) {
    const write = async (units: IngestUnit[]): Promise<Settled<UnitOutcome>[]> => {
      const settled = await writeIngestGroup(knex, units);
      if (onWritten !== undefined) {
        const rows: TelemetryRowInsert[] = [];
        const ids: number[] = [];
        settled.forEach((s, i) => {
          if (!s.ok || s.value.replayed) return;
          rows.push(...units[i].rows);
          ids.push(...s.value.body.ids);
        });
        if (rows.length > 0) onWritten(rows, ids);
      }
      return settled;
    };
    this.groups = new GroupCommit(write, {
      concurrency: dialectOf(knex) === "sqlite" ? 1 : Math.min(PG_CONCURRENT_GROUPS, writePoolSize),
      maxUnits: GROUP_MAX_REQUESTS,
      sizeOf: (unit) => unit.rows.length,
      maxSize: GROUP_MAX_RUNS,
      conflictKey: (unit) => unit.request.key,
    });
  }

  /** POST /telemetry/runs (§11.1): as ingestRuns, written with the next group. */
  async ingest(body: unknown, options: IngestOptions = {}): Promise<IngestOutcome> {
    const unit = ingestUnit(body, options);
    if (unit.request.key !== undefined) await purgeNowAndThen(this.knex, unit.request.nowMs);
    return outcomeOf(unit, await this.groups.submit(unit));
  }
}

/**
 * Publishes `telemetry.run.recorded` for each stored run, in input order (the emits are issued in
 * that order without waiting for each other). Nothing is built when no service listens to the event
 * (Moleculer's balancer would deliver it nowhere). Never throws: a failure (providers unavailable,
 * transporter down) is logged and does not affect the ingestion answer.
 */
export async function publishRecorded(
  broker: Pick<ServiceBroker, "emit" | "hasEventListener">,
  providers: ProviderDirectory,
  logger: Pick<Logger, "warn">,
  rows: readonly TelemetryRowInsert[],
  ids: readonly number[],
): Promise<void> {
  if (rows.length === 0 || !broker.hasEventListener(RUN_RECORDED_EVENT)) return;
  let providerById;
  try {
    providerById = await providers.byId();
  } catch (err) {
    logger.warn(`${RUN_RECORDED_EVENT} not published for ${ids.length} run(s): providers unavailable: ${String(err)}`);
    return;
  }
  const sent: Promise<unknown>[] = [];
  for (let i = 0; i < rows.length; i++) {
    const id = ids[i];
    sent.push(
      Promise.resolve()
        .then(() => broker.emit(RUN_RECORDED_EVENT, runItemFromRow({ ...rows[i], id }, providerById)))
        .catch((err) => logger.warn(`${RUN_RECORDED_EVENT} not published for run ${id}: ${String(err)}`)),
    );
  }
  await Promise.all(sent);
}
