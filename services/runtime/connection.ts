/**
 * An MCP client connection to a server process the runtime spawned (runtime-contract §18.2 start,
 * §20 ping, §21 tools): the SDK's `Client` over ChildStdioTransport. Opening spawns the process and
 * completes `initialize` within `startup_timeout_s`; a failure kills the group and says why with the
 * stderr tail. Tools are listed across every page, cached, and listed again on
 * `notifications/tools/list_changed`. A tool call has a timeout (the SDK then sends
 * `notifications/cancelled`) and tells a timeout (504) from a death during the call (502).
 */
import { performance } from "node:perf_hooks";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  CallToolResult,
  CallToolResultSchema,
  ErrorCode,
  ListToolsResultSchema,
  McpError,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { VERSION } from "../../lib/config";
import { ContractError } from "../../lib/errors";
import { MAX_RUN_COST_USD, MAX_RUN_INTEGER } from "../telemetry/store/run";
import type { Launch } from "./command";
import { ExitInfo, ServerProcess, SpawnError, spawnServer } from "./spawn";
import { maskSecret, StderrLine, TAIL_CHARS } from "./stderr-lines";
import { ChildStdioTransport } from "./stdio-transport";
import { waitAtMost } from "./wait";

/** §20: a ping not answered within 5 s is an `error` check. */
export const PING_TIMEOUT_MS = 5000;
/** Bound of one tools/list page request after the start. */
export const LIST_TIMEOUT_MS = 30_000;
/** A server listing more pages than this is answered with an error (a cursor loop). */
const MAX_TOOL_PAGES = 1000;
/** How long a closed connection waits for the process's exit to be seen, to say how it ended. */
const EXIT_GRACE_MS = 500;
/** How long a failed start waits for the last stderr lines once the group is gone. */
const STDERR_DRAIN_MS = 1000;

/** §18.1 `server_info`, from the `initialize` answer. */
export interface ServerInfo {
  name: string;
  version: string;
  protocol_version: string;
}

/** One tool as §21 shows it. */
export interface ToolInfo {
  name: string;
  title: string | null;
  description: string | null;
  input_schema: Record<string, unknown>;
  output_schema: Record<string, unknown> | null;
  annotations: Record<string, unknown> | null;
}

/** The complete tool list of a process (§21) and when it was fetched (epoch ms). */
export interface ToolList {
  tools: ToolInfo[];
  fetched_at: number;
}

/** A ping's outcome (§20 HealthCheck without checked_at/actor/plan_id). */
export interface PingResult {
  status: "healthy" | "degraded" | "error";
  latency_ms: number | null;
  message: string | null;
}

/** Telemetry counts a result reports in `_meta.usage` (§21); 0 / null when absent or malformed. */
export interface ToolUsage {
  tokens_in: number;
  tokens_out: number;
  cost_usd: number | null;
}

export interface ToolCallOutcome {
  /** The MCP CallToolResult as returned (content[], structuredContent?, isError?, _meta?). */
  result: CallToolResult;
  /** Measured by the runtime, ms. */
  duration_ms: number;
  usage: ToolUsage;
}

/**
 * A start that did not reach `running` (§18.2). The message is `last_error`: the reason, then
 * `; last stderr lines:` and the stderr tail on the lines after (when there is a tail).
 */
export class StartError extends Error {
  constructor(
    /** Why the start failed, in one sentence (secret masked); the message without the tail. */
    readonly reason: string,
    /** The masked stderr tail (≤ 2,000 characters), "" when none. */
    readonly stderrTail: string,
    /** The process's exit when it ended by itself during the start; null otherwise. */
    readonly exit: ExitInfo | null,
    /** True when the start was abandoned on request (a stop during `starting`). */
    readonly aborted: boolean = false,
  ) {
    super(withTail(reason, stderrTail.slice(-TAIL_CHARS)));
    this.name = "StartError";
  }
}

/** §21 504: the call outlived its timeout; the request was cancelled, the server is still usable. */
export class ToolTimeoutError extends ContractError {
  constructor(
    tool: string,
    timeoutMs: number,
    readonly durationMs: number,
  ) {
    super(504, `Tool '${tool}' timed out after ${timeoutMs} ms`);
    this.name = "ToolTimeoutError";
  }
}

/** §21 502: the process died (or closed stdout) while the call was pending, or before it was sent. */
export class ConnectionClosedError extends ContractError {
  constructor(
    serverId: string,
    readonly durationMs: number,
  ) {
    super(502, `Server '${serverId}' closed the connection during the call`);
    this.name = "ConnectionClosedError";
  }
}

/** The server answered tools/call with a JSON-RPC error, or with something that is not a CallToolResult. */
export class ToolCallError extends ContractError {
  constructor(
    serverId: string,
    tool: string,
    readonly rpcCode: number | null,
    detail: string,
    readonly durationMs: number,
  ) {
    super(502, `Server '${serverId}' answered the call of '${tool}' with an error: ${detail}`);
    this.name = "ToolCallError";
  }
}

export interface OpenOptions {
  /** The server's id, for messages. */
  serverId: string;
  /** §17.2 `startup_timeout_s` in ms: spawn + `initialize` (+ the first tools/list) must fit in it. */
  startupTimeoutMs: number;
  /** The secret, masked in stderr lines and in the error message (§24). */
  secret?: string | null;
  /** Every stderr line (masked, cut), from the first. */
  onStderrLine?: (line: StderrLine) => void;
  /** Called once the process runs, before the handshake (for the `spawned with pid` line and the hygiene record). */
  onSpawn?: (proc: ServerProcess) => void;
  /** After a list_changed notification, with the new complete list (or the error of listing it). */
  onToolsChanged?: (list: ToolList | null, error: Error | null) => void;
  /** Protocol problems the connection survives (a stdout line that is not JSON-RPC…); never message content. */
  onProtocolError?: (error: Error) => void;
  /** Abandons the start: the group is killed and open() rejects with an aborted StartError. */
  signal?: AbortSignal;
  /** SIGTERM → SIGKILL grace when a failed or abandoned start ends the group (default 5 s). */
  stopGraceMs?: number;
}

function toolInfo(tool: Record<string, unknown>): ToolInfo {
  const annotations = (tool.annotations as Record<string, unknown> | undefined) ?? null;
  const title = typeof tool.title === "string" ? tool.title : typeof annotations?.title === "string" ? annotations.title : null;
  return {
    name: String(tool.name),
    title,
    description: typeof tool.description === "string" ? tool.description : null,
    input_schema: (tool.inputSchema as Record<string, unknown> | undefined) ?? { type: "object" },
    output_schema: (tool.outputSchema as Record<string, unknown> | undefined) ?? null,
    annotations,
  };
}

/** A number in 0..max, else null (negative, not finite, past what a run can hold, not a number). */
function inRange(value: unknown, max: number): number | null {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 && value <= max ? value : null;
}

/**
 * §21 telemetry counts from `result._meta.usage.{input_tokens, output_tokens, cost_usd}`. A value
 * the server reports outside what a run holds (tokens past 2^53 − 1 once rounded, a cost past
 * 10^6 USD: services/telemetry/store/run.ts) is malformed like a negative one: 0 tokens, null cost,
 * so the call's run is always stored and the call answered with its result.
 */
export function usageOf(result: { _meta?: unknown }): ToolUsage {
  const meta = result._meta;
  const usage = meta && typeof meta === "object" ? (meta as Record<string, unknown>).usage : undefined;
  if (!usage || typeof usage !== "object") return { tokens_in: 0, tokens_out: 0, cost_usd: null };
  const u = usage as Record<string, unknown>;
  const count = (value: unknown): number => inRange(Math.round(inRange(value, Number.POSITIVE_INFINITY) ?? 0), MAX_RUN_INTEGER) ?? 0;
  return {
    tokens_in: count(u.input_tokens),
    tokens_out: count(u.output_tokens),
    cost_usd: inRange(u.cost_usd, MAX_RUN_COST_USD),
  };
}

/**
 * A protocol error as a log line: the SDK's messages embed the offending JSON-RPC message, which is
 * stdout content (never logged, §19): everything from the first `{` or `[` is cut, 200 characters at
 * most, the secret masked.
 */
export function protocolErrorSummary(error: Error, secret?: string | null): string {
  let text = error.message;
  const json = text.search(/[[{]/);
  if (json >= 0) text = text.slice(0, json).replace(/[:\s]+$/, "");
  if (secret) text = maskSecret(text, secret);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function isCode(err: unknown, code: ErrorCode): boolean {
  return err instanceof McpError && err.code === code;
}

function isClosed(err: unknown): boolean {
  return isCode(err, ErrorCode.ConnectionClosed) || (err instanceof Error && err.message === "Not connected");
}

/** Error codes of a write to a pipe whose reader is gone (the process ended or closed its stdin). */
const PIPE_ERROR_CODES: ReadonlySet<string> = new Set(["EPIPE", "ECONNRESET", "ERR_STREAM_DESTROYED", "ERR_STREAM_WRITE_AFTER_END"]);

function isPipeError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" && PIPE_ERROR_CODES.has(code);
}

function describeExit(exit: ExitInfo): string {
  return exit.signal !== null ? `was killed by signal ${exit.signal}` : `exited with code ${exit.code}`;
}

function seconds(ms: number): string {
  return Number.isInteger(ms / 1000) ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

function withTail(message: string, tail: string): string {
  return tail === "" ? message : `${message}; last stderr lines:\n${tail}`;
}

/** A live MCP connection to one server process. Created by McpConnection.open. */
export class McpConnection {
  private toolList: ToolList | null = null;
  private refreshing: Promise<ToolList> | null = null;
  private refreshAgain = false;
  private isClosed = false;
  private closing: Promise<ExitInfo> | null = null;

  private constructor(
    private readonly serverId: string,
    private readonly client: Client,
    readonly process: ServerProcess,
    readonly serverInfo: ServerInfo,
    /** Spawn to `initialize` answered, ms. */
    readonly handshakeMs: number,
    private readonly onToolsChanged: OpenOptions["onToolsChanged"],
    private readonly secret: string | null,
  ) {}

  /**
   * Spawns `launch` and completes the MCP handshake, then lists the tools, all within
   * `startupTimeoutMs`. Rejects with StartError — after the process group is gone — when the program
   * cannot start, the process ends, the handshake fails or takes too long, or `signal` aborts; its
   * message names the cause and ends with the masked stderr tail (≤ 2,000 characters).
   * A tools/list failure does not fail the start (the list stays empty until a list_changed).
   */
  static async open(launch: Launch, options: OpenOptions): Promise<McpConnection> {
    const t0 = performance.now();
    const aborted = () => new StartError("The start was cancelled", "", null, true);
    if (options.signal?.aborted) throw aborted();
    let proc: ServerProcess;
    try {
      proc = await spawnServer(launch, { secret: options.secret, onStderrLine: options.onStderrLine });
    } catch (err) {
      if (err instanceof SpawnError) throw new StartError(err.message, "", null);
      throw err;
    }
    options.onSpawn?.(proc);

    const transport = new ChildStdioTransport(proc.stdin, proc.stdout);
    const client = new Client({ name: "console-mcp", version: VERSION }, { capabilities: {} });
    client.onerror = (error) => options.onProtocolError?.(new Error(protocolErrorSummary(error, options.secret)));
    let connection: McpConnection | null = null;
    // stdout closed, or the leader ended (below): nothing more can be said on this connection.
    client.onclose = () => {
      if (connection !== null) connection.isClosed = true;
    };
    // The leader's end closes the connection at once, even when a grandchild still holds stdout.
    void proc.exited.then(() => transport.close());
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      connection?.refreshToolsInBackground();
    });

    const onAbort = () => void proc.kill(options.stopGraceMs);
    options.signal?.addEventListener("abort", onAbort, { once: true });
    // Aborted while the spawn was under way: the listener above will not fire.
    if (options.signal?.aborted) onAbort();
    const remaining = () => Math.max(1, Math.round(options.startupTimeoutMs - (performance.now() - t0)));
    try {
      await client.connect(transport, { timeout: remaining() });
      const handshakeMs = Math.round(performance.now() - t0);
      const version = client.getServerVersion();
      const info: ServerInfo = {
        name: version?.name ?? "",
        version: version?.version ?? "",
        protocol_version: transport.negotiatedProtocolVersion ?? "",
      };
      connection = new McpConnection(options.serverId, client, proc, info, handshakeMs, options.onToolsChanged, options.secret ?? null);
      if (proc.exitInfo() !== null) connection.isClosed = true;
      if (client.getServerCapabilities()?.tools) {
        try {
          await connection.refreshTools(remaining());
        } catch (err) {
          if (options.signal?.aborted || proc.exitInfo() !== null) throw err;
          options.onProtocolError?.(new Error(protocolErrorSummary(new Error(`tools/list failed: ${(err as Error).message}`), options.secret)));
        }
      } else {
        connection.toolList = { tools: [], fetched_at: Date.now() };
      }
      if (options.signal?.aborted) throw aborted();
      if (proc.exitInfo() !== null) throw new Error("Connection closed");
      return connection;
    } catch (err) {
      // stdout may close, or a write to stdin fail (EPIPE), a moment before the exit is seen: give
      // the exit that moment, so a process that ended is reported by its code, whichever came first.
      if ((isClosed(err) || isPipeError(err)) && proc.exitInfo() === null && !options.signal?.aborted) {
        await waitAtMost(proc.exited, EXIT_GRACE_MS);
      }
      const exitedByItself = options.signal?.aborted ? null : proc.exitInfo();
      await client.close().catch(() => undefined);
      await proc.kill(options.stopGraceMs);
      await waitAtMost(proc.stderrClosed, STDERR_DRAIN_MS);
      const tail = proc.stderrTail();
      if (options.signal?.aborted) throw new StartError("The start was cancelled", tail, exitedByItself, true);
      let message: string;
      if (exitedByItself !== null) message = `The process ${describeExit(exitedByItself)} before the MCP handshake finished`;
      else if (isCode(err, ErrorCode.RequestTimeout)) message = `The MCP handshake did not finish within ${seconds(options.startupTimeoutMs)}`;
      else message = `The MCP handshake failed: ${(err as Error).message}`;
      const secret = options.secret;
      if (secret) message = maskSecret(message, secret);
      throw new StartError(message, tail, exitedByItself);
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
    }
  }

  /** True once the connection is closed (process ended or close() called). */
  get closed(): boolean {
    return this.isClosed || this.process.exitInfo() !== null;
  }

  /** The cached complete tool list; null before the first successful listing. */
  get tools(): ToolList | null {
    return this.toolList;
  }

  /**
   * Lists every page of tools/list (following nextCursor), caches and returns the list. Concurrent
   * calls share one listing; a call during a listing lists again after it. Rejects when the server
   * answers with an error, a page takes longer than `timeoutMs`, or the cursors loop.
   */
  refreshTools(timeoutMs: number = LIST_TIMEOUT_MS): Promise<ToolList> {
    if (this.refreshing !== null) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    const run = async (): Promise<ToolList> => {
      let list: ToolList;
      do {
        this.refreshAgain = false;
        list = await this.listAllPages(timeoutMs);
        this.toolList = list;
      } while (this.refreshAgain);
      return list;
    };
    this.refreshing = run().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private refreshToolsInBackground(): void {
    this.refreshTools().then(
      (list) => this.onToolsChanged?.(list, null),
      (err: Error) => {
        if (!this.closed) this.onToolsChanged?.(null, err);
      },
    );
  }

  private async listAllPages(timeoutMs: number): Promise<ToolList> {
    const tools: ToolInfo[] = [];
    const seen = new Set<string>();
    let cursor: string | undefined;
    for (let page = 0; page < MAX_TOOL_PAGES; page++) {
      const result = await this.client.request({ method: "tools/list", params: cursor === undefined ? {} : { cursor } }, ListToolsResultSchema, {
        timeout: timeoutMs,
      });
      for (const tool of result.tools) tools.push(toolInfo(tool as unknown as Record<string, unknown>));
      const next = result.nextCursor;
      if (next === undefined || next === null) return { tools, fetched_at: Date.now() };
      if (seen.has(next)) throw new Error(`tools/list repeated the cursor ${JSON.stringify(next)}`);
      seen.add(next);
      cursor = next;
    }
    throw new Error(`tools/list did not end within ${MAX_TOOL_PAGES} pages`);
  }

  /**
   * MCP `ping` (§20): `healthy` when answered within `degradedMs`, `degraded` when slower, `error`
   * when not answered within `timeoutMs` (5 s) or the connection is closed. `latency_ms` is the
   * measured round trip (null for an error).
   */
  async ping(degradedMs: number, timeoutMs: number = PING_TIMEOUT_MS): Promise<PingResult> {
    if (this.closed) return { status: "error", latency_ms: null, message: "connection closed" };
    const t0 = performance.now();
    try {
      await this.client.ping({ timeout: timeoutMs });
    } catch (err) {
      if (isCode(err, ErrorCode.RequestTimeout)) return { status: "error", latency_ms: null, message: `no answer within ${timeoutMs} ms` };
      if (isClosed(err)) return { status: "error", latency_ms: null, message: "connection closed" };
      return { status: "error", latency_ms: null, message: `ping failed: ${(err as Error).message}` };
    }
    const latency = Math.round(performance.now() - t0);
    if (latency <= degradedMs) return { status: "healthy", latency_ms: latency, message: null };
    return { status: "degraded", latency_ms: latency, message: `answered in ${latency} ms (slower than ${degradedMs} ms)` };
  }

  /**
   * Calls tool `name` with `args` (§21). Resolves with the CallToolResult as returned (an `isError`
   * result included) and the measured duration. Rejects with ToolTimeoutError (504) after `timeoutMs`
   * — the SDK sends `notifications/cancelled` and the connection stays usable —, ConnectionClosedError
   * (502) when the process ends during the call, ToolCallError (502) for a JSON-RPC error answer, or
   * the abort reason when `signal` aborts (the request is cancelled the same way).
   */
  async callTool(name: string, args: Record<string, unknown>, timeoutMs: number, signal?: AbortSignal): Promise<ToolCallOutcome> {
    const t0 = performance.now();
    const elapsed = () => Math.round(performance.now() - t0);
    if (this.closed) throw new ConnectionClosedError(this.serverId, 0);
    try {
      const result = await this.client.request({ method: "tools/call", params: { name, arguments: args } }, CallToolResultSchema, {
        timeout: timeoutMs,
        signal,
      });
      return { result, duration_ms: elapsed(), usage: usageOf(result) };
    } catch (err) {
      if (signal?.aborted) throw err;
      if (isCode(err, ErrorCode.RequestTimeout)) throw new ToolTimeoutError(name, timeoutMs, elapsed());
      if (isClosed(err) || this.closed) throw new ConnectionClosedError(this.serverId, elapsed());
      // The server's words go into an error body: cut, and never with the secret (§24).
      const detail = (text: string) => protocolErrorSummary(new Error(text), this.secret);
      if (err instanceof McpError) throw new ToolCallError(this.serverId, name, err.code, detail(err.message), elapsed());
      const why = detail((err as Error).message);
      throw new ToolCallError(this.serverId, name, null, why === "" ? "invalid result" : `invalid result (${why})`, elapsed());
    }
  }

  /**
   * Closes the MCP connection and stdin, then ends the process group (SIGTERM, `graceMs` — 5 s —,
   * SIGKILL). Resolves with the leader's exit once the group is gone. Idempotent.
   */
  close(graceMs?: number): Promise<ExitInfo> {
    if (this.closing === null) {
      this.isClosed = true;
      this.closing = (async () => {
        await this.client.close().catch(() => undefined);
        return this.process.kill(graceMs);
      })();
    }
    return this.closing;
  }
}
