/**
 * The in-memory supervisor of one runtime replica (runtime-contract §18, §19, §20, §21): it drives
 * the state machine (state-machine.ts) with real processes — start (waits for `running` or `error`),
 * stop (close the connection and stdin, group SIGTERM → 5 s → group SIGKILL, state written only when
 * the group is gone), restart, automatic restarts with backoff, periodic pings with three failures
 * counted as a failed exit, a cap on processes — and reports every state change, log line and health
 * check through hooks, so the runtime service can persist them and emit events. No store, no broker.
 */
import os from "node:os";
import { conflict, notFound } from "../../lib/errors";
import { BackendEnv, buildLaunch, CommandError, LaunchFields } from "./command";
import { McpConnection, PING_TIMEOUT_MS, PingResult, StartError, ToolCallOutcome, ToolList } from "./connection";
import type { GroupRecord } from "./process-group";
import type { ExitInfo, ServerProcess } from "./spawn";
import {
  DesiredState,
  initialState,
  MachineEvent,
  MachinePolicy,
  MachineState,
  ProcessStatus,
  RestartPolicy,
  transition,
  Transition,
} from "./state-machine";
import { maskSecret, MAX_LINE_CHARS, TAIL_CHARS } from "./stderr-lines";
import { waitAtMost } from "./wait";

/** The catalog fields the supervisor uses (§17.2 with defaults materialised, §17.3). */
export interface ServerSpec extends LaunchFields {
  restart: RestartPolicy;
  max_restarts: number;
  startup_timeout_s: number;
  degraded_latency_ms: number;
  tool_timeout_s: number;
}

/** §18.1 ProcessState without `logs`/`cursor` (those come from the store); datetimes as epoch ms. */
export interface ProcessSnapshot {
  server_id: string;
  desired: DesiredState;
  status: ProcessStatus;
  command: string | null;
  pid: number | null;
  node_id: string | null;
  started_at: number | null;
  stopped_at: number | null;
  return_code: number | null;
  last_error: string | null;
  restarts: number;
  server_info: { name: string; version: string; protocol_version: string } | null;
  tool_count: number | null;
}

/** §19 LogEntry without `id` (the store numbers entries); `timestamp` in epoch ms. */
export interface LogLine {
  timestamp: number;
  level: "debug" | "info" | "warn" | "error";
  source: "supervisor" | "stderr";
  message: string;
}

/** §20 HealthCheck; `checked_at` in epoch ms. */
export interface HealthCheck {
  status: "healthy" | "degraded" | "error";
  checked_at: number;
  latency_ms: number | null;
  message: string | null;
  actor: string | null;
  plan_id: null;
}

/** Callbacks for everything the service persists or emits. Exceptions thrown by hooks are ignored. */
export interface SupervisorHooks {
  /** Every state change (and tool_count / pid changes). */
  onState?: (snapshot: ProcessSnapshot) => void;
  /** Every supervisor lifecycle line and every stderr line, masked (§19, §24). */
  onLog?: (serverId: string, line: LogLine) => void;
  /** Every health check, manual or periodic (§20). */
  onHealth?: (serverId: string, check: HealthCheck, origin?: unknown) => void;
  /** A process group was spawned (record it for hygiene, §18.4) or is gone (drop the record). */
  onGroup?: (serverId: string, event: { type: "spawned"; record: GroupRecord } | { type: "gone"; pgid: number }) => void;
  /** The tool list changed (notifications/tools/list_changed), with the new complete list. */
  onToolsChanged?: (serverId: string, list: ToolList) => void;
}

/** What a start needs from the catalog and the secret store. Called at every spawn (manual or automatic). */
export type ServerResolver = (serverId: string) => Promise<{ server: ServerSpec; secret: string | null } | null>;

export interface SupervisorOptions {
  /** This replica's node id (§18.1 `node_id`). */
  nodeId: string;
  /** Catalog + secret lookup; null when the server is not in the catalog. */
  resolve: ServerResolver;
  /** The backend's environment, for the allow-list and `${VAR}` (from config; never process.env here). */
  backendEnv: BackendEnv;
  /** Absolute project root: default cwd. */
  projectRoot: string;
  /** CONSOLE_MCP_MAX_PROCESSES (default 32). */
  maxProcesses?: number;
  /** CONSOLE_MCP_HEALTH_INTERVAL_S in ms (default 30 000; 0 = no periodic checks). */
  healthIntervalMs?: number;
  hooks?: SupervisorHooks;
  /** Host name for hygiene records (default os.hostname()). */
  host?: string;
  /** Tunables (tests): SIGTERM → SIGKILL grace (5 000), backoff base (1 000) and ceiling (60 000), stable run (60 000), ping timeout (5 000), jitter random. */
  stopGraceMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  stableMs?: number;
  pingTimeoutMs?: number;
  random?: () => number;
}

/** A start has settled: running, failed, or ended otherwise (stopped meanwhile, a takeover start back in backoff). */
const settled = (s: ProcessSnapshot) => s.status === "running" || s.status === "error" || s.status === "stopped" || s.status === "backoff";

/** How long an unexpected exit waits for the server's last stderr lines before the state moves (the crash is seen within 1 s). */
const STDERR_SETTLE_MS = 200;

/** §20: three `error` checks in a row of a running server count as a failed exit. */
export const HEALTH_FAILURES_TO_RESTART = 3;

type EndReason = "stop" | "health" | "shutdown";

/** One attempt to run a process: from the spawn request to the group being gone. */
interface Run {
  abort: AbortController;
  /** Resolves when the start attempt has settled (connected, failed or abandoned). */
  opened: Promise<void>;
  proc: ServerProcess | null;
  connection: McpConnection | null;
  /** Set when the runtime ends the run (stop, health, shutdown): its end is not unexpected. */
  endReason: EndReason | null;
  /** Resolves once the run's group is gone after the runtime ended it. */
  ending: Promise<void> | null;
}

interface Entry {
  id: string;
  spec: ServerSpec | null;
  secret: string | null;
  machine: MachineState;
  run: Run | null;
  backoffTimer: NodeJS.Timeout | null;
  healthTimer: NodeJS.Timeout | null;
  /** Identity of the current periodic-check series. */
  healthToken: object | null;
  healthFailures: number;
  command: string | null;
  pid: number | null;
  startedAt: number | null;
  stoppedAt: number | null;
  returnCode: number | null;
  lastError: string | null;
  serverInfo: ProcessSnapshot["server_info"];
  toolCount: number | null;
  waiters: Set<() => void>;
}

function describeExit(exit: ExitInfo): string {
  return exit.signal !== null ? `was killed by signal ${exit.signal}` : `exited with code ${exit.code}`;
}

function withTail(message: string, tail: string): string {
  return tail === "" ? message : `${message}; last stderr lines:\n${tail.slice(-TAIL_CHARS)}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Between the lines of a multi-line text folded into one log line. */
export const LINE_JOINER = " | ";

/** A text as one log line (§19: an entry is one line): its line breaks become LINE_JOINER. */
export function oneLine(text: string): string {
  return text.replace(/\r\n|\r|\n/g, LINE_JOINER);
}

/**
 * The supervisor's log line for a failed start (§19): the reason and the stderr tail, in one line
 * (`start failed: <reason>; last stderr lines: <line> | <line> …`), cut at 4,096 characters like any
 * line (the tail is at most 2,000). One entry rather than one per tail line: each stderr line is
 * already an entry of its own (source `stderr`, as it came), so the failure line repeats them only
 * to keep the failure and its context together in one entry — several entries would interleave
 * with those and spend the log's retention and the UI's newest-20 view on copies.
 */
export function startFailureLine(failure: StartError): string {
  const tail = failure.stderrTail.slice(-TAIL_CHARS).replace(/\s+$/, "");
  const reason = `start failed: ${failure.reason}`;
  return oneLine(tail === "" ? reason : `${reason}; last stderr lines: ${tail}`);
}

/**
 * One replica's processes. All methods are safe to call concurrently; per server, the state machine
 * serialises what may happen (a second start while starting is a 409, a stop during a start cancels it).
 */
export class Supervisor {
  private readonly entries = new Map<string, Entry>();
  /** Groups of crashed processes still being cleaned (members left behind by the leader). */
  private readonly cleanups = new Set<Promise<void>>();
  /** Processes whose group was reported gone (once each). */
  private readonly reportedGone = new WeakSet<ServerProcess>();
  private readonly maxProcesses: number;
  private readonly healthIntervalMs: number;
  private readonly hooks: SupervisorHooks;
  private readonly host: string;
  private shuttingDown = false;

  constructor(private readonly options: SupervisorOptions) {
    this.maxProcesses = options.maxProcesses ?? 32;
    this.healthIntervalMs = options.healthIntervalMs ?? 30_000;
    this.hooks = options.hooks ?? {};
    this.host = options.host ?? os.hostname();
  }

  // ---------------------------------------------------------------------------------------------
  // Public API

  /**
   * Starts a server (§18.5 start). Resolves with its state once `running` or `error` (a failed start
   * is a resolved `error` state, not a rejection; `stopped` when a stop came meanwhile, `backoff` for
   * an automatic start that failed), or at once in `starting` with `wait: false`.
   * From `backoff` or `error` it starts now and resets the failure count. `automatic: true` is a start
   * by the runtime itself (a replica taking over, §18.4): it counts as a restart and keeps the counts.
   * Rejects with 404 ContractError when the resolver does not know the server, 409 `Server '<id>' is
   * already running` while `running`/`starting`, 409 `process limit reached` at the cap.
   */
  async start(serverId: string, opts: { wait?: boolean; automatic?: boolean } = {}): Promise<ProcessSnapshot> {
    const resolved = await this.options.resolve(serverId);
    if (resolved === null) throw notFound(`Server '${serverId}' not found`);
    const entry = this.entry(serverId);
    entry.spec = resolved.server;
    entry.secret = resolved.secret;
    if (entry.machine.status === "running" || entry.machine.status === "starting") {
      throw conflict(`Server '${serverId}' is already running`);
    }
    this.checkCapacity(entry);
    this.log(entry, "info", opts.automatic ? "start by the runtime (taking over)" : "start requested");
    if (!opts.automatic) entry.lastError = null;
    const t = this.apply(entry, { type: "start", automatic: opts.automatic });
    if (t.conflict === "already_running") throw conflict(`Server '${serverId}' is already running`);
    if (opts.wait === false) return this.snapshot(entry);
    await this.waitFor(entry, settled);
    return this.snapshot(entry);
  }

  /**
   * Stops a server (§18.5 stop): from `running`/`starting` it closes the connection and stdin and
   * ends the group (SIGTERM, 5 s, SIGKILL), resolving once the group is gone with `stopped`,
   * `desired: stopped`; from `backoff` or `error` it cancels what is pending. Rejects with 409
   * `Server '<id>' is not running` only when already `stopped` with `desired: stopped`.
   */
  async stop(serverId: string): Promise<ProcessSnapshot> {
    const entry = this.entries.get(serverId);
    const notRunning = () => conflict(`Server '${serverId}' is not running`);
    if (entry === undefined || (entry.machine.status === "stopped" && entry.machine.desired === "stopped")) throw notRunning();
    this.log(entry, "info", "stop requested");
    const t = this.apply(entry, { type: "stop" });
    if (t.conflict === "not_running") throw notRunning();
    await this.waitFor(entry, (s) => s.status !== "stopping");
    return this.snapshot(entry);
  }

  /**
   * Restarts a server (§18.5 restart): stops it first when a process exists, then starts it; resolves
   * as start() does. Resets the failure count. Rejects with 404 (unknown) or 409 `process limit reached`.
   */
  async restart(serverId: string, opts: { wait?: boolean } = {}): Promise<ProcessSnapshot> {
    const resolved = await this.options.resolve(serverId);
    if (resolved === null) throw notFound(`Server '${serverId}' not found`);
    const entry = this.entry(serverId);
    entry.spec = resolved.server;
    entry.secret = resolved.secret;
    this.checkCapacity(entry);
    this.log(entry, "info", "restart requested");
    entry.lastError = null;
    this.apply(entry, { type: "restart" });
    if (opts.wait === false) return this.snapshot(entry);
    await this.waitFor(entry, settled);
    return this.snapshot(entry);
  }

  /**
   * Resolves with a server's state once a start begun with `wait: false` has settled: `running`,
   * `error`, `stopped` (a stop came meanwhile) or `backoff`; at once when it already has (or the
   * server was never handled here: then null).
   */
  async settled(serverId: string): Promise<ProcessSnapshot | null> {
    const entry = this.entries.get(serverId);
    if (entry === undefined) return null;
    await this.waitFor(entry, settled);
    return this.snapshot(entry);
  }

  /** The state of a server this replica has handled; null when it never did. */
  get(serverId: string): ProcessSnapshot | null {
    const entry = this.entries.get(serverId);
    return entry === undefined ? null : this.snapshot(entry);
  }

  /** The states of every server this replica has handled. */
  list(): ProcessSnapshot[] {
    return [...this.entries.values()].map((e) => this.snapshot(e));
  }

  /** Processes this replica holds now (starting, running or stopping): what the cap counts. */
  processCount(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.run !== null) n++;
    return n;
  }

  /**
   * A health check (§20): MCP `ping` over the live connection. `healthy` within
   * `degraded_latency_ms`, `degraded` slower, `error` after 5 s or when not running (`not running
   * (status: stopped)`). Reported through onHealth (with `origin`, opaque to the supervisor: what the
   * caller needs stored with the check) and returned. Three `error` checks in a row of a running
   * server end its group and apply the restart policy.
   */
  async ping(serverId: string, actor: string | null = null, origin?: unknown): Promise<HealthCheck> {
    const entry = this.entries.get(serverId);
    const status = entry?.machine.status ?? "stopped";
    const connection = entry?.run?.connection ?? null;
    let result: PingResult;
    if (entry === undefined || status !== "running" || connection === null) {
      result = { status: "error", latency_ms: null, message: `not running (status: ${status})` };
    } else {
      result = await connection.ping(entry.spec?.degraded_latency_ms ?? 1000, this.options.pingTimeoutMs ?? PING_TIMEOUT_MS);
    }
    const check: HealthCheck = { ...result, checked_at: Date.now(), actor, plan_id: null };
    this.safely(() => this.hooks.onHealth?.(serverId, check, origin));
    if (entry !== undefined) this.countHealth(entry, check, connection);
    return check;
  }

  /**
   * The complete tool list of a running server (§21), listed again first when no listing succeeded
   * yet. Rejects with 409 `Server '<id>' is not running`.
   */
  async tools(serverId: string): Promise<ToolList> {
    const connection = this.liveConnection(serverId);
    return connection.tools ?? (await connection.refreshTools());
  }

  /**
   * Calls a tool on a running server (§21). `timeoutMs` defaults to the server's `tool_timeout_s`.
   * `beforeSend`, when given, runs once the server is running and has the tool, just before the
   * call is sent; when it rejects, nothing is sent and the call rejects with its error (the runtime
   * records the call against its session there, §22).
   * Rejects with 409 not running, 404 `Tool '<name>' not found on server '<id>'`, or the connection's
   * ToolTimeoutError (504), ConnectionClosedError (502), ToolCallError (502).
   */
  async callTool(
    serverId: string,
    tool: string,
    args: Record<string, unknown>,
    opts: { timeoutMs?: number; signal?: AbortSignal; beforeSend?: () => Promise<void> } = {},
  ): Promise<ToolCallOutcome> {
    const connection = this.liveConnection(serverId);
    const list = connection.tools ?? (await connection.refreshTools());
    if (!list.tools.some((t) => t.name === tool)) throw notFound(`Tool '${tool}' not found on server '${serverId}'`);
    const spec = this.entries.get(serverId)?.spec;
    const timeoutMs = opts.timeoutMs ?? Math.round((spec?.tool_timeout_s ?? 60) * 1000);
    if (opts.beforeSend !== undefined) await opts.beforeSend();
    return connection.callTool(tool, args, timeoutMs, opts.signal);
  }

  /**
   * Stops a server if needed and forgets it (a server deleted from the catalog). Resolves once its
   * group is gone.
   */
  async remove(serverId: string): Promise<void> {
    const entry = this.entries.get(serverId);
    if (entry === undefined) return;
    if (!(entry.machine.status === "stopped" && entry.machine.desired === "stopped")) {
      await this.stop(serverId).catch(() => undefined);
    }
    this.clearTimers(entry);
    this.entries.delete(serverId);
  }

  /**
   * Ends every process group of this replica (a graceful replica stop, §18.4) and waits until all
   * are gone. `desired` is kept, so another replica takes the servers over; the states end `stopped`.
   */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    const ends: Promise<void>[] = [];
    for (const entry of this.entries.values()) {
      this.clearTimers(entry);
      if (entry.machine.status === "backoff") {
        entry.machine = { ...entry.machine, status: "stopped", runningSince: null };
        this.emitState(entry);
      }
      if (entry.run !== null) ends.push(this.endRun(entry, entry.run, "shutdown"));
    }
    await Promise.all(ends);
    await this.idle();
  }

  /** Resolves when the groups left behind by crashed processes have been cleaned. */
  async idle(): Promise<void> {
    while (this.cleanups.size > 0) await Promise.all([...this.cleanups]);
  }

  // ---------------------------------------------------------------------------------------------
  // State machine driving

  private entry(serverId: string): Entry {
    let entry = this.entries.get(serverId);
    if (entry === undefined) {
      entry = {
        id: serverId,
        spec: null,
        secret: null,
        machine: initialState(),
        run: null,
        backoffTimer: null,
        healthTimer: null,
        healthToken: null,
        healthFailures: 0,
        command: null,
        pid: null,
        startedAt: null,
        stoppedAt: null,
        returnCode: null,
        lastError: null,
        serverInfo: null,
        toolCount: null,
        waiters: new Set(),
      };
      this.entries.set(serverId, entry);
    }
    return entry;
  }

  private checkCapacity(entry: Entry): void {
    if (this.shuttingDown) throw conflict("The runtime is shutting down");
    if (entry.run === null && this.processCount() >= this.maxProcesses) throw conflict("process limit reached");
  }

  private policy(entry: Entry): MachinePolicy {
    return {
      restart: entry.spec?.restart ?? "on-failure",
      maxRestarts: entry.spec?.max_restarts ?? 5,
      backoffBaseMs: this.options.backoffBaseMs,
      backoffMaxMs: this.options.backoffMaxMs,
      stableMs: this.options.stableMs,
      random: this.options.random,
    };
  }

  /** Feeds one event to the machine, publishes the new state, carries out the effects. */
  private apply(entry: Entry, event: MachineEvent): Transition {
    const t = transition(entry.machine, event, this.policy(entry));
    if (!t.accepted) return t;
    entry.machine = t.state;
    if (t.state.status !== "running") {
      this.stopHealth(entry);
      entry.startedAt = null;
      entry.toolCount = null;
    }
    this.logOutcome(entry, t);
    if (this.shuttingDown && t.effects.some((e) => e.type === "spawn")) {
      // Nothing starts while the replica shuts down; desired is kept for a takeover.
      entry.machine = { ...entry.machine, status: "stopped", runningSince: null };
    }
    for (const effect of t.effects) {
      if (effect.type === "spawn") {
        if (this.shuttingDown) continue;
        void this.launch(entry);
      } else if (effect.type === "kill") {
        const run = entry.run;
        if (run !== null) void this.endRun(entry, run, "stop");
        else queueMicrotask(() => this.apply(entry, { type: "exited", code: null, signal: null, asked: true, now: Date.now() }));
      } else if (effect.type === "schedule_backoff") {
        this.log(entry, "warn", `restart ${effect.attempt} of ${entry.spec?.max_restarts ?? 5} in ${seconds(effect.delayMs)}`);
        if (entry.backoffTimer !== null) clearTimeout(entry.backoffTimer);
        entry.backoffTimer = setTimeout(() => {
          entry.backoffTimer = null;
          this.apply(entry, { type: "backoff_elapsed" });
        }, effect.delayMs);
        entry.backoffTimer.unref();
      } else if (effect.type === "cancel_backoff") {
        if (entry.backoffTimer !== null) clearTimeout(entry.backoffTimer);
        entry.backoffTimer = null;
      }
    }
    if (t.state.status === "running") this.startHealth(entry);
    this.emitState(entry);
    return t;
  }

  private logOutcome(entry: Entry, t: Transition): void {
    const max = entry.spec?.max_restarts ?? 5;
    switch (t.outcome) {
      case "gave_up":
        this.log(entry, "error", `giving up after ${t.state.failures} failures in a row (max_restarts ${max})`);
        if (entry.lastError !== null) entry.lastError = `${entry.lastError}\n(gave up after ${t.state.failures} failures in a row)`;
        break;
      case "failed":
        this.log(entry, "error", "not restarted (restart: never)");
        break;
      case "clean_exit":
        this.log(entry, "info", "the server ended by itself with code 0; not restarted");
        break;
      default:
        break;
    }
  }

  /** Spawns and connects a process for the entry (the machine's `spawn` effect). */
  private async launch(entry: Entry): Promise<void> {
    let settle!: () => void;
    const run: Run = {
      abort: new AbortController(),
      opened: new Promise<void>((r) => (settle = r)),
      proc: null,
      connection: null,
      endReason: null,
      ending: null,
    };
    entry.run = run;
    entry.healthFailures = 0;
    try {
      const resolved = await this.options.resolve(entry.id);
      if (run.endReason !== null) return;
      if (resolved === null) throw new StartError(`Server '${entry.id}' is no longer in the catalog`, "", null);
      entry.spec = resolved.server;
      entry.secret = resolved.secret;
      let launch;
      try {
        launch = buildLaunch(resolved.server, {
          backendEnv: this.options.backendEnv,
          projectRoot: this.options.projectRoot,
          secret: resolved.secret,
        });
      } catch (err) {
        if (err instanceof CommandError) throw new StartError(err.message, "", null);
        throw err;
      }
      entry.command = launch.commandLine;
      for (const name of launch.missingVars)
        this.log(entry, "warn", `env references \${${name}}, which the backend's environment does not set; passed as ""`);
      const connection = await McpConnection.open(launch, {
        serverId: entry.id,
        startupTimeoutMs: Math.round(resolved.server.startup_timeout_s * 1000),
        stopGraceMs: this.options.stopGraceMs,
        secret: resolved.secret,
        signal: run.abort.signal,
        onStderrLine: (line) => this.emitLog(entry, line.level, "stderr", line.message),
        onSpawn: (proc) => this.onSpawn(entry, run, proc),
        onToolsChanged: (list) => {
          if (list === null || entry.run !== run) return;
          entry.toolCount = list.tools.length;
          this.log(entry, "info", `tool list changed: ${list.tools.length} tools`);
          this.safely(() => this.hooks.onToolsChanged?.(entry.id, list));
          this.emitState(entry);
        },
        onProtocolError: (err) => this.log(entry, "warn", `protocol: ${err.message}`),
      });
      run.connection = connection;
      if (run.endReason !== null) return; // a stop arrived during the start: endRun finishes it
      if (connection.closed) {
        // Ended between the handshake and now: a failed start like any other.
        const exit = await connection.close(this.options.stopGraceMs);
        throw new StartError(`The process ${describeExit(exit)} right after the MCP handshake`, connection.process.stderrTail(), exit);
      }
      const info = connection.serverInfo;
      entry.serverInfo = info;
      entry.toolCount = connection.tools?.tools.length ?? null;
      entry.startedAt = Date.now();
      this.log(
        entry,
        "info",
        `handshake done in ${connection.handshakeMs} ms (${info.name || "unnamed"} ${info.version}, protocol ${info.protocol_version}); ${entry.toolCount ?? "unknown number of"} tools`,
      );
      this.apply(entry, { type: "initialized", now: Date.now() });
      // The leader's exit after this point is watched in onSpawn.
    } catch (err) {
      if (run.endReason !== null) return;
      const failure = err instanceof StartError ? err : new StartError(`The start failed: ${(err as Error).message}`, "", null);
      if (failure.aborted) return;
      if (entry.run === run) entry.run = null;
      entry.pid = null;
      entry.lastError = maskSecret(failure.message, entry.secret);
      if (failure.exit !== null) {
        entry.returnCode = failure.exit.returnCode;
        entry.stoppedAt = failure.exit.at;
      } else if (run.proc !== null) {
        const exit = run.proc.exitInfo();
        entry.returnCode = exit?.returnCode ?? null;
        entry.stoppedAt = exit?.at ?? Date.now();
      }
      if (run.proc !== null) this.groupGone(entry, run.proc);
      this.log(entry, "error", startFailureLine(failure));
      this.apply(entry, { type: "start_failed" });
    } finally {
      settle();
    }
  }

  private onSpawn(entry: Entry, run: Run, proc: ServerProcess): void {
    run.proc = proc;
    entry.pid = proc.pid;
    this.log(entry, "info", `spawned ${proc.commandLine} with pid ${proc.pid}`);
    if (proc.startTime !== null) {
      const record: GroupRecord = { pgid: proc.pgid, host: this.host, start_time: proc.startTime };
      this.safely(() => this.hooks.onGroup?.(entry.id, { type: "spawned", record }));
    }
    this.emitState(entry);
    void proc.exited.then((exit) => this.onExit(entry, run, proc, exit));
  }

  /** The leader exited. Unexpected ends of a running process are handled here; the rest elsewhere. */
  private onExit(entry: Entry, run: Run, proc: ServerProcess, exit: ExitInfo): void {
    if (run.endReason !== null) return; // the runtime ended it: endRun reports
    if (entry.run !== run || entry.machine.status !== "running" || run.connection === null) return; // a start: launch reports
    this.log(entry, exit.code === 0 ? "info" : "error", `the process ${describeExit(exit)}`);
    const connection = run.connection;
    void (async () => {
      // The last lines the server wrote may still be in the pipe: a short, bounded wait for them.
      await waitAtMost(proc.stderrClosed, STDERR_SETTLE_MS);
      // Members left in the group (grandchildren) are ended in the background; the state moves now.
      this.track(
        (async () => {
          await connection.close(this.options.stopGraceMs);
          await waitAtMost(proc.stderrClosed, 1000);
          this.groupGone(entry, proc);
        })(),
      );
      // A stop that arrived meanwhile has ended the run itself (endRun).
      if (run.endReason !== null || entry.run !== run) return;
      entry.run = null;
      entry.pid = null;
      entry.returnCode = exit.returnCode;
      entry.stoppedAt = exit.at;
      entry.lastError = withTail(`The process ${describeExit(exit)} unexpectedly`, proc.stderrTail());
      this.apply(entry, { type: "exited", code: exit.code, signal: exit.signal, asked: false, now: exit.at });
    })();
  }

  /**
   * Ends a run on the runtime's initiative: cancels a start in progress, closes the connection and
   * stdin, ends the group (SIGTERM, grace, SIGKILL), and feeds the machine once the group is gone.
   */
  private endRun(entry: Entry, run: Run, reason: EndReason): Promise<void> {
    if (run.ending !== null) return run.ending;
    run.endReason = reason;
    run.ending = (async () => {
      run.abort.abort();
      await run.opened;
      const grace = this.options.stopGraceMs;
      let exit: ExitInfo | null = null;
      if (run.proc !== null) {
        this.log(entry, "info", `sending SIGTERM to process group ${run.proc.pgid}`);
        exit = run.connection !== null ? await run.connection.close(grace) : await run.proc.kill(grace);
        if (run.proc.killForced()) this.log(entry, "warn", `process group ${run.proc.pgid} outlived SIGTERM; sent SIGKILL`);
        await waitAtMost(run.proc.stderrClosed, 1000);
        this.groupGone(entry, run.proc);
      }
      if (entry.run === run) entry.run = null;
      entry.pid = null;
      if (exit !== null) {
        entry.returnCode = exit.returnCode;
        entry.stoppedAt = exit.at;
        this.log(entry, "info", `stopped (the process ${describeExit(exit)})`);
      } else {
        entry.stoppedAt = Date.now();
        this.log(entry, "info", "stopped before a process was spawned");
      }
      const now = Date.now();
      // A stop asked meanwhile (status stopping) wins over the reason the run was ended for.
      if (reason === "stop" || entry.machine.status === "stopping") {
        this.apply(entry, { type: "exited", code: exit?.code ?? null, signal: exit?.signal ?? null, asked: true, now });
      } else if (reason === "health") {
        this.apply(entry, { type: "health_failed", now });
      } else {
        entry.machine = { ...entry.machine, status: "stopped", runningSince: null };
        entry.startedAt = null;
        entry.toolCount = null;
        this.stopHealth(entry);
        this.emitState(entry);
      }
    })();
    return run.ending;
  }

  // ---------------------------------------------------------------------------------------------
  // Health

  private startHealth(entry: Entry): void {
    if (this.healthIntervalMs <= 0 || entry.healthTimer !== null) return;
    const token = {};
    entry.healthToken = token;
    const schedule = () => {
      entry.healthTimer = setTimeout(() => {
        void this.ping(entry.id, "scheduler").finally(() => {
          // The next check only for the same running period (not one started after a stop and start).
          if (entry.healthToken === token && entry.machine.status === "running") schedule();
        });
      }, this.healthIntervalMs);
      entry.healthTimer.unref();
    };
    schedule();
  }

  private stopHealth(entry: Entry): void {
    if (entry.healthTimer !== null) clearTimeout(entry.healthTimer);
    entry.healthTimer = null;
    entry.healthToken = null;
  }

  /** Counts consecutive `error` checks of the running process; the third ends its group (§20). */
  private countHealth(entry: Entry, check: HealthCheck, connection: McpConnection | null): void {
    const run = entry.run;
    // Only checks of the process that is running now count.
    if (connection === null || run === null || run.connection !== connection || entry.machine.status !== "running") return;
    if (check.status !== "error") {
      entry.healthFailures = 0;
      return;
    }
    entry.healthFailures++;
    if (entry.healthFailures >= HEALTH_FAILURES_TO_RESTART && run.endReason === null) {
      entry.lastError = withTail(
        `${HEALTH_FAILURES_TO_RESTART} health checks failed in a row (last: ${check.message})`,
        run.proc?.stderrTail() ?? "",
      );
      this.log(entry, "error", `${HEALTH_FAILURES_TO_RESTART} health checks failed in a row; ending process group ${run.proc?.pgid}`);
      void this.endRun(entry, run, "health");
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  private liveConnection(serverId: string): McpConnection {
    const entry = this.entries.get(serverId);
    const connection = entry?.run?.connection ?? null;
    if (entry === undefined || entry.machine.status !== "running" || connection === null || connection.closed) {
      throw conflict(`Server '${serverId}' is not running`);
    }
    return connection;
  }

  private groupGone(entry: Entry, proc: ServerProcess): void {
    if (this.reportedGone.has(proc)) return;
    this.reportedGone.add(proc);
    this.safely(() => this.hooks.onGroup?.(entry.id, { type: "gone", pgid: proc.pgid }));
  }

  private track(p: Promise<void>): void {
    const tracked = p.catch(() => undefined).finally(() => this.cleanups.delete(tracked));
    this.cleanups.add(tracked);
  }

  private clearTimers(entry: Entry): void {
    if (entry.backoffTimer !== null) clearTimeout(entry.backoffTimer);
    entry.backoffTimer = null;
    this.stopHealth(entry);
  }

  private waitFor(entry: Entry, done: (s: ProcessSnapshot) => boolean): Promise<void> {
    if (done(this.snapshot(entry))) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const check = () => {
        if (done(this.snapshot(entry))) {
          entry.waiters.delete(check);
          resolve();
        }
      };
      entry.waiters.add(check);
    });
  }

  private snapshot(entry: Entry): ProcessSnapshot {
    const status = entry.machine.status;
    return {
      server_id: entry.id,
      desired: entry.machine.desired,
      status,
      command: entry.command,
      pid: entry.pid,
      node_id: this.options.nodeId,
      started_at: status === "running" ? entry.startedAt : null,
      stopped_at: entry.stoppedAt,
      return_code: entry.returnCode,
      last_error: entry.lastError,
      restarts: entry.machine.restarts,
      server_info: entry.serverInfo,
      tool_count: status === "running" ? entry.toolCount : null,
    };
  }

  private emitState(entry: Entry): void {
    const snapshot = this.snapshot(entry);
    this.safely(() => this.hooks.onState?.(snapshot));
    for (const waiter of [...entry.waiters]) waiter();
  }

  /** A supervisor line: one line (line breaks folded, §19), the secret masked. */
  private log(entry: Entry, level: LogLine["level"], message: string): void {
    this.emitLog(entry, level, "supervisor", oneLine(maskSecret(message, entry.secret)));
  }

  private emitLog(entry: Entry, level: LogLine["level"], source: LogLine["source"], message: string): void {
    const line: LogLine = {
      timestamp: Date.now(),
      level,
      source,
      message: message.length > MAX_LINE_CHARS ? message.slice(0, MAX_LINE_CHARS) : message,
    };
    this.safely(() => this.hooks.onLog?.(entry.id, line));
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch {
      // A hook's failure must not break the supervision.
    }
  }
}
