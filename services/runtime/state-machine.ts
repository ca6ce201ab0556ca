/**
 * The process state machine of runtime-contract §18.2 and the restart policy of §18.3, as one pure
 * transition table: no processes, no timers, no store. The supervisor feeds it events (what was asked
 * or what was observed) and carries out the effects it returns (spawn, kill, arm or cancel the backoff
 * timer). Shaped after supervisord's process model: STOPPED, STARTING, RUNNING, BACKOFF, STOPPING and
 * FATAL (our `error`).
 */

/** §18.1 `status`. */
export type ProcessStatus = "stopped" | "starting" | "running" | "stopping" | "backoff" | "error";
/** §18.1 `desired`. */
export type DesiredState = "running" | "stopped";
/** §17.2 `restart`. */
export type RestartPolicy = "never" | "on-failure" | "always";

export const PROCESS_STATUSES: readonly ProcessStatus[] = ["stopped", "starting", "running", "stopping", "backoff", "error"];

/** The machine's part of a server's process state. */
export interface MachineState {
  status: ProcessStatus;
  desired: DesiredState;
  /** Automatic restarts since the last manual start or restart (§18.1 `restarts`). */
  restarts: number;
  /**
   * Consecutive failures counted against `max_restarts` (§18.3). Reset by a manual start and by a
   * process that stayed `running` for `stableMs`.
   */
  failures: number;
  /** Epoch ms at which the current process reached `running`; null when not running. */
  runningSince: number | null;
}

/** The policy fields of a server (§17.2) and the machine's tunables. */
export interface MachinePolicy {
  restart: RestartPolicy;
  /** §17.2 `max_restarts`, 0..100. */
  maxRestarts: number;
  /** First backoff delay, ms (§18.3: 1 s). */
  backoffBaseMs?: number;
  /** Backoff ceiling, ms (§18.3: 60 s). */
  backoffMaxMs?: number;
  /** Time in `running` after which the failure count resets, ms (§18.3: 60 s). */
  stableMs?: number;
  /** Uniform random number in [0, 1) for the jitter; Math.random when absent. */
  random?: () => number;
}

export const DEFAULT_BACKOFF_BASE_MS = 1000;
export const DEFAULT_BACKOFF_MAX_MS = 60_000;
export const DEFAULT_STABLE_MS = 60_000;
/** ±20 % (§18.3). */
export const BACKOFF_JITTER = 0.2;

/**
 * Events:
 * - `start`: an operator's start (resets the counts) — or, with `automatic: true`, a start by the
 *   runtime itself (a replica taking over a server, §18.4), which counts as a restart.
 * - `restart`: an operator's restart (stop first when a process exists, then start).
 * - `stop`: an operator's stop.
 * - `initialized`: the MCP `initialize` answer arrived.
 * - `start_failed`: spawn failed, the handshake failed or timed out; the group is already gone.
 * - `exited`: the process ended and its group is gone; `asked` when the runtime asked it to end.
 * - `backoff_elapsed`: the backoff timer fired.
 * - `health_failed`: three failed health checks in a row; the runtime killed the group, which is gone.
 * - `node_lost`: the owning replica died (applied by another replica to the stored state).
 */
export type MachineEvent =
  | { type: "start"; automatic?: boolean }
  | { type: "restart" }
  | { type: "stop" }
  | { type: "initialized"; now: number }
  | { type: "start_failed" }
  | { type: "exited"; code: number | null; signal: string | null; asked: boolean; now: number }
  | { type: "backoff_elapsed" }
  | { type: "health_failed"; now: number }
  | { type: "node_lost" };

/** What the supervisor must do after a transition, in order. */
export type MachineEffect =
  | { type: "spawn" }
  | { type: "kill" }
  | { type: "schedule_backoff"; delayMs: number; attempt: number }
  | { type: "cancel_backoff" };

/**
 * Why the state ended where it did, for the supervisor's log line and `last_error`:
 * `clean_exit` (code 0, not restarted: the server chose to end), `failed` (an unexpected end under
 * policy `never`), `gave_up` (failures passed `max_restarts`), `start_failed` (a manual start failed),
 * `node_lost`.
 */
export type MachineOutcome = "clean_exit" | "failed" | "gave_up" | "start_failed" | "node_lost";

export interface Transition {
  /** False when the event is refused in this state; `conflict` says why, state is unchanged. */
  accepted: boolean;
  state: MachineState;
  effects: MachineEffect[];
  /** Set when the event is refused as an operator mistake (409 of §18.5). */
  conflict?: "already_running" | "not_running";
  outcome?: MachineOutcome;
}

/** A server never started, or just added to the catalog. `autostart` servers begin desired running. */
export function initialState(desired: DesiredState = "stopped"): MachineState {
  return { status: "stopped", desired, restarts: 0, failures: 0, runningSince: null };
}

/**
 * Delay before automatic restart attempt `attempt` (1-based), ms: min(base × 2^(attempt−1), max)
 * with ±20 % jitter drawn from `random` (§18.3). Integer, ≥ 0.
 */
export function backoffDelayMs(attempt: number, policy: Pick<MachinePolicy, "backoffBaseMs" | "backoffMaxMs" | "random"> = {}): number {
  const base = policy.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS;
  const max = policy.backoffMaxMs ?? DEFAULT_BACKOFF_MAX_MS;
  const n = Math.max(1, Math.floor(attempt));
  // 2^(n−1) overflows to Infinity for large n; min() keeps the ceiling.
  const nominal = Math.min(base * 2 ** (n - 1), max);
  const r = (policy.random ?? Math.random)();
  const factor = 1 + (2 * Math.min(Math.max(r, 0), 1) - 1) * BACKOFF_JITTER;
  return Math.max(0, Math.round(nominal * factor));
}

/**
 * True when the restart policy restarts after an end the runtime did not ask for (§18.3):
 * `always` after any end, `on-failure` after a non-zero code or a signal, `never` never.
 */
export function policyRestarts(policy: RestartPolicy, failed: boolean): boolean {
  if (policy === "always") return true;
  if (policy === "on-failure") return failed;
  return false;
}

function refused(state: MachineState, conflict?: Transition["conflict"]): Transition {
  return { accepted: false, state, effects: [], ...(conflict ? { conflict } : {}) };
}

function ok(state: MachineState, effects: MachineEffect[] = [], outcome?: MachineOutcome): Transition {
  return { accepted: true, state, effects, ...(outcome ? { outcome } : {}) };
}

/**
 * An unexpected end of a process (or of a start attempt the runtime made by itself): the restart
 * policy decides between `backoff` (with the timer), `error` and, for a clean exit not restarted,
 * `stopped` with `desired: stopped`.
 */
function afterUnexpectedEnd(state: MachineState, failed: boolean, now: number | null, policy: MachinePolicy): Transition {
  const stableMs = policy.stableMs ?? DEFAULT_STABLE_MS;
  const wasStable = state.runningSince !== null && now !== null && now - state.runningSince >= stableMs;
  const base: MachineState = { ...state, runningSince: null, failures: wasStable ? 0 : state.failures };
  if (!policyRestarts(policy.restart, failed)) {
    if (!failed) return ok({ ...base, status: "stopped", desired: "stopped" }, [], "clean_exit");
    return ok({ ...base, status: "error" }, [], "failed");
  }
  const failures = base.failures + 1;
  if (failures > policy.maxRestarts) return ok({ ...base, status: "error", failures }, [], "gave_up");
  const delayMs = backoffDelayMs(failures, policy);
  return ok({ ...base, status: "backoff", failures }, [{ type: "schedule_backoff", delayMs, attempt: failures }]);
}

/**
 * The transition table (§18.2, §18.3, §18.5). Pure: same input, same output (the jitter comes from
 * `policy.random`). Events that do not apply in a state are refused without change; operator
 * mistakes carry `conflict` (start while `running`/`starting` → `already_running`; stop while
 * `stopped` and `desired: stopped` → `not_running`).
 */
export function transition(state: MachineState, event: MachineEvent, policy: MachinePolicy): Transition {
  const s = state.status;
  switch (event.type) {
    case "start": {
      if (s === "running" || s === "starting") return refused(state, "already_running");
      const counts = event.automatic ? { restarts: state.restarts + 1, failures: state.failures } : { restarts: 0, failures: 0 };
      // Stopping: the stop finishes first; the `exited` event then starts (desired running).
      if (s === "stopping") return ok({ ...state, ...counts, desired: "running" });
      const effects: MachineEffect[] = s === "backoff" ? [{ type: "cancel_backoff" }, { type: "spawn" }] : [{ type: "spawn" }];
      return ok({ ...state, ...counts, status: "starting", desired: "running", runningSince: null }, effects);
    }
    case "restart": {
      const reset = { restarts: 0, failures: 0, desired: "running" as const };
      if (s === "running" || s === "starting") return ok({ ...state, ...reset, status: "stopping", runningSince: null }, [{ type: "kill" }]);
      if (s === "stopping") return ok({ ...state, ...reset });
      const effects: MachineEffect[] = s === "backoff" ? [{ type: "cancel_backoff" }, { type: "spawn" }] : [{ type: "spawn" }];
      return ok({ ...state, ...reset, status: "starting", runningSince: null }, effects);
    }
    case "stop": {
      if (s === "running" || s === "starting")
        return ok({ ...state, status: "stopping", desired: "stopped", runningSince: null }, [{ type: "kill" }]);
      if (s === "stopping") return ok({ ...state, desired: "stopped" });
      if (s === "backoff") return ok({ ...state, status: "stopped", desired: "stopped" }, [{ type: "cancel_backoff" }]);
      if (s === "error") return ok({ ...state, status: "stopped", desired: "stopped" });
      // stopped
      if (state.desired === "stopped") return refused(state, "not_running");
      return ok({ ...state, desired: "stopped" });
    }
    case "initialized": {
      if (s !== "starting") return refused(state);
      return ok({ ...state, status: "running", runningSince: event.now });
    }
    case "start_failed": {
      if (s !== "starting") return refused(state);
      // A manual start (no failure counted yet) answers with its final state: error.
      if (state.failures === 0) return ok({ ...state, status: "error", runningSince: null }, [], "start_failed");
      return afterUnexpectedEnd(state, true, null, policy);
    }
    case "exited": {
      if (s === "stopping") {
        if (state.desired === "running") return ok({ ...state, status: "starting", runningSince: null }, [{ type: "spawn" }]);
        return ok({ ...state, status: "stopped", runningSince: null });
      }
      if (s === "starting") return transition(state, { type: "start_failed" }, policy);
      if (s !== "running") return refused(state);
      if (event.asked) return ok({ ...state, status: "stopped", desired: "stopped", runningSince: null });
      const failed = event.code !== 0 || event.signal !== null;
      return afterUnexpectedEnd(state, failed, event.now, policy);
    }
    case "backoff_elapsed": {
      if (s !== "backoff") return refused(state);
      return ok({ ...state, status: "starting", restarts: state.restarts + 1 }, [{ type: "spawn" }]);
    }
    case "health_failed": {
      if (s !== "running") return refused(state);
      return afterUnexpectedEnd(state, true, event.now, policy);
    }
    case "node_lost": {
      if (s === "stopped") return refused(state);
      if (state.desired === "stopped") return ok({ ...state, status: "stopped", runningSince: null });
      return ok({ ...state, status: "error", runningSince: null }, [], "node_lost");
    }
  }
}
