/**
 * Safe retries of the write endpoints (api-contract §11.1 "Retries", applied to `POST
 * /telemetry/runs` and `POST /telemetry/finops/pull-requests`): a request carrying an
 * `Idempotency-Key` header whose key was already used on the same route within 24 h gets the first
 * answer again and stores nothing; the same key with a different body is a 422.
 *
 * The record of a key (table `idempotency_keys`, migration 006) is keyed by (route, key) and holds a
 * SHA-256 of the body and the first answer (status and body). It is written in the transaction of
 * the write it protects, so a crash can never leave one without the other, and every replica sees
 * it. The claim comes first in that transaction, so the primary key decides between concurrent
 * requests with one key: on PostgreSQL the later insert waits for the earlier transaction and then
 * finds its committed record; on SQLite the database write lock orders them the same way. A request
 * that fails (a 4xx, or a crash) rolls its claim back with everything else, so its retry runs anew.
 *
 * Keys older than 24 h no longer count: the one being reused is dropped in the transaction, and all
 * of them are purged now and then (at most every PURGE_INTERVAL_MS per store, lazily, by a request).
 */
import { createHash } from "node:crypto";
import type { Knex } from "knex";
import { ValidationItem, validationFailed } from "../errors";
import { toStoredInstant } from "../time";
import { isPlainObject } from "../validation";

export const IDEMPOTENCY_TABLE = "idempotency_keys";
/** How long a key is remembered (§11.1: within 24 h). */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
/** At most one purge of expired keys per store and process in this interval. */
export const PURGE_INTERVAL_MS = 10 * 60_000;
/** The request header (Node lower-cases header names) and the loc of its problems. */
export const IDEMPOTENCY_HEADER = "idempotency-key";
const HEADER_LOC = ["header", IDEMPOTENCY_HEADER];
/** §11.1: 1..128 visible ASCII characters (0x21–0x7E: no space, no control character). */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,128}$/;

/**
 * The header value as the gateway passed it: undefined when the request had none, the key when
 * valid; otherwise a 422 at `["header", "idempotency-key"]` (an empty value, a space, a non-ASCII
 * character, more than 128 characters, or two headers, which Node joins with ", ").
 */
export function parseIdempotencyKey(raw: unknown): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === "string" && IDEMPOTENCY_KEY_PATTERN.test(raw)) return raw;
  // Node reads header bytes as Latin-1: echo UTF-8 bytes as the text the client sent, not mojibake.
  const input = typeof raw === "string" ? headerText(raw) : raw;
  throw validationFailed([{ type: "value_error", loc: HEADER_LOC, msg: "Idempotency-Key must be 1 to 128 visible ASCII characters", input }]);
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** A header value read as Latin-1, as text: its bytes decoded as UTF-8 when they are UTF-8. */
function headerText(latin1: string): string {
  try {
    return strictUtf8.decode(Buffer.from(latin1, "latin1"));
  } catch {
    return latin1;
  }
}

/** JSON with object keys sorted, so two bodies that are the same JSON value hash alike. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (isPlainObject(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** SHA-256 (hex) of a request body's canonical JSON. */
export function bodyHash(body: unknown): string {
  return createHash("sha256").update(canonicalJson(body), "utf8").digest("hex");
}

/** An answer of a write endpoint: its HTTP status and its JSON body. */
export interface WriteAnswer<T> {
  status: number;
  body: T;
}

export interface IdempotentOutcome<T> extends WriteAnswer<T> {
  /** true when this is the first answer of an earlier request with the same key, sent again. */
  replayed: boolean;
}

export interface IdempotentRequest {
  /** The route the key belongs to, e.g. "POST /telemetry/runs". */
  route: string;
  /** The validated key (parseIdempotencyKey), or undefined without the header. */
  key: string | undefined;
  /** The request body, as the action received it. */
  body: unknown;
  nowMs: number;
}

interface KeyRow {
  body_sha256: string;
  status: number | string | null;
  answer: string | null;
}

const lastPurgeMs = new WeakMap<Knex, number>();

/**
 * What claiming a key inside a write transaction found (claimKey): the key is now this transaction's
 * (`claimed`: run the write, then completeKey), or an unexpired record of it already answers the
 * request (`replay`: the same body's first answer) or refuses it (`reused`: another body, a 422).
 */
export type KeyClaim<T> = { kind: "claimed" } | { kind: "replay"; outcome: IdempotentOutcome<T> } | { kind: "reused"; error: Error };

/**
 * Claims `request.key` on its route inside `trx`, the first statements of a write transaction. An
 * expired record is dropped first (the key starts afresh). Writes nothing when the answer is
 * `replay` or `reused` except that expired record's deletion. The key must be defined.
 */
export async function claimKey<T>(trx: Knex.Transaction, request: IdempotentRequest): Promise<KeyClaim<T>> {
  const key = request.key;
  if (key === undefined) throw new Error("claimKey needs an Idempotency-Key");
  const where = { route: request.route, key };
  const hash = bodyHash(request.body);
  // An expired record does not count: the key starts afresh. (This statement also takes SQLite's
  // write lock, so everything below reads the latest committed state.)
  await trx(IDEMPOTENCY_TABLE).where(where).andWhere("created_at", "<", expiryCutoff(request.nowMs)).delete();
  const claimed: unknown[] = await trx(IDEMPOTENCY_TABLE)
    .insert({ ...where, body_sha256: hash, status: null, answer: null, created_at: toStoredInstant(request.nowMs) }, ["key"])
    .onConflict(["route", "key"])
    .ignore();
  if (claimed.length > 0) return { kind: "claimed" };
  const row = (await trx(IDEMPOTENCY_TABLE).where(where).first()) as KeyRow | undefined;
  if (row === undefined || row.status === null || row.answer === null) {
    throw new Error(`idempotency record ${request.route} ${key} is not complete`);
  }
  if (row.body_sha256 !== hash) return { kind: "reused", error: reusedKey(key) };
  return { kind: "replay", outcome: { status: Number(row.status), body: JSON.parse(row.answer) as T, replayed: true } };
}

/** Records the answer of a claimed key (claimKey), in the same transaction, before it commits. */
export async function completeKey<T>(trx: Knex.Transaction, request: IdempotentRequest, answer: WriteAnswer<T>): Promise<void> {
  if (request.key === undefined) throw new Error("completeKey needs an Idempotency-Key");
  await trx(IDEMPOTENCY_TABLE)
    .where({ route: request.route, key: request.key })
    .update({ status: answer.status, answer: JSON.stringify(answer.body) });
}

/**
 * Runs `write` in a transaction and answers what it answers. With a key: the key's record is
 * claimed first in that transaction and completed with the answer before it commits. When the
 * route already holds an unexpired record of that key, `write` is not run: the same body gets the
 * recorded answer (`replayed: true`), another body a 422 `Idempotency-Key reused with a different
 * body`. Errors thrown by `write` roll everything back, the claim included.
 */
export async function runIdempotent<T>(
  knex: Knex,
  request: IdempotentRequest,
  write: (trx: Knex.Transaction) => Promise<WriteAnswer<T>>,
): Promise<IdempotentOutcome<T>> {
  if (request.key === undefined) {
    const answer = await knex.transaction(write);
    return { ...answer, replayed: false };
  }
  await purgeNowAndThen(knex, request.nowMs);
  return knex.transaction(async (trx) => {
    const claim = await claimKey<T>(trx, request);
    if (claim.kind === "replay") return claim.outcome;
    if (claim.kind === "reused") throw claim.error;
    const answer = await write(trx);
    await completeKey(trx, request, answer);
    return { ...answer, replayed: false };
  });
}

/** Header of a replayed answer, so a client can tell it from a fresh one. */
export const REPLAYED_HEADER = "Idempotent-Replayed";

/**
 * The context meta of a replayed answer for the gateway (moleculer-web): the recorded status and
 * the `Idempotent-Replayed: true` header.
 */
export function replayedAnswerMeta(status: number): { $statusCode: number; $responseHeaders: Record<string, string> } {
  return { $statusCode: status, $responseHeaders: { [REPLAYED_HEADER]: "true" } };
}

function reusedKey(key: string) {
  const item: ValidationItem = { type: "value_error", loc: HEADER_LOC, msg: "Idempotency-Key reused with a different body", input: key };
  return validationFailed([item]);
}

function expiryCutoff(nowMs: number): string {
  return toStoredInstant(nowMs - IDEMPOTENCY_TTL_MS);
}

/** Deletes every key record older than 24 h; returns how many. */
export async function purgeExpiredKeys(knex: Knex, nowMs: number): Promise<number> {
  return knex(IDEMPOTENCY_TABLE).where("created_at", "<", expiryCutoff(nowMs)).delete();
}

/**
 * Purges expired key records, at most every PURGE_INTERVAL_MS per store and process (a write with a
 * key calls it before its transaction).
 */
export async function purgeNowAndThen(knex: Knex, nowMs: number): Promise<void> {
  const last = lastPurgeMs.get(knex);
  if (last !== undefined && nowMs - last < PURGE_INTERVAL_MS && nowMs >= last) return;
  lastPurgeMs.set(knex, nowMs);
  await purgeExpiredKeys(knex, nowMs);
}
