/**
 * Group commit of one server's log lines (runtime-contract §19): a line that finds no write under
 * way is written at once; lines arriving while one is under way wait and are then written together
 * by one appendLogs (one transaction), so a server writing hundreds of stderr lines a second costs
 * a few transactions a second rather than one per line (bench: `npm run bench -- runtime-logs`).
 * Lines keep their order and get increasing ids.
 */
import type { Knex } from "knex";
import { GroupCommit } from "../../lib/store/group-commit";
import { appendLogs, LogEntry, LogEntryInput } from "./store";

/** Lines per transaction at most. */
export const LOG_GROUP_MAX_LINES = 500;
/** Lines waiting at most; beyond, a line is refused (LogBacklogFull) rather than held in memory. */
export const LOG_MAX_WAITING = 10_000;

/** A line refused because LOG_MAX_WAITING lines already wait for the store. */
export class LogBacklogFull extends Error {
  constructor(serverId: string) {
    super(`log backlog of server '${serverId}' is full`);
    this.name = "LogBacklogFull";
  }
}

export class LogAppender {
  private readonly commit: GroupCommit<LogEntryInput, LogEntry>;
  /** Lines refused since creation (the backlog was full). */
  refused = 0;

  /**
   * `retention`: CONSOLE_MCP_LOG_RETENTION. `maxLines`/`maxWaiting` default to LOG_GROUP_MAX_LINES
   * and LOG_MAX_WAITING. One appender per server and process.
   */
  constructor(
    knex: Knex,
    private readonly serverId: string,
    retention: number,
    private readonly options: { maxLines?: number; maxWaiting?: number } = {},
  ) {
    this.commit = new GroupCommit(
      async (lines) => (await appendLogs(knex, serverId, lines, retention)).map((value) => ({ ok: true as const, value })),
      { concurrency: 1, maxUnits: options.maxLines ?? LOG_GROUP_MAX_LINES },
    );
  }

  /**
   * Stores a line with the next group; resolves with it as stored (id assigned, text cut and
   * cleaned). Rejects with LogBacklogFull at once when the backlog is full, and with the store's
   * error when the group's transaction fails (every line of that group fails with it).
   */
  append(line: LogEntryInput): Promise<LogEntry> {
    if (this.commit.waiting >= (this.options.maxWaiting ?? LOG_MAX_WAITING)) {
      this.refused += 1;
      return Promise.reject(new LogBacklogFull(this.serverId));
    }
    return this.commit.submit(line);
  }

  /** Lines waiting for a group (not counting the one being written). */
  get waiting(): number {
    return this.commit.waiting;
  }
}
