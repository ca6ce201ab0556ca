/**
 * Generated stores for the benchmarks (store, mixed, ingest, scaleout): seeded random runs, bare
 * driver connections (sqlite3, pg) for the plain-SQL baselines and the raw multi-row inserts — the
 * baseline ingestion is compared with, and the fast way to fill a store — and `fillStore`, which
 * builds a migrated store of N runs spread over a span ending now, with its rollups rebuilt, a few
 * pull requests and the seed marker (so the server never seeds it).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import sqlite3 from "sqlite3";
import { Client } from "pg";
import { createKnex } from "../lib/store/knex";
import { migrateToLatest } from "../lib/store/migrate";
import { SEED_MARKER_KEY } from "../lib/store/seed";
import { rebuildRollups } from "../services/telemetry/store/rollups";
import { rowFromRun, RunInput, TelemetryRowInsert } from "../services/telemetry/store/run";
import { toStoredInstant } from "../lib/time";
import { seededRandom } from "../lib/prng";
import { createPgDatabaseOn } from "../test/helpers/pg";
import { processCpuSeconds } from "./processes";

export const DAY_MS = 86_400_000;
export const PROVIDERS = ["gemini", "codex", "glm46", "claude"];
const ROUTES = ["chat", "code", "embed", "default", null];
const STATUSES = ["success", "success", "success", "success", "success", "success", "retry", "error", "tool_error", "timeout", "rate_limit"];

/** A store the benchmarks build: a SQLite file, or a PostgreSQL database when dbUrl is set. */
export interface BenchStore {
  dbUrl: string | null;
  dbPath: string;
}

/** One generated run at tsMs (validated form: what the API stores for the same body). */
export function makeRun(rand: () => number, tsMs: number): RunInput {
  const provider = PROVIDERS[Math.floor(rand() * PROVIDERS.length)];
  const status = STATUSES[Math.floor(rand() * STATUSES.length)];
  const tokensIn = 200 + Math.floor(rand() * 3000);
  const tokensOut = 100 + Math.floor(rand() * 2000);
  const metadata: Record<string, unknown> = { project: `project-${Math.floor(rand() * 20)}`, consumer: `team-${Math.floor(rand() * 6)}` };
  const r = rand();
  if (r < 0.3) metadata.cache = { hit: r < 0.18, tokens: Math.floor(rand() * 400) };
  if (status !== "success" && rand() < 0.5) metadata.error = rand() < 0.5 ? { category: "rate_limit" } : "upstream timeout";
  return {
    provider_id: provider,
    tool: "chat.completions",
    route: ROUTES[Math.floor(rand() * ROUTES.length)],
    tokens_in: tokensIn,
    tokens_out: tokensOut,
    duration_ms: 200 + Math.floor(rand() * 4000),
    status,
    cost_usd: rand() < 0.03 ? null : Math.round((tokensIn + tokensOut) * 0.00002 * 1e6) / 1e6,
    metadata,
    ts_ms: tsMs,
    experiment_cohort: rand() < 0.2 ? "cohort-a" : null,
    experiment_tag: null,
  };
}

/** The run as the JSON body of POST /telemetry/runs carries it. */
export function runBody(run: RunInput): Record<string, unknown> {
  const { ts_ms, ...rest } = run;
  return { ...rest, ts: new Date(ts_ms).toISOString() };
}

const COLUMNS: (keyof TelemetryRowInsert)[] = [
  "provider_id",
  "tool",
  "route",
  "tokens_in",
  "tokens_out",
  "duration_ms",
  "status",
  "cost_usd",
  "metadata",
  "ts",
  "ingested_at",
  "experiment_cohort",
  "experiment_tag",
  "day",
  "is_success",
  "error_category",
  "cache_hit",
  "cached_tokens",
];
/** Rows per statement: within SQLite's 32,766 and PostgreSQL's 65,535 bound values. */
const SQLITE_ROWS_PER_INSERT = Math.floor(32000 / COLUMNS.length);
const PG_ROWS_PER_INSERT = Math.floor(65000 / COLUMNS.length);

function insertSql(rows: number, placeholder: (i: number) => string): string {
  const values: string[] = [];
  for (let r = 0; r < rows; r++) values.push(`(${COLUMNS.map((_, c) => placeholder(r * COLUMNS.length + c)).join(",")})`);
  return `INSERT INTO telemetry_events (${COLUMNS.join(",")}) VALUES ${values.join(",")}`;
}

export function sqliteRun(db: sqlite3.Database, sql: string, params: unknown[] = []): Promise<void> {
  return new Promise((resolve, reject) => db.run(sql, params, (err) => (err ? reject(err) : resolve())));
}

export function sqliteAll<T>(db: sqlite3.Database, sql: string, params: unknown[] = []): Promise<T[]> {
  return new Promise((resolve, reject) => db.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as T[]))));
}

/** Raw multi-row insert of rows in one transaction through the sqlite3 driver (no rollup). */
export async function rawInsertSqlite(db: sqlite3.Database, rows: readonly TelemetryRowInsert[]): Promise<void> {
  await sqliteRun(db, "BEGIN IMMEDIATE");
  try {
    for (let i = 0; i < rows.length; i += SQLITE_ROWS_PER_INSERT) {
      const chunk = rows.slice(i, i + SQLITE_ROWS_PER_INSERT);
      await sqliteRun(
        db,
        insertSql(chunk.length, () => "?"),
        chunk.flatMap((r) => COLUMNS.map((c) => r[c])),
      );
    }
    await sqliteRun(db, "COMMIT");
  } catch (err) {
    await sqliteRun(db, "ROLLBACK").catch(() => undefined);
    throw err;
  }
}

/** Raw multi-row insert of rows in one transaction through the pg driver (no rollup). */
export async function rawInsertPg(client: Client, rows: readonly TelemetryRowInsert[]): Promise<void> {
  await client.query("BEGIN");
  try {
    for (let i = 0; i < rows.length; i += PG_ROWS_PER_INSERT) {
      const chunk = rows.slice(i, i + PG_ROWS_PER_INSERT);
      await client.query(
        insertSql(chunk.length, (n) => `$${n + 1}`),
        chunk.flatMap((r) => COLUMNS.map((c) => r[c])),
      );
    }
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}

/** A bare driver connection to a bench store, for raw inserts and baselines. */
export interface RawConnection {
  insert(rows: readonly TelemetryRowInsert[]): Promise<void>;
  /** One statement with `?` placeholders, its rows. */
  all<T>(sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/**
 * A bare driver connection with the durability the server uses (SQLite WAL with synchronous NORMAL;
 * PostgreSQL's synchronous_commit as configured), or none (`synchronousOff`, for filling).
 */
export async function openRaw(store: BenchStore, options: { synchronousOff?: boolean } = {}): Promise<RawConnection> {
  if (store.dbUrl !== null) {
    const client = new Client({ connectionString: store.dbUrl });
    await client.connect();
    if (options.synchronousOff) await client.query("SET synchronous_commit = off");
    return {
      insert: (rows) => rawInsertPg(client, rows),
      async all<T>(sql: string, params: unknown[] = []) {
        let n = 0;
        return (
          await client.query(
            sql.replace(/\?/g, () => `$${++n}`),
            params,
          )
        ).rows as T[];
      },
      close: () => client.end(),
    };
  }
  const db = new sqlite3.Database(store.dbPath, sqlite3.OPEN_READWRITE);
  await sqliteRun(db, "PRAGMA busy_timeout = 15000");
  await sqliteRun(db, `PRAGMA synchronous = ${options.synchronousOff ? "OFF" : "NORMAL"}`);
  return {
    insert: (rows) => rawInsertSqlite(db, rows),
    all: (sql, params) => sqliteAll(db, sql, params),
    close: () => new Promise<void>((resolve) => db.close(() => resolve())),
  };
}

export interface FillOptions {
  /** Number of runs. */
  runs: number;
  /**
   * The runs are spread evenly over the span ending at nowMs: run j (0-based) at
   * ceil(nowMs − spanMs + (j + 1) × step), step = spanMs / runs, so the newest is at nowMs and the
   * newest k runs are those at or after nowMs − (k − 1) × step.
   */
  spanMs: number;
  nowMs: number;
  /** Pull requests merged evenly over the span (default 24). */
  pullRequests?: number;
  seed?: number;
}

export interface Filled {
  /** Ms between consecutive runs. */
  stepMs: number;
  /** Time of the raw inserts and of the rollup rebuild, in ms. */
  insertMs: number;
  rebuildMs: number;
}

/**
 * Builds a store: migrations, `runs` generated runs inserted raw in 50,000-run transactions, the
 * rollups rebuilt from them (the raw inserts bypass insertTelemetryRows), pull requests, the seed
 * marker, fresh planner statistics.
 */
export async function fillStore(store: BenchStore, options: FillOptions): Promise<Filled> {
  const knex = createKnex(store);
  try {
    await migrateToLatest(knex);
  } finally {
    await knex.destroy();
  }
  const raw = await openRaw(store, { synchronousOff: true });
  const rand = seededRandom(options.seed ?? 42);
  const startMs = options.nowMs - options.spanMs;
  const step = options.spanMs / options.runs;
  const t0 = performance.now();
  try {
    const batch = 50_000;
    for (let i = 0; i < options.runs; i += batch) {
      const rows: TelemetryRowInsert[] = [];
      for (let j = i; j < Math.min(options.runs, i + batch); j++) {
        rows.push(rowFromRun(makeRun(rand, Math.ceil(startMs + (j + 1) * step)), options.nowMs));
      }
      await raw.insert(rows);
    }
  } finally {
    await raw.close();
  }
  const t1 = performance.now();
  const rollupKnex = createKnex(store);
  let t2: number;
  try {
    await rebuildRollups(rollupKnex);
    t2 = performance.now();
    const prCount = options.pullRequests ?? 24;
    const prs = Array.from({ length: prCount }, (_, k) => ({
      id: `pr-${1000 + k}`,
      title: `Change ${k}`,
      owner: "bench",
      merged_at: toStoredInstant(startMs + ((k + 1) * options.spanMs) / (prCount + 2)),
      provider_id: PROVIDERS[k % PROVIDERS.length],
      route: k % 3 === 0 ? null : "chat",
      created_at: toStoredInstant(options.nowMs),
    }));
    if (prs.length > 0) await rollupKnex("pull_requests").insert(prs);
    await rollupKnex("seed_state").insert({ key: SEED_MARKER_KEY, applied_at: toStoredInstant(options.nowMs) });
    await rollupKnex.raw("ANALYZE");
  } finally {
    await rollupKnex.destroy();
  }
  return { stepMs: step, insertMs: t1 - t0, rebuildMs: t2 - t1 };
}

export type Backend = "sqlite" | "pg";

/**
 * CPU seconds used so far by the PostgreSQL backends connected to the store's database (from /proc;
 * the server runs on this machine), 0 for SQLite. Backends that ended meanwhile are not counted.
 */
export async function storeBackendCpuSeconds(store: BenchStore): Promise<number> {
  if (store.dbUrl === null) return 0;
  const client = new Client({ connectionString: store.dbUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    );
    return rows.reduce((sum, r) => sum + (processCpuSeconds(r.pid) || 0), 0);
  } finally {
    await client.end();
  }
}

/**
 * The PostgreSQL server the benchmarks use (CONSOLE_MCP_BENCH_PG_URL, BENCH_PG_URL, else
 * CONSOLE_MCP_TEST_PG_URL), or null.
 */
export function benchPgUrl(): string | null {
  return process.env.CONSOLE_MCP_BENCH_PG_URL || process.env.BENCH_PG_URL || process.env.CONSOLE_MCP_TEST_PG_URL || null;
}

/**
 * BENCH_BACKENDS (comma-separated sqlite, pg), else SQLite and, when a server is configured,
 * PostgreSQL. An unknown name, or pg without a server, stops the benchmark.
 */
export function benchBackends(): Backend[] {
  const text = process.env.BENCH_BACKENDS;
  if (!text) return benchPgUrl() === null ? ["sqlite"] : ["sqlite", "pg"];
  const wanted = text.split(",").map((s) => s.trim());
  for (const b of wanted) {
    if (b !== "sqlite" && b !== "pg") throw new Error(`BENCH_BACKENDS: unknown backend '${b}'`);
    if (b === "pg" && benchPgUrl() === null) {
      throw new Error("BENCH_BACKENDS=pg needs CONSOLE_MCP_BENCH_PG_URL, BENCH_PG_URL or CONSOLE_MCP_TEST_PG_URL");
    }
  }
  return wanted as Backend[];
}

/** A fresh, empty bench store and the server environment that selects it. */
export interface OpenedBenchStore {
  label: string;
  store: BenchStore;
  /**
   * CONSOLE_MCP_DB_PATH or CONSOLE_MCP_DB_URL, seeding off, plus the pool tuning of this process's
   * environment.
   */
  serverEnv: Record<string, string>;
  remove(): Promise<void>;
}

/** Server settings passed through from the benchmark's environment when set. */
const PASSED_THROUGH = ["CONSOLE_MCP_DB_READ_POOL", "CONSOLE_MCP_DB_WRITE_POOL", "UV_THREADPOOL_SIZE"];

export async function openBenchStore(backend: Backend): Promise<OpenedBenchStore> {
  const tuning: Record<string, string> = {};
  for (const name of PASSED_THROUGH) if (process.env[name]) tuning[name] = process.env[name] as string;
  if (backend === "pg") {
    const url = benchPgUrl();
    if (url === null) throw new Error("PostgreSQL benchmarks need CONSOLE_MCP_BENCH_PG_URL, BENCH_PG_URL or CONSOLE_MCP_TEST_PG_URL");
    const db = await createPgDatabaseOn(url, "console_mcp_bench_");
    return {
      label: "PostgreSQL",
      store: { dbUrl: db.url, dbPath: "" },
      serverEnv: { CONSOLE_MCP_DB_URL: db.url, CONSOLE_MCP_SEED: "none", ...tuning },
      remove: () => db.drop(),
    };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-store-"));
  const file = path.join(dir, "console.db");
  return {
    label: "SQLite",
    store: { dbUrl: null, dbPath: file },
    serverEnv: { CONSOLE_MCP_DB_PATH: file, CONSOLE_MCP_SEED: "none", ...tuning },
    remove: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
