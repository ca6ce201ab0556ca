/**
 * The `runtime` service (runtime-contract §18–§21): this replica's MCP server processes.
 *
 * - Each process has one owner replica, recorded as a lease in the store (services/runtime/store.ts)
 *   and claimed by compare-and-set, so two concurrent starts of one server start one process. The
 *   public actions (the gateway's) run on any replica and send process work to the owner with a
 *   node-targeted call of the matching `local*` action; reads come from the store.
 * - Desired state is reconciled (§18.4): every few seconds, at start, and when a node leaves, each
 *   replica claims the servers `desired: running` that have no live owner and starts them — one rule
 *   for a dead replica, a graceful stop, a rolling restart and a cold start. The start reaps the
 *   leftovers of an earlier run and runs the first reconciliation before the service is up
 *   (`runtime.ready`, the gateway's readiness check on the same node).
 * - The processes themselves are the supervisor's (services/runtime/supervisor.ts: spawn in an own
 *   process group, MCP over stdio, restart policy, health). Its hooks write state, log lines, health
 *   checks and process-group records to the store, per server in order, and broadcast
 *   `runtime.process.changed`, `runtime.health.checked` and `runtime.log.appended`.
 * - Every tool call becomes a telemetry run through `telemetry.ingest` before its answer (§21).
 */
import type { Context as MoleculerContext, ServiceBroker, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { PROJECT_ROOT, type Config } from "../lib/config";
import { conflict, ContractError, isContractError } from "../lib/errors";
import { RequestRef, requestFields } from "../lib/logging/request-context";
import { nodeMetrics } from "../lib/metrics/node-metrics";
import { SecretDecryptError } from "../lib/secrets/cipher";
import { SecretVault } from "../lib/secrets/store";
import { StoreMixin, type StoreVars } from "../lib/store/mixin";
import { type AuditEntry, auditOf } from "../lib/store/audit";
import { formatInstant } from "../lib/time";
import { ConnectionClosedError, ToolTimeoutError } from "./runtime/connection";
import { LogAppender, LogBacklogFull } from "./runtime/log-appender";
import { OTHER_TOOL, RuntimeMetrics } from "./runtime/metrics";
import { hostName, reapLeftovers } from "./runtime/process-group";
import { testServerSecret } from "./runtime/secret-test";
import * as store from "./runtime/store";
import { type HealthCheck, type LogLine, type ProcessSnapshot, type ServerSpec, Supervisor } from "./runtime/supervisor";
import { NOTIFICATIONS_MAX, NOTIFICATIONS_WINDOW_MS, notificationOf } from "./runtime/notifications";
import {
  parseHealthLimit,
  parseLogsQuery,
  parseToolCallBody,
  parseWait,
  processEvent,
  processState,
  type ProcessState,
  toolRun,
  type ToolRunStatus,
} from "./runtime/views";

/** How long a lease lasts without renewal; renewed every third of it. */
export const LEASE_TTL_MS = 15_000;
/** Seconds between reconciliations (also run at start and when a node leaves). */
export const RECONCILE_INTERVAL_MS = 5_000;

/** The catalog record the runtime reads (`providers.server`, §17.3); only what it uses. */
interface CatalogServer extends ServerSpec {
  autostart: boolean;
}

interface ServerIdParams {
  id?: unknown;
}

interface RuntimeVars extends StoreVars {
  supervisor: Supervisor;
  /** This node's runtime families for GET /metrics (§27): processes by state, starts, restarts, tool calls. */
  runtimeMetrics: RuntimeMetrics;
  nodeId: string;
  host: string;
  /** Per server: the chain of its pending store writes, so they land in order. */
  writes: Map<string, Promise<void>>;
  /** Per server: its log lines' group commit, and the promise of the newest line handed to it. */
  logAppenders: Map<string, LogAppender>;
  lastLogLine: Map<string, Promise<void>>;
  /** The lease generation this replica holds, per server it owns. */
  leases: Map<string, number>;
  /**
   * Per server this replica owns: until when (epoch ms) its lease is known held without reading the
   * store — the expiry its last claim or renewal wrote, less one reconcile interval of margin.
   */
  leaseFreshUntil: Map<string, number>;
  /**
   * Per server: the tail of its chain of control sections (start, stop, restart, forget, a
   * reconciliation's takeover), so that on this replica each one's store writes (`desired`, the
   * lease) and supervisor operation happen together, never interleaved with another's.
   */
  control: Map<string, Promise<unknown>>;
  timers: NodeJS.Timeout[];
  reconciling: Promise<void> | null;
  /** The start is complete: leftovers of an earlier run reaped, the first reconciliation run. */
  startedUp: boolean;
  stopping: boolean;
  /** Opens the servers' secrets (§24) with this replica's store key. */
  vault: SecretVault;
}

type This = RuntimeVars & RuntimeMethods & { broker: ServiceBroker; logger: ServiceBroker["logger"] };
/** Action contexts: params, and the meta the gateway reads back ($statusCode). */
type Context<P = unknown> = MoleculerContext<P, Record<string, unknown>>;

interface RuntimeMethods {
  catalogServer(ctx: Context | null, id: unknown): Promise<CatalogServer>;
  queueWrite(serverId: string, write: () => Promise<unknown>): void;
  flush(serverId: string): Promise<void>;
  stateOf(serverId: string, neverStartedDesired?: "running" | "stopped"): Promise<ProcessState>;
  liveOwner(serverId: string): Promise<string | null>;
  isAlive(nodeId: string): boolean;
  deadNodes(): Promise<string[]>;
  claim(serverId: string): Promise<{ claimed: boolean; owner: string | null }>;
  release(serverId: string): Promise<void>;
  reconcile(): Promise<void>;
  reconcileOnce(): Promise<void>;
  onSnapshot(snapshot: ProcessSnapshot): void;
  exclusive<T>(serverId: string, section: () => Promise<T>): Promise<T>;
  ownerOrClaim(serverId: string): Promise<string>;
  beginStart(serverId: string, kind: "start" | "restart", audit: RequestAudit): Promise<void>;
  startOnOwner(ctx: Context<ServerIdParams & { wait?: unknown }>, kind: "start" | "restart"): Promise<unknown>;
  answerStart(ctx: Context, serverId: string, wait: boolean): Promise<{ process: ProcessState }>;
  stopHere(serverId: string, audit: RequestAudit): Promise<{ process: ProcessState }>;
  forgetHere(serverId: string): Promise<{ stopped: boolean }>;
  announceProcess(serverId: string, request?: RequestRef): Promise<void>;
  secretOf(serverId: string): Promise<string | null>;
}

/** §20: a manual ping's `actor` is the API key's name; null in open mode (an anonymous request). */
function pingActor(entry: AuditEntry | null): string | null {
  return entry === null || entry.role === null ? null : entry.actor;
}

/** A request's audit entry (§25.2) to store with its change, and the step that reports it stored. */
type RequestAudit = ReturnType<typeof auditOf>;

function notRunning(id: string): ContractError {
  return conflict(`Server '${id}' is not running`);
}

export default function runtimeService(
  config: Pick<Config, "store" | "runtime" | "secrets">,
): ServiceSchema<ServiceSettingSchema, RuntimeMethods, RuntimeVars> {
  const schema: ServiceSchema<ServiceSettingSchema, RuntimeMethods, RuntimeVars> = {
    name: "runtime",
    mixins: [StoreMixin(config.store)],

    actions: {
      /**
       * This replica's readiness, for the gateway's GET /readyz (api-contract §8.2) on the same node:
       * `{status: "ready"}` once its start is complete — the process groups an earlier run of the
       * runtime on this host left behind are reaped and the first reconciliation (§18.4) has run —
       * `"starting"` before, `"stopping"` once its stop has begun.
       */
      ready: {
        visibility: "public",
        handler(this: This) {
          return { status: this.stopping ? "stopping" : this.startedUp ? "ready" : "starting" };
        },
      },

      /** GET /servers/processes (§18.5): `{processes: [ProcessState…]}`, one per catalog server, catalog order. */
      processes: {
        async handler(this: This, ctx: Context) {
          const { servers } = (await ctx.call("providers.servers")) as { servers: CatalogServer[] };
          const views = await store.readProcessViews(
            this.readKnex,
            servers.map((s) => s.id),
          );
          return {
            processes: servers.map((s) => processState(s.id, views.get(s.id), s.autostart ? "running" : "stopped")),
          };
        },
      },

      /** GET /servers/{id}/process (§18.5): `{process: ProcessState}`; 404 unknown server. */
      process: {
        async handler(this: This, ctx: Context<ServerIdParams>) {
          const server = await this.catalogServer(ctx, ctx.params.id);
          return { process: await this.stateOf(server.id, server.autostart ? "running" : "stopped") };
        },
      },

      /**
       * POST /servers/{id}/process/start (§18.5): params `{id, wait?}` (path and query; the gateway
       * checks a body and ignores it). Waits for `running` or `error` and answers `{process}` (200; a failed start is a 200
       * with `status: "error"`), or with `wait=false` at once with `starting` (202). 404 unknown
       * server; 409 already running; 409 process limit reached.
       */
      start: {
        handler(this: This, ctx: Context<ServerIdParams & { wait?: unknown }>) {
          return this.startOnOwner(ctx, "start");
        },
      },

      /**
       * POST /servers/{id}/process/stop (§18.5): params `{id}`. Answers `{process}` once `stopped`
       * (`desired: stopped`); cancels a pending start, backoff or error. 404 unknown; 409 `Server
       * '<id>' is not running` only when already stopped with `desired: stopped`.
       */
      stop: {
        async handler(this: This, ctx: Context<ServerIdParams>) {
          const server = await this.catalogServer(ctx, ctx.params.id);
          const audit = auditOf(ctx.meta);
          const outcome = await this.exclusive(server.id, async (): Promise<{ forward: string } | { process: ProcessState }> => {
            const owner = await this.liveOwner(server.id);
            if (owner === this.nodeId) return this.stopHere(server.id, audit);
            if (owner !== null) {
              // Another node owns it: it stops its process.
              await store.setDesired(this.knex, server.id, "stopped");
              return { forward: owner };
            }
            // No live owner: nothing runs; settle what the store says.
            const before = await store.readState(this.knex, server.id);
            if (before === null || (before.status === "stopped" && before.desired === "stopped")) {
              if (!(before === null && server.autostart)) throw notRunning(server.id);
            }
            await store.setDesired(this.knex, server.id, "stopped", Date.now(), audit.entry);
            audit.committed();
            if (before !== null && before.status !== "stopped") {
              await store.writeState(this.knex, {
                ...before,
                status: "stopped",
                pid: null,
                node_id: null,
                started_at: null,
                stopped_at: before.stopped_at ?? Date.now(),
              });
              await this.announceProcess(server.id, ctx);
            }
            return { process: await this.stateOf(server.id) };
          });
          if ("forward" in outcome) return ctx.call("runtime.localStop", { id: server.id }, { nodeID: outcome.forward, retries: 0 });
          return outcome;
        },
      },

      /**
       * POST /servers/{id}/process/restart (§18.5): params `{id, wait?}`. Stops the process when one
       * runs, then starts it; answers as start. 404; 409 process limit.
       */
      restart: {
        handler(this: This, ctx: Context<ServerIdParams & { wait?: unknown }>) {
          return this.startOnOwner(ctx, "restart");
        },
      },

      /**
       * GET /servers/{id}/process/logs (§19): params `{id, cursor?, limit?}` → `{logs, cursor,
       * truncated}`; in this order (api-contract §6.5): 422 limit outside 1..1000 or a parameter not
       * validly percent-encoded, 400 `Cursor must be an integer`, 404 unknown server.
       */
      logs: {
        async handler(this: This, ctx: Context<ServerIdParams & { cursor?: unknown; limit?: unknown }>) {
          const { cursor, limit } = parseLogsQuery(ctx.params);
          const server = await this.catalogServer(ctx, ctx.params.id);
          return store.readLogsAfter(this.readKnex, server.id, cursor, limit);
        },
      },

      /**
       * GET /servers/{id}/health (§20): params `{id, limit?}` → `{checks}` newest first (limit 1..100,
       * default 6); 422 for the limit, then 404 unknown server.
       */
      health: {
        async handler(this: This, ctx: Context<ServerIdParams & { limit?: unknown }>) {
          const limit = parseHealthLimit(ctx.params);
          const server = await this.catalogServer(ctx, ctx.params.id);
          return { checks: await store.readHealthChecks(this.readKnex, server.id, limit) };
        },
      },

      /**
       * POST /servers/{id}/health/ping (§20): an MCP `ping` on the owner's live connection, stored;
       * `{check}` (a failed probe is a 200 with `status: "error"`). 404 unknown server.
       */
      ping: {
        async handler(this: This, ctx: Context<ServerIdParams>) {
          const server = await this.catalogServer(ctx, ctx.params.id);
          const owner = await this.liveOwner(server.id);
          if (owner !== null) return ctx.call("runtime.localPing", { id: server.id }, { nodeID: owner });
          const state = await store.readState(this.knex, server.id);
          const audit = auditOf(ctx.meta);
          const check = await store.appendHealthCheck(
            this.knex,
            server.id,
            {
              status: "error",
              checked_at: Date.now(),
              latency_ms: null,
              message: `not running (status: ${state?.status ?? "stopped"})`,
              actor: pingActor(audit.entry),
            },
            undefined,
            audit.entry,
          );
          audit.committed();
          this.broker.broadcast("runtime.health.checked", { server_id: server.id, check });
          return { check };
        },
      },

      /** GET /servers/{id}/tools (§21): `{tools, fetched_at}` of the running process; 409 not running; 404. */
      tools: {
        async handler(this: This, ctx: Context<ServerIdParams>) {
          const server = await this.catalogServer(ctx, ctx.params.id);
          const owner = await this.liveOwner(server.id);
          if (owner === null) throw notRunning(server.id);
          return ctx.call("runtime.localTools", { id: server.id }, { nodeID: owner });
        },
      },

      /**
       * POST /servers/{id}/tools/{tool}/call (§21): params `{id, tool, arguments?, session_id?,
       * timeout_ms?}` → `{result, run_id, duration_ms, session_id}`. 404 unknown server or tool; 409
       * not running; 422 bad body; 504 timeout (the request is cancelled); 502 the process died.
       * A call naming a session is recorded against it (`sessions.recordCall`, §22) by the owner just
       * before it is sent: 404 unknown session, 409 `Session '<id>' is closed`, 409 `Session '<id>'
       * belongs to server '<other>', not '<id>'` — then nothing is sent and no run is written.
       * Every call sent — failed ones too — is a telemetry run written before the answer.
       */
      callTool: {
        async handler(this: This, ctx: Context<Record<string, unknown>>) {
          const body = parseToolCallBody(ctx.params);
          const server = await this.catalogServer(ctx, ctx.params.id);
          const tool = typeof ctx.params.tool === "string" ? ctx.params.tool : "";
          const owner = await this.liveOwner(server.id);
          if (owner === null) throw notRunning(server.id);
          return ctx.call(
            "runtime.localCallTool",
            { id: server.id, tool, arguments: body.arguments, session_id: body.session_id, timeout_ms: body.timeout_ms },
            { nodeID: owner, timeout: (body.timeout_ms ?? server.tool_timeout_s * 1000) + 30_000, retries: 0 },
          );
        },
      },

      /**
       * POST /secrets/{id}/test (§24): params `{id}`. Spawns the server's command once with its secret
       * (in `secret_env`), completes the MCP handshake and tools/list, ends the group, and answers
       * `{provider_id, status, latency_ms, tested_at, message}` — `healthy` within degraded_latency_ms
       * × 5, `degraded` slower, `error` with the reason and the last stderr lines (secret masked).
       * 404 `Server '<id>' not found`, 404 `Secret for provider '<id>' not found`; 500 when the stored
       * value cannot be decrypted. Runs on the replica that takes the call; not a supervised process.
       */
      testSecret: {
        async handler(this: This, ctx: Context<ServerIdParams>) {
          const server = await this.catalogServer(ctx, ctx.params.id);
          const secret = await this.secretOf(server.id);
          if (secret === null) throw new ContractError(404, `Secret for provider '${server.id}' not found`);
          const testedAt = Date.now();
          const result = await testServerSecret(server, secret, {
            backendEnv: config.runtime.backendEnv,
            projectRoot: PROJECT_ROOT,
            onSpawn: (proc) => {
              if (proc.startTime === null) return;
              this.queueWrite(server.id, () =>
                store.addProcessGroup(this.knex, {
                  server_id: server.id,
                  host: this.host,
                  pgid: proc.pgid,
                  leader_start_time: String(proc.startTime),
                  node_id: this.nodeId,
                }),
              );
            },
            onGone: (proc) => this.queueWrite(server.id, () => store.removeProcessGroup(this.knex, this.host, proc.pgid, String(proc.startTime))),
          });
          await this.flush(server.id);
          return {
            provider_id: server.id,
            status: result.status,
            latency_ms: result.latency_ms,
            tested_at: formatInstant(testedAt),
            message: result.message,
          };
        },
      },

      /**
       * Stops a server's process before the catalog forgets the server (§17.4 DELETE: "a running
       * process is stopped first"; §17.1 an entry removed from the manifest). Called by `providers`
       * through the broker, never by the gateway. Params `{id}` (the server need not be in the
       * catalog any more). Sets `desired: stopped` first, so no replica starts it again, then has the
       * owner (node-targeted `runtime.localForget`) end its process — close the connection, group
       * SIGTERM → 5 s → group SIGKILL — or cancel a pending start or backoff, and forget it. Answers
       * `{stopped: boolean}` (true when something was running or pending there) once the group is
       * gone; `{stopped: false}` at once when no live replica owns the server.
       */
      stopForDelete: {
        params: { id: "string" },
        async handler(this: This, ctx: Context<{ id: string }>) {
          const id = ctx.params.id;
          await store.setDesired(this.knex, id, "stopped");
          const owner = await this.liveOwner(id);
          if (owner === null) return { stopped: false };
          return ctx.call("runtime.localForget", { id }, { nodeID: owner });
        },
      },

      /**
       * GET /notifications (§23.2): `{notifications}`, newest first, at most 50, from the process and
       * health transitions of the last 7 days (services/runtime/notifications.ts); `[]` when nothing
       * happened. Query parameters are ignored.
       */
      notifications: {
        async handler(this: This) {
          const transitions = await store.listNotableTransitions(this.readKnex, Date.now() - NOTIFICATIONS_WINDOW_MS, NOTIFICATIONS_MAX);
          return { notifications: transitions.map(notificationOf).filter((n) => n !== null) };
        },
      },

      // ---------------------------------------------------------------------------------------
      // Owner-side actions: called on the owning node (node-targeted), never by the gateway.

      /** stopForDelete on the owner: ends the process (if any), forgets the server, releases its lease. */
      localForget: {
        visibility: "public",
        async handler(this: This, ctx: Context<{ id: string }>) {
          return this.exclusive(ctx.params.id, () => this.forgetHere(ctx.params.id));
        },
      },

      localStart: {
        visibility: "public",
        async handler(this: This, ctx: Context<{ id: string; wait: boolean }>) {
          const audit = auditOf(ctx.meta);
          await this.exclusive(ctx.params.id, () => this.beginStart(ctx.params.id, "start", audit));
          return this.answerStart(ctx, ctx.params.id, ctx.params.wait);
        },
      },

      localRestart: {
        visibility: "public",
        async handler(this: This, ctx: Context<{ id: string; wait: boolean }>) {
          const audit = auditOf(ctx.meta);
          await this.exclusive(ctx.params.id, () => this.beginStart(ctx.params.id, "restart", audit));
          return this.answerStart(ctx, ctx.params.id, ctx.params.wait);
        },
      },

      localStop: {
        visibility: "public",
        async handler(this: This, ctx: Context<{ id: string }>) {
          const audit = auditOf(ctx.meta);
          return this.exclusive(ctx.params.id, () => this.stopHere(ctx.params.id, audit));
        },
      },

      localPing: {
        visibility: "public",
        async handler(this: This, ctx: Context<{ id: string }>) {
          // The check is stored by the health hook, with the request's audit entry in its transaction.
          const audit = auditOf(ctx.meta);
          const check = await this.supervisor.ping(ctx.params.id, pingActor(audit.entry), audit);
          await this.flush(ctx.params.id);
          return { check: toHealthAnswer(check) };
        },
      },

      localTools: {
        visibility: "public",
        async handler(this: This, ctx: Context<{ id: string }>) {
          if (this.supervisor.get(ctx.params.id)?.status !== "running") throw notRunning(ctx.params.id);
          const list = await this.supervisor.tools(ctx.params.id);
          return { tools: list.tools, fetched_at: formatInstant(list.fetched_at) };
        },
      },

      localCallTool: {
        visibility: "public",
        async handler(
          this: This,
          ctx: Context<{ id: string; tool: string; arguments: Record<string, unknown>; session_id: string | null; timeout_ms: number | null }>,
        ) {
          const { id, tool, session_id: sessionId } = ctx.params;
          if (this.supervisor.get(id)?.status !== "running") throw notRunning(id);
          const argumentsBytes = Buffer.byteLength(JSON.stringify(ctx.params.arguments));
          const startedAtMs = Date.now();
          const t0 = performance.now();
          let status: ToolRunStatus = "success";
          let failure: unknown = null;
          let outcome: Awaited<ReturnType<Supervisor["callTool"]>> | null = null;
          // Where the call is — "checking" (running? has the tool?), "session" (recording it against
          // its session), "sent" — and the client its session names (the run's metadata.client).
          const progress: { stage: "checking" | "session" | "sent"; client: string | null } = { stage: "checking", client: null };
          try {
            outcome = await this.supervisor.callTool(id, tool, ctx.params.arguments, {
              timeoutMs: ctx.params.timeout_ms ?? undefined,
              beforeSend: async () => {
                if (sessionId !== null) {
                  progress.stage = "session";
                  const recorded = (await ctx.call("sessions.recordCall", { session_id: sessionId, provider_id: id }, { retries: 0 })) as {
                    session: { client: string | null };
                  };
                  progress.client = recorded.session.client;
                }
                progress.stage = "sent";
              },
            });
            if (outcome.result.isError === true) status = "tool_error";
          } catch (err) {
            // Not running, an unknown tool, and a session that cannot take the call (404 unknown, 409
            // closed or another server's; or the sessions service unreachable) are answered without a
            // run: nothing was sent. (The error of a remote action is not a ContractError instance.)
            if (isContractError(err) && (err.code === 404 || err.code === 409)) throw err;
            if (progress.stage === "session") throw err;
            failure = err;
            status = err instanceof ToolTimeoutError ? "timeout" : "error";
          }
          const durationMs = outcome?.duration_ms ?? (failure as { durationMs?: number })?.durationMs ?? performance.now() - t0;
          // The tool's name is a label only once the server's list had it (the call was sent).
          this.runtimeMetrics.toolCall(id, progress.stage === "sent" ? tool : OTHER_TOOL, status, durationMs);
          const resultText = outcome === null ? null : JSON.stringify(outcome.result);
          const run = toolRun({
            serverId: id,
            tool,
            startedAtMs,
            durationMs,
            status,
            usage:
              outcome === null
                ? { input_tokens: 0, output_tokens: 0, cost_usd: null }
                : { input_tokens: outcome.usage.tokens_in, output_tokens: outcome.usage.tokens_out, cost_usd: outcome.usage.cost_usd },
            sessionId,
            client: progress.client,
            argumentsBytes,
            resultBytes: resultText === null ? null : Buffer.byteLength(resultText),
            error: failure === null ? null : failure instanceof Error ? failure.message : String(failure),
          });
          const answerError =
            failure === null
              ? null
              : failure instanceof ToolTimeoutError || failure instanceof ConnectionClosedError || failure instanceof ContractError
                ? failure
                : new ContractError(502, `Server '${id}' failed the call of '${tool}'`);
          // §25.2: the call's audit entry is written by telemetry with its run, in one transaction:
          // the tool's name and the run's status, never the arguments or the result.
          const audit =
            ctx.meta.audit === undefined
              ? undefined
              : {
                  ...(ctx.meta.audit as Record<string, unknown>),
                  details: { tool, run_status: status, ...(sessionId === null ? {} : { session_id: sessionId }) },
                  ...(answerError === null ? {} : { outcome: "error", status: answerError.code }),
                };
          const recorded = (await ctx.call(
            "telemetry.ingest",
            { runs: [run] },
            { retries: 0, ...(audit === undefined ? {} : { meta: { audit } }) },
          )) as { ids: number[] };
          if (answerError !== null) throw answerError;
          return { result: outcome?.result, run_id: recorded.ids[0], duration_ms: Math.round(durationMs), session_id: sessionId };
        },
      },
    },

    events: {
      /**
       * A catalog change (§17.4): a deleted server's runtime is forgotten (its process was stopped
       * before, through stopForDelete; one still running here — a delete by a providers replica that
       * did not know the server yet — is stopped now); autostart is applied.
       */
      "servers.changed": {
        async handler(this: This, ctx: Context<{ action: string; server: CatalogServer }>) {
          const { action, server } = ctx.params;
          if (action === "deleted") {
            this.runtimeMetrics.forgetServer(server.id);
            if (this.leases.has(server.id)) await this.exclusive(server.id, () => this.forgetHere(server.id));
            if ((await store.readLease(this.knex, server.id))?.node_id == null) await store.deleteServerRuntime(this.knex, server.id);
            return;
          }
          if (server.autostart && (await store.initDesired(this.knex, server.id, "running"))) void this.reconcile();
        },
      },
      "$node.disconnected": {
        handler(this: This) {
          void this.reconcile();
        },
      },
    },

    methods: {
      /**
       * The catalog record of a server (`providers.server`), 404 `Server '<id>' not found`; 409 for a
       * transport other than stdio (the manifest accepts any, §17.4 allows only stdio).
       */
      async catalogServer(this: This, ctx: Context | null, id: unknown): Promise<CatalogServer> {
        const call = ctx === null ? this.broker.call.bind(this.broker) : ctx.call.bind(ctx);
        const server = (await call("providers.server", { id })) as CatalogServer & { transport?: string };
        if (server.transport !== undefined && server.transport !== "stdio") {
          throw conflict(`Server '${server.id}' uses the transport '${server.transport}'; only stdio is supported`);
        }
        return server;
      },

      /**
       * A server's secret in plaintext (§24), opened here with this replica's key (never sent over the
       * broker), or null when it has none. A value that cannot be decrypted is a 500 naming the cause.
       */
      async secretOf(this: This, serverId: string): Promise<string | null> {
        try {
          return (await this.vault.reveal(this.readKnex, serverId))?.value ?? null;
        } catch (err) {
          if (err instanceof SecretDecryptError) throw new ContractError(500, err.message);
          throw err;
        }
      },

      /** Appends a store write to the server's chain (writes of one server land in order; failures are logged). */
      queueWrite(this: This, serverId: string, write: () => Promise<unknown>): void {
        const prev = this.writes.get(serverId) ?? Promise.resolve();
        const next = prev.then(write).then(
          () => undefined,
          (err: unknown) => this.logger.warn(`runtime: a store write for '${serverId}' failed: ${(err as Error).message}`),
        );
        this.writes.set(serverId, next);
        void next.then(() => {
          if (this.writes.get(serverId) === next) this.writes.delete(serverId);
        });
      },

      /** Resolves once every write queued so far for the server (log lines included) is in the store. */
      async flush(this: This, serverId: string): Promise<void> {
        await (this.lastLogLine.get(serverId) ?? Promise.resolve());
        await (this.writes.get(serverId) ?? Promise.resolve());
      },

      /** The ProcessState of a server from the store (§18.1). */
      async stateOf(this: This, serverId: string, neverStartedDesired: "running" | "stopped" = "stopped"): Promise<ProcessState> {
        const views = await store.readProcessViews(this.knex, [serverId]);
        return processState(serverId, views.get(serverId), neverStartedDesired);
      },

      /**
       * The live owner of a server's process (a lease held by a live node and not expired), or null.
       * A server this replica runs under a lease it claimed or renewed recently is answered from
       * memory (no store read on the tool-call path); any other from the store.
       */
      async liveOwner(this: This, serverId: string): Promise<string | null> {
        if (
          this.leases.has(serverId) &&
          (this.leaseFreshUntil.get(serverId) ?? 0) > Date.now() &&
          this.supervisor.get(serverId)?.status === "running"
        ) {
          return this.nodeId;
        }
        const lease = await store.readLease(this.knex, serverId);
        if (lease === null || lease.node_id === null || lease.lease_expires_at === null) return null;
        if (Date.parse(lease.lease_expires_at) <= Date.now()) return null;
        return this.isAlive(lease.node_id) ? lease.node_id : null;
      },

      /** True when the node is this one, or a node of the cluster running the runtime service. */
      isAlive(this: This, nodeId: string): boolean {
        if (nodeId === this.nodeId) return true;
        const node = this.broker.registry.nodes.get(nodeId);
        return node !== undefined && node !== null && node.available === true;
      },

      /** Lease holders that are not live nodes of the cluster (their leases count as lapsed). */
      async deadNodes(this: This): Promise<string[]> {
        const leases = await store.listLeases(this.knex);
        const holders = new Set(leases.map((l) => l.node_id).filter((n): n is string => n !== null));
        return [...holders].filter((n) => !this.isAlive(n));
      },

      /** Claims a server's lease for this node (§18.4); `owner` is the holder afterwards. */
      async claim(this: This, serverId: string): Promise<{ claimed: boolean; owner: string | null }> {
        const result = await store.claimLease(this.knex, {
          serverId,
          nodeId: this.nodeId,
          ttlMs: LEASE_TTL_MS,
          nowMs: Date.now(),
          deadNodes: await this.deadNodes(),
        });
        if (result.claimed) {
          this.leases.set(serverId, result.lease.generation);
          this.leaseFreshUntil.set(serverId, Date.now() + LEASE_TTL_MS - RECONCILE_INTERVAL_MS);
          return { claimed: true, owner: this.nodeId };
        }
        const owner = result.lease?.node_id ?? null;
        if (owner === this.nodeId && result.lease !== null) this.leases.set(serverId, result.lease.generation);
        return { claimed: false, owner };
      },

      /** Gives up this node's lease of a server. */
      async release(this: This, serverId: string): Promise<void> {
        const generation = this.leases.get(serverId);
        if (generation === undefined) return;
        this.leases.delete(serverId);
        this.leaseFreshUntil.delete(serverId);
        await store.releaseLease(this.knex, { serverId, nodeId: this.nodeId, generation });
      },

      /**
       * Runs `section` after every control section of the same server begun earlier on this replica
       * has ended (a per-server chain; a failed section does not break it). Sections never call
       * another node while inside, so two replicas never wait for each other.
       */
      exclusive<T>(this: This, serverId: string, section: () => Promise<T>): Promise<T> {
        const previous = this.control.get(serverId) ?? Promise.resolve();
        const next = previous.then(section, section);
        const tail = next.then(
          () => undefined,
          () => undefined,
        );
        this.control.set(serverId, tail);
        void tail.then(() => {
          if (this.control.get(serverId) === tail) this.control.delete(serverId);
        });
        return next;
      },

      /**
       * The node that runs a server's process (§18.4): its live owner, else this node once it has
       * claimed the lease (or the node that won the claim). Inside a control section.
       */
      async ownerOrClaim(this: This, serverId: string): Promise<string> {
        let owner = await this.liveOwner(serverId);
        if (owner === null || owner === this.nodeId) owner = (await this.claim(serverId)).owner;
        return owner ?? this.nodeId;
      },

      /**
       * Inside a control section on the owner: `desired: running`, then the supervisor's start (or
       * restart) begun — it rejects with 409 already running / process limit, 404 unknown. The wait
       * for its outcome is answerStart's, outside the section, so that a stop can cancel it.
       */
      async beginStart(this: This, serverId: string, kind: "start" | "restart", audit: RequestAudit): Promise<void> {
        // The supervisor refuses first (409 already running or at the cap, 404) with nothing changed;
        // then `desired` and the request's audit entry are stored together. Should that write fail,
        // what was begun is stopped again: no start without its record.
        if (kind === "start") await this.supervisor.start(serverId, { wait: false });
        else await this.supervisor.restart(serverId, { wait: false });
        try {
          await store.setDesired(this.knex, serverId, "running", Date.now(), audit.entry);
        } catch (err) {
          await this.supervisor.stop(serverId).catch(() => undefined);
          await this.flush(serverId);
          await this.release(serverId);
          throw err;
        }
        audit.committed();
      },

      /**
       * POST …/process/start or …/restart (§18.5): on the server's owner — this replica when it owns
       * the server or claims it now (in the server's control section), else the owner's
       * `runtime.localStart`/`localRestart` (node-targeted) — then the answer of answerStart.
       */
      async startOnOwner(this: This, ctx: Context<ServerIdParams & { wait?: unknown }>, kind: "start" | "restart"): Promise<unknown> {
        const wait = parseWait(ctx.params);
        const server = await this.catalogServer(ctx, ctx.params.id);
        const audit = auditOf(ctx.meta);
        const owner = await this.exclusive(server.id, async () => {
          const holder = await this.ownerOrClaim(server.id);
          if (holder === this.nodeId) await this.beginStart(server.id, kind, audit);
          return holder;
        });
        if (owner !== this.nodeId) {
          const action = kind === "start" ? "runtime.localStart" : "runtime.localRestart";
          return ctx.call(action, { id: server.id, wait }, { nodeID: owner, retries: 0 });
        }
        return this.answerStart(ctx, server.id, wait);
      },

      /**
       * The answer of a start or restart begun here (§18.5): with `wait`, once it has settled
       * (`running`, `error`, or `stopped` when a stop came first), 200; without, at once, 202.
       */
      async answerStart(this: This, ctx: Context, serverId: string, wait: boolean): Promise<{ process: ProcessState }> {
        if (wait) await this.supervisor.settled(serverId);
        else ctx.meta.$statusCode = 202;
        await this.flush(serverId);
        return { process: await this.stateOf(serverId) };
      },

      /**
       * Inside a control section on the owner: `desired: stopped`, the process ended (group SIGTERM →
       * 5 s → SIGKILL) or its pending start/backoff cancelled, the lease released; `{process}`. 409
       * `Server '<id>' is not running` when already stopped with `desired: stopped`.
       */
      async stopHere(this: This, serverId: string, audit: RequestAudit): Promise<{ process: ProcessState }> {
        await store.setDesired(this.knex, serverId, "stopped", Date.now(), audit.entry);
        audit.committed();
        if (this.supervisor.get(serverId) === null) {
          // Owned (a lease) but never handled here: nothing runs on this node.
          await this.release(serverId);
          const before = await store.readState(this.knex, serverId);
          if (before !== null && before.status !== "stopped") {
            await store.writeState(this.knex, { ...before, status: "stopped", pid: null, node_id: null, started_at: null });
            await this.announceProcess(serverId, audit.entry?.request_id);
          }
          return { process: await this.stateOf(serverId) };
        }
        await this.supervisor.stop(serverId);
        await this.flush(serverId);
        await this.release(serverId);
        return { process: await this.stateOf(serverId) };
      },

      /** Inside a control section on the owner: ends the process (if any), forgets the server, releases its lease. */
      async forgetHere(this: This, serverId: string): Promise<{ stopped: boolean }> {
        const before = this.supervisor.get(serverId);
        await this.supervisor.remove(serverId);
        await this.flush(serverId);
        await this.release(serverId);
        return { stopped: before !== null && before.status !== "stopped" };
      },

      /** Runs reconcileOnce, one at a time (a call while one runs waits for it and runs again). */
      async reconcile(this: This): Promise<void> {
        if (this.stopping) return;
        const previous = this.reconciling ?? Promise.resolve();
        const next = previous
          .then(() => (this.stopping ? undefined : this.reconcileOnce()))
          .catch((err: unknown) => {
            this.logger.warn(`runtime: reconciliation failed: ${(err as Error).message}`);
          });
        this.reconciling = next;
        await next;
      },

      /**
       * §18.4: renews this node's leases, then claims and starts each server `desired: running` without
       * a live owner. A server whose owner was lost is first recorded as `error` (`node <id> lost`).
       */
      async reconcileOnce(this: This): Promise<void> {
        const now = Date.now();
        const renewed = await store.renewNodeLeases(this.knex, this.nodeId, now, LEASE_TTL_MS);
        this.leaseFreshUntil.clear();
        for (const id of renewed) this.leaseFreshUntil.set(id, now + LEASE_TTL_MS - RECONCILE_INTERVAL_MS);
        const dead = await this.deadNodes();
        const unowned = await store.listUnowned(this.knex, { nowMs: now, deadNodes: dead });
        for (const serverId of unowned) {
          if (this.stopping) return;
          if (this.supervisor.processCount() >= config.runtime.maxProcesses) return;
          // In the server's control section, and only while it is still wanted: a stop or delete
          // that came after the listing wins.
          await this.exclusive(serverId, async () => {
            if ((await store.readState(this.knex, serverId))?.desired !== "running") return;
            const before = await store.readLease(this.knex, serverId);
            const claimed = await this.claim(serverId);
            if (!claimed.claimed) return;
            let server: CatalogServer;
            try {
              server = await this.catalogServer(null, serverId);
            } catch {
              await this.release(serverId);
              return;
            }
            const lostOwner = before?.node_id !== null && before?.node_id !== undefined && before.node_id !== this.nodeId ? before.node_id : null;
            const state = await store.readState(this.knex, serverId);
            if (lostOwner !== null) {
              // The lost replica's process of this server, when it ran on this host and outlived it.
              const left = (await store.listProcessGroups(this.knex, this.host)).filter((r) => r.server_id === serverId && r.node_id === lostOwner);
              const killed = await reapLeftovers(
                left.map((r) => ({ pgid: r.pgid, host: r.host, start_time: Number(r.leader_start_time) })),
                this.host,
              );
              if (killed.length > 0)
                this.logger.warn(`runtime: killed the process group(s) ${killed.join(", ")} of '${serverId}' left by node ${lostOwner}`);
              for (const r of left) await store.removeProcessGroup(this.knex, this.host, r.pgid);
            }
            if (lostOwner !== null && state !== null && state.status !== "stopped") {
              await store.writeState(this.knex, {
                ...state,
                status: "error",
                pid: null,
                node_id: lostOwner,
                started_at: null,
                stopped_at: Date.now(),
                last_error: `node ${lostOwner} lost`,
              });
              await this.announceProcess(serverId);
            }
            this.logger.info(
              `runtime: starting '${server.id}' (desired running, no live owner${lostOwner === null ? "" : `; node ${lostOwner} lost`})`,
            );
            void this.supervisor
              .start(server.id, { wait: false, automatic: lostOwner !== null || state?.status === "error" })
              .catch((err: unknown) => {
                this.logger.warn(`runtime: automatic start of '${server.id}' failed: ${(err as Error).message}`);
              });
          });
        }
      },

      /** The supervisor's state hook: the store (in order per server) and the broker event. */
      onSnapshot(this: This, snapshot: ProcessSnapshot): void {
        const id = snapshot.server_id;
        this.queueWrite(id, async () => {
          const generation = this.leases.get(id);
          const written = await store.writeState(
            this.knex,
            {
              server_id: id,
              status: snapshot.status,
              command: snapshot.command,
              pid: snapshot.pid,
              node_id: snapshot.node_id,
              started_at: snapshot.started_at,
              stopped_at: snapshot.stopped_at,
              return_code: snapshot.return_code,
              last_error: snapshot.last_error,
              restarts: snapshot.restarts,
              server_info: snapshot.server_info,
              tool_count: snapshot.tool_count,
              // A clean exit the policy does not restart ends `desired: stopped` (§18.3).
              ...(snapshot.desired === "stopped" && snapshot.status === "stopped" ? { desired: "stopped" as const } : {}),
            },
            generation === undefined ? {} : { fence: { node_id: this.nodeId, generation } },
          );
          if (written) await this.announceProcess(id);
        });
      },

      /**
       * Broadcasts `runtime.process.changed` with the server's ProcessState as stored now, without
       * `logs` (the stream's `process` event, §23.1). Call after each write of its state. Never
       * throws: the state is stored whatever happens here (a failure is logged, naming `request`
       * when a request made the write, §27).
       */
      async announceProcess(this: This, serverId: string, request?: RequestRef): Promise<void> {
        try {
          const views = await store.readProcessViews(this.readKnex, [serverId], 1);
          await this.broker.broadcast("runtime.process.changed", processEvent(processState(serverId, views.get(serverId))));
        } catch (err) {
          this.logger.warn(requestFields(request), `runtime: the process event of '${serverId}' was not published: ${(err as Error).message}`);
        }
      },
    },

    created(this: This) {
      this.nodeId = this.broker.nodeID;
      this.host = hostName();
      this.writes = new Map();
      this.logAppenders = new Map();
      this.lastLogLine = new Map();
      this.leases = new Map();
      this.leaseFreshUntil = new Map();
      this.control = new Map();
      this.timers = [];
      this.reconciling = null;
      this.startedUp = false;
      this.stopping = false;
      this.vault = new SecretVault(config.secrets);
      this.runtimeMetrics = new RuntimeMetrics(nodeMetrics(this.broker), () => this.supervisor.list());
      this.supervisor = new Supervisor({
        nodeId: this.nodeId,
        host: this.host,
        backendEnv: config.runtime.backendEnv,
        projectRoot: PROJECT_ROOT,
        maxProcesses: config.runtime.maxProcesses,
        healthIntervalMs: config.runtime.healthIntervalS * 1000,
        resolve: async (serverId) => {
          try {
            const server = await this.catalogServer(null, serverId);
            // Read at every start: a secret PUT since the last start is used by the next one (§24).
            return { server, secret: await this.secretOf(server.id) };
          } catch (err) {
            if (err instanceof ContractError && err.code === 404) return null;
            throw err;
          }
        },
        hooks: {
          onState: (snapshot) => {
            this.runtimeMetrics.observeState(snapshot);
            this.onSnapshot(snapshot);
          },
          onLog: (serverId: string, line: LogLine) => {
            let appender = this.logAppenders.get(serverId);
            if (appender === undefined) {
              appender = new LogAppender(this.knex, serverId, config.runtime.logRetention);
              this.logAppenders.set(serverId, appender);
            }
            // Lines arriving while a group is written share the next transaction (group commit).
            const stored = appender.append({ timestamp: line.timestamp, level: line.level, source: line.source, message: line.message }).then(
              (entry) => void this.broker.broadcast("runtime.log.appended", { server_id: serverId, entry }),
              (err: unknown) => {
                // A flood beyond the backlog drops lines (counted by the appender) rather than memory.
                if (!(err instanceof LogBacklogFull))
                  this.logger.warn(`runtime: log lines of '${serverId}' were not stored: ${(err as Error).message}`);
              },
            );
            this.lastLogLine.set(serverId, stored);
          },
          onHealth: (serverId: string, check: HealthCheck, origin?: unknown) => {
            // A manual ping hands its request's audit (§25.2) as the origin: stored with the check.
            const audit = origin as RequestAudit | undefined;
            this.queueWrite(serverId, async () => {
              const stored = await store.appendHealthCheck(
                this.knex,
                serverId,
                { ...check, checked_at: check.checked_at },
                undefined,
                audit?.entry ?? null,
              );
              audit?.committed();
              this.broker.broadcast("runtime.health.checked", { server_id: serverId, check: stored });
            });
          },
          onGroup: (serverId, event) => {
            this.queueWrite(serverId, async () => {
              if (event.type === "spawned") {
                await store.addProcessGroup(this.knex, {
                  server_id: serverId,
                  host: event.record.host,
                  pgid: event.record.pgid,
                  leader_start_time: String(event.record.start_time),
                  node_id: this.nodeId,
                });
              } else {
                await store.removeProcessGroup(this.knex, this.host, event.pgid);
              }
            });
          },
        },
      });
    },

    async started(this: This) {
      // Leftovers of an earlier run of the runtime on this host (a replica killed with SIGKILL).
      const records = await store.listProcessGroups(this.knex, this.host);
      const killed = await reapLeftovers(
        records.map((r) => ({ pgid: r.pgid, host: r.host, start_time: Number(r.leader_start_time) })),
        this.host,
      );
      if (killed.length > 0) this.logger.warn(`runtime: killed ${killed.length} process group(s) left by an earlier run: ${killed.join(", ")}`);
      for (const r of records) await store.removeProcessGroup(this.knex, this.host, r.pgid);
      // Autostart servers begin as desired running (an operator's later choice survives restarts).
      const { servers } = (await this.broker.call("providers.servers")) as { servers: CatalogServer[] };
      for (const s of servers) if (s.autostart) await store.initDesired(this.knex, s.id, "running");
      // The first reconciliation is part of the start (readiness waits for it); it claims and starts
      // what should run without waiting for the processes themselves.
      await this.reconcile();
      const tick = setInterval(() => void this.reconcile(), RECONCILE_INTERVAL_MS);
      tick.unref();
      this.timers.push(tick);
      this.startedUp = true;
    },

    async stopped(this: This) {
      this.stopping = true;
      for (const t of this.timers) clearInterval(t);
      await (this.reconciling ?? Promise.resolve());
      // A graceful stop (§18.4): end every process, keep `desired`, release the leases so another
      // replica takes the servers over.
      await this.supervisor.shutdown();
      for (const id of [...this.leases.keys()]) {
        await this.flush(id);
        await this.release(id);
      }
      await Promise.all([...this.writes.values()]);
    },
  };
  schema.dependencies = ["providers"];
  return schema;
}

/** A supervisor check as answered (§20: datetimes in the contract's output form). */
function toHealthAnswer(check: HealthCheck) {
  return { ...check, checked_at: formatInstant(check.checked_at) };
}
