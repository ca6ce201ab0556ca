/**
 * `npm run bench -- runtime-logs`: the cost of storing a log-heavy server's lines (runtime-contract
 * §19) through services/runtime/store.ts appendLogs — the per-server id counter, the insert and the
 * retention prune in one transaction — against a bare insert of the same rows (ids given, one
 * transaction per batch, no counter, no prune) on the same Knex writer, in alternating rounds.
 * Batches of 1, 10 and 100 lines (`BENCH_LOG_BATCHES`), `BENCH_LOG_LINES` lines per round (default
 * 5,000), a server already at its retention of 1,000 (so every append prunes), `BENCH_REPEAT` rounds
 * (median). Then the same lines through LogAppender (group commit), submitted one by one: as a
 * burst (lines/s), and at a steady `BENCH_LOG_RATE` lines/s (default 500) for 4 s (the delay from
 * a line's submission to its commit: p50, p99, max). SQLite and, with a PostgreSQL server
 * configured, PostgreSQL (BENCH_BACKENDS).
 */
import type { Knex } from "knex";
import { createKnex } from "../lib/store/knex";
import { migrateToLatest } from "../lib/store/migrate";
import { toStoredInstant } from "../lib/time";
import { LogAppender } from "../services/runtime/log-appender";
import { appendLogs, DEFAULT_LOG_RETENTION, LogEntryInput } from "../services/runtime/store";
import { benchBackends, openBenchStore } from "./fill";

const LINES = Number(process.env.BENCH_LOG_LINES ?? 5000);
const BATCHES = (process.env.BENCH_LOG_BATCHES ?? "1,10,100").split(",").map(Number);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const RATE = Number(process.env.BENCH_LOG_RATE ?? 500);
const RATE_SECONDS = 4;

function median(values: number[]): number {
  const s = [...values].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

function batch(size: number, at: number): LogEntryInput[] {
  return Array.from({ length: size }, (_, i) => ({
    timestamp: Date.now(),
    level: "info" as const,
    source: "stderr" as const,
    message: `2026-03-01T10:00:00Z INFO handled request ${at + i} in 3 ms (path=/tools/list, session=abcdef)`,
  }));
}

/** Lines/s of appendLogs in batches of `size`. */
async function throughStore(knex: Knex, size: number): Promise<number> {
  const t0 = performance.now();
  for (let at = 0; at < LINES; at += size) await appendLogs(knex, "busy", batch(size, at), DEFAULT_LOG_RETENTION);
  return LINES / ((performance.now() - t0) / 1000);
}

/** Lines/s of LINES lines submitted one by one at once to a LogAppender. */
async function burst(knex: Knex): Promise<number> {
  const appender = new LogAppender(knex, "busy", DEFAULT_LOG_RETENTION);
  const t0 = performance.now();
  await Promise.all(batch(LINES, 0).map((line) => appender.append(line)));
  return LINES / ((performance.now() - t0) / 1000);
}

/** Submission-to-commit delays (ms, sorted) of RATE lines/s for RATE_SECONDS through a LogAppender. */
async function steady(knex: Knex): Promise<number[]> {
  const appender = new LogAppender(knex, "busy", DEFAULT_LOG_RETENTION);
  const delays: number[] = [];
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  let sent = 0;
  const total = RATE * RATE_SECONDS;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * RATE));
    for (; sent < due; sent++) {
      const at = performance.now();
      pending.push(appender.append(batch(1, sent)[0]).then(() => void delays.push(performance.now() - at)));
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await Promise.all(pending);
  return delays.sort((x, y) => x - y);
}

let bareId = 0;

/** Lines/s of a bare insert of the same rows (ids from a variable), one transaction per batch. */
async function bare(knex: Knex, size: number): Promise<number> {
  const t0 = performance.now();
  for (let at = 0; at < LINES; at += size) {
    const rows = batch(size, at).map((e) => ({
      server_id: "bare",
      id: ++bareId,
      timestamp: toStoredInstant(e.timestamp as number),
      level: e.level,
      source: e.source,
      message: e.message,
    }));
    await knex.transaction(async (trx) => {
      await trx("runtime_logs").insert(rows);
    });
  }
  return LINES / ((performance.now() - t0) / 1000);
}

export async function benchRuntimeLogs(): Promise<void> {
  const summary: string[] = [];
  const appenders: string[] = [];
  for (const backend of benchBackends()) {
    const opened = await openBenchStore(backend);
    const knex = createKnex(opened.store);
    try {
      await migrateToLatest(knex);
      await appendLogs(knex, "busy", batch(DEFAULT_LOG_RETENTION, 0), DEFAULT_LOG_RETENTION);
      for (const size of BATCHES) {
        const store: number[] = [];
        const raw: number[] = [];
        for (let round = 0; round < REPEAT; round++) {
          store.push(await throughStore(knex, size));
          raw.push(await bare(knex, size));
        }
        const rows = Number((await knex("runtime_logs").where({ server_id: "busy" }).count({ n: "*" }))[0].n);
        if (rows !== DEFAULT_LOG_RETENTION) throw new Error(`retention broken: ${rows} rows kept`);
        const s = median(store);
        const r = median(raw);
        summary.push(`| ${opened.label} | ${size} | ${s.toFixed(0)} | ${r.toFixed(0)} | ${(s / r).toFixed(2)}x |`);
        console.log(summary[summary.length - 1]);
      }
      const bursts: number[] = [];
      for (let round = 0; round < REPEAT; round++) bursts.push(await burst(knex));
      const d = await steady(knex);
      const pct = (p: number) => d[Math.min(d.length - 1, Math.floor(p * d.length))].toFixed(1);
      appenders.push(
        `| ${opened.label} | ${median(bursts).toFixed(0)} | ${RATE} lines/s: p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${d[d.length - 1].toFixed(1)} ms |`,
      );
      console.log(appenders[appenders.length - 1]);
    } finally {
      await knex.destroy();
      await opened.remove();
    }
  }
  console.log(
    `\nruntime logs: ${LINES} lines per round, median of ${REPEAT}; appendLogs (counter + insert + prune to ${DEFAULT_LOG_RETENTION}) against a bare insert transaction of the same rows`,
  );
  console.log("| store | lines per append | appendLogs lines/s | bare insert lines/s | ratio |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const line of summary) console.log(line);
  console.log(
    `\nLogAppender (group commit), lines submitted one by one: a burst of ${LINES} (median of ${REPEAT}), and a steady rate for ${RATE_SECONDS} s (submission to commit)`,
  );
  console.log("| store | burst lines/s | steady rate delay |");
  console.log("| --- | --- | --- |");
  for (const line of appenders) console.log(line);
}
