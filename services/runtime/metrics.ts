/**
 * The runtime's metric families on its node (runtime-contract §27), read from what the supervisor
 * already reports — its state snapshots and its list — and from the tool call handler:
 *
 * - `console_mcp_processes{status}`: the servers this node's supervisor holds, by state (the six
 *   states of §18.2, each present, 0 included), read at collection time;
 * - `console_mcp_process_starts_total{server, result}`: start attempts (manual, automatic, takeover)
 *   that reached `running` (`result="running"`) or failed (`"failed"`: `error` or `backoff`);
 * - `console_mcp_process_restarts_total{server}`: automatic restarts (§18.3, §18.4: the `restarts`
 *   count of the state rising);
 * - `console_mcp_tool_calls_total{server, tool, status}` and
 *   `console_mcp_tool_call_duration_seconds{server, tool}`: the calls sent to a server (each is a
 *   telemetry run, §21), by the run's status (`success`, `tool_error`, `timeout`, `error`).
 *
 * `server` values are catalog ids (the supervisor starts only servers the catalog resolves) and the
 * series of a server deleted from the catalog are dropped; `tool` is a name the server listed (a
 * call is sent only after its tool was found in the list), else `other`; and since a server may
 * list any number of tools, at most MAX_TOOL_LABELS names per server, each at most
 * MAX_TOOL_LABEL_LENGTH long, are labels: the calls of any other tool are `other`.
 */
import { CounterFamily, HistogramFamily, TOOL_SECONDS_BUCKETS } from "../../lib/metrics/families";
import type { NodeMetrics } from "../../lib/metrics/node-metrics";
import { PROCESS_STATUSES, type ProcessStatus } from "./state-machine";
import type { ProcessSnapshot } from "./supervisor";
import type { ToolRunStatus } from "./views";

/** The `tool` label of a call whose tool was not (yet) found in the server's list, or past the caps below. */
export const OTHER_TOOL = "other";
/**
 * At most this many distinct `tool` labels per server: a server may list as many tools as it likes
 * (one that adds tools at run time could add thousands of series), so the calls of any tool past
 * the first MAX_TOOL_LABELS are labelled `other`.
 */
export const MAX_TOOL_LABELS = 64;
/** A tool name longer than this (in UTF-16 units) is labelled `other`: a label is not a place for a 12 KB name. */
export const MAX_TOOL_LABEL_LENGTH = 128;

export class RuntimeMetrics {
  private readonly starts: CounterFamily;
  private readonly restarts: CounterFamily;
  private readonly toolCalls: CounterFamily;
  private readonly toolSeconds: HistogramFamily;
  /** Per server: the `tool` label values its calls have used so far (at most MAX_TOOL_LABELS). */
  private readonly toolLabels = new Map<string, Set<string>>();
  /** Per server: the status and restart count of its last snapshot. */
  private readonly last = new Map<string, { status: ProcessStatus; restarts: number }>();

  /** `list`: the supervisor's snapshots now (the gauge of processes by state reads it). */
  constructor(metrics: NodeMetrics, list: () => readonly Pick<ProcessSnapshot, "status">[]) {
    metrics.gauge("console_mcp_processes", "MCP server processes this node's runtime holds, by state", ["status"], () => {
      const counts = new Map<ProcessStatus, number>(PROCESS_STATUSES.map((s) => [s, 0]));
      for (const p of list()) counts.set(p.status, (counts.get(p.status) ?? 0) + 1);
      return [...counts].map(([status, n]) => [[status], n] as const);
    });
    this.starts = metrics.counter(
      "console_mcp_process_starts_total",
      "Process start attempts on this node that reached running or failed, by server",
      ["server", "result"],
    );
    this.restarts = metrics.counter(
      "console_mcp_process_restarts_total",
      "Automatic process restarts on this node (restart policy, takeovers), by server",
      ["server"],
    );
    this.toolCalls = metrics.counter(
      "console_mcp_tool_calls_total",
      "Tool calls sent by this node (each a telemetry run), by server, tool and run status",
      ["server", "tool", "status"],
    );
    this.toolSeconds = metrics.histogram(
      "console_mcp_tool_call_duration_seconds",
      "Duration of the tool calls this node sent, as the runtime measured it, by server and tool",
      ["server", "tool"],
      TOOL_SECONDS_BUCKETS,
    );
  }

  /** Every snapshot the supervisor reports (its onState hook): counts starts and restarts. */
  observeState(snapshot: Pick<ProcessSnapshot, "server_id" | "status" | "restarts">): void {
    const id = snapshot.server_id;
    const before = this.last.get(id) ?? { status: "stopped" as ProcessStatus, restarts: 0 };
    this.last.set(id, { status: snapshot.status, restarts: snapshot.restarts });
    if (snapshot.restarts > before.restarts) this.restarts.inc([id], snapshot.restarts - before.restarts);
    if (before.status !== "starting" || snapshot.status === "starting") return;
    if (snapshot.status === "running") this.starts.inc([id, "running"]);
    else if (snapshot.status === "error" || snapshot.status === "backoff") this.starts.inc([id, "failed"]);
  }

  /**
   * A tool call sent to a server (a run, §21): `tool` as the server listed it (OTHER_TOOL when the
   * call failed before its tool was found), the run's status and its duration in milliseconds.
   */
  toolCall(serverId: string, tool: string, status: ToolRunStatus, durationMs: number): void {
    const label = this.toolLabel(serverId, tool);
    this.toolCalls.inc([serverId, label, status]);
    this.toolSeconds.observe([serverId, label], durationMs / 1000);
  }

  /** The `tool` label of a call: the tool's name while the server's labels stay within their caps, else OTHER_TOOL. */
  private toolLabel(serverId: string, tool: string): string {
    if (tool.length > MAX_TOOL_LABEL_LENGTH) return OTHER_TOOL;
    let labels = this.toolLabels.get(serverId);
    if (labels === undefined) {
      labels = new Set();
      this.toolLabels.set(serverId, labels);
    }
    if (labels.has(tool)) return tool;
    if (labels.size >= MAX_TOOL_LABELS) return OTHER_TOOL;
    labels.add(tool);
    return tool;
  }

  /** A server deleted from the catalog: its series go (its label value is no catalog id any more). */
  forgetServer(serverId: string): void {
    this.last.delete(serverId);
    this.toolLabels.delete(serverId);
    for (const family of [this.starts, this.restarts, this.toolCalls, this.toolSeconds]) family.drop("server", serverId);
  }
}
