/**
 * One-time store seeding from the fixtures directory (§4): telemetry_runs.json and
 * finops_pull_requests.json, moved in time so the newest seed run lands at the seeding instant.
 */
import fs from "node:fs";
import path from "node:path";
import type { Knex } from "knex";
import type { ValidationItem } from "../errors";
import { PullRequestInput, validatePullRequest } from "../pull-request";
import { RunInput, rowFromRun, validateRun } from "../../services/telemetry/store/run";
import { toStoredInstant } from "../time";
import { isPlainObject } from "../validation";
import { insertTelemetryRows } from "../../services/telemetry/store/insert";

export const RUNS_FILE = "telemetry_runs.json";
export const PULL_REQUESTS_FILE = "finops_pull_requests.json";
export const SEED_MARKER_KEY = "fixtures";

/** A fixture file that cannot be seeded; startup fails with this message. */
export class SeedFixtureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SeedFixtureError";
  }
}

export interface SeedFixtures {
  runs: RunInput[];
  pullRequests: PullRequestInput[];
}

/** The elements of a fixture file: the array under one of `keys`; [] when the file is missing. */
function readElements(file: string, keys: readonly string[]): unknown[] {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return [];
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SeedFixtureError(`Seed file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (isPlainObject(value)) {
    for (const key of keys) {
      if (Array.isArray(value[key])) return value[key] as unknown[];
    }
  }
  throw new SeedFixtureError(`Seed file ${file} must be a JSON object with an array under ${keys.map((k) => `"${k}"`).join(" or ")}`);
}

function describeProblems(problems: ValidationItem[], prefixLength: number): string {
  return problems.map((p) => `${p.loc.slice(prefixLength).join(".") || "element"}: ${p.msg}`).join("; ");
}

/** Reads and validates both fixture files of a directory (a missing directory or file gives nothing). */
export function loadSeedFixtures(dir: string): SeedFixtures {
  const runsFile = path.join(dir, RUNS_FILE);
  const runs: RunInput[] = [];
  readElements(runsFile, ["runs", "items"]).forEach((element, index) => {
    const problems: ValidationItem[] = [];
    const run = validateRun(element, [index], { nowMs: 0, requireTs: true }, problems);
    if (run === null) {
      throw new SeedFixtureError(`Seed file ${runsFile}: element ${index} is invalid: ${describeProblems(problems, 1)}`);
    }
    runs.push(run);
  });

  const prFile = path.join(dir, PULL_REQUESTS_FILE);
  const pullRequests: PullRequestInput[] = [];
  const seenIds = new Set<string>();
  readElements(prFile, ["pull_requests", "items"]).forEach((element, index) => {
    const { record, problems } = validatePullRequest(element, [index]);
    if (record === null) {
      throw new SeedFixtureError(`Seed file ${prFile}: element ${index} is invalid: ${describeProblems(problems, 1)}`);
    }
    if (seenIds.has(record.id)) {
      throw new SeedFixtureError(`Seed file ${prFile}: element ${index} is invalid: id: duplicate pull request id '${record.id}'`);
    }
    seenIds.add(record.id);
    pullRequests.push(record);
  });
  return { runs, pullRequests };
}

/**
 * The offset T − N that moves the newest seed run to the seeding instant T (or, without runs, the
 * newest merge). 0 when there is nothing to seed.
 */
export function seedOffsetMs(fixtures: SeedFixtures, seedingMs: number): number {
  let newest = -Infinity;
  if (fixtures.runs.length > 0) {
    for (const run of fixtures.runs) if (run.ts_ms > newest) newest = run.ts_ms;
  } else {
    for (const pr of fixtures.pullRequests) if (pr.merged_at_ms > newest) newest = pr.merged_at_ms;
  }
  return newest === -Infinity ? 0 : seedingMs - newest;
}

export type SeedOutcome = "already-decided" | "marker-only" | "seeded";

async function hasRows(trx: Knex.Transaction, table: string): Promise<boolean> {
  const row = await trx(table).select(trx.raw("1 as present")).first();
  return row !== undefined;
}

/**
 * Seeds the store once (§4). Everything happens in one write transaction whose first statement
 * inserts the marker row: that insert takes the write lock (SQLite: the first write of the
 * transaction waits for the database write lock; PostgreSQL: a concurrent insert of the same key
 * waits until this transaction ends), so when several replicas start at once exactly one of them
 * decides, and the others find the marker. A failure rolls back everything, the marker included.
 */
export async function seedStore(knex: Knex, fixturesDir: string, clock: () => number = Date.now): Promise<SeedOutcome> {
  // Cheap check first, so a store that was already decided is not made to read the fixtures again.
  const existing = await knex("seed_state").where({ key: SEED_MARKER_KEY }).first();
  if (existing !== undefined) return "already-decided";

  const fixtures = loadSeedFixtures(fixturesDir);
  return knex.transaction(async (trx) => {
    const seedingMs = clock();
    const seedingInstant = toStoredInstant(seedingMs);
    const claimed: unknown[] = await trx("seed_state")
      .insert({ key: SEED_MARKER_KEY, applied_at: seedingInstant }, ["key"])
      .onConflict("key")
      .ignore();
    if (claimed.length === 0) return "already-decided";
    if ((await hasRows(trx, "telemetry_events")) || (await hasRows(trx, "pull_requests"))) return "marker-only";

    const offset = seedOffsetMs(fixtures, seedingMs);
    const rows = fixtures.runs.map((run) => rowFromRun({ ...run, ts_ms: run.ts_ms + offset }, seedingMs));
    await insertTelemetryRows(trx, rows);
    for (let start = 0; start < fixtures.pullRequests.length; start += 400) {
      await trx("pull_requests").insert(
        fixtures.pullRequests.slice(start, start + 400).map((pr) => ({
          id: pr.id,
          title: pr.title,
          owner: pr.owner,
          merged_at: toStoredInstant(pr.merged_at_ms + offset),
          provider_id: pr.provider_id,
          route: pr.route,
          created_at: seedingInstant,
        })),
      );
    }
    return "seeded";
  });
}
