/**
 * The process state machine (runtime-contract §18.2, §18.3) without processes: every status ×
 * every event, the restart policy, the counts and the backoff delays.
 */
import {
  backoffDelayMs,
  DesiredState,
  initialState,
  MachineEvent,
  MachinePolicy,
  MachineState,
  PROCESS_STATUSES,
  ProcessStatus,
  transition,
} from "../../services/runtime/state-machine";

const NOW = 1_000_000;
const policy: MachinePolicy = { restart: "on-failure", maxRestarts: 5, random: () => 0.5 };

function state(status: ProcessStatus, extra: Partial<MachineState> = {}): MachineState {
  return {
    status,
    desired: status === "stopped" ? "stopped" : "running",
    restarts: 0,
    failures: 0,
    runningSince: status === "running" ? NOW - 1000 : null,
    ...extra,
  };
}

const EVENTS: Record<string, MachineEvent> = {
  start: { type: "start" },
  restart: { type: "restart" },
  stop: { type: "stop" },
  initialized: { type: "initialized", now: NOW },
  start_failed: { type: "start_failed" },
  exited_asked: { type: "exited", code: null, signal: "SIGTERM", asked: true, now: NOW },
  exited_crash: { type: "exited", code: 1, signal: null, asked: false, now: NOW },
  exited_clean: { type: "exited", code: 0, signal: null, asked: false, now: NOW },
  backoff_elapsed: { type: "backoff_elapsed" },
  health_failed: { type: "health_failed", now: NOW },
  node_lost: { type: "node_lost" },
};

/**
 * Expected status after each event from each status (desired as in state() above), with the
 * effects; "refused" when the event does not apply.
 */
const TABLE: Record<ProcessStatus, Record<string, [ProcessStatus | "refused", string[]]>> = {
  stopped: {
    start: ["starting", ["spawn"]],
    restart: ["starting", ["spawn"]],
    stop: ["refused", []],
    initialized: ["refused", []],
    start_failed: ["refused", []],
    exited_asked: ["refused", []],
    exited_crash: ["refused", []],
    exited_clean: ["refused", []],
    backoff_elapsed: ["refused", []],
    health_failed: ["refused", []],
    node_lost: ["refused", []],
  },
  starting: {
    start: ["refused", []],
    restart: ["stopping", ["kill"]],
    stop: ["stopping", ["kill"]],
    initialized: ["running", []],
    start_failed: ["error", []],
    exited_asked: ["error", []],
    exited_crash: ["error", []],
    exited_clean: ["error", []],
    backoff_elapsed: ["refused", []],
    health_failed: ["refused", []],
    node_lost: ["error", []],
  },
  running: {
    start: ["refused", []],
    restart: ["stopping", ["kill"]],
    stop: ["stopping", ["kill"]],
    initialized: ["refused", []],
    start_failed: ["refused", []],
    exited_asked: ["stopped", []],
    exited_crash: ["backoff", ["schedule_backoff"]],
    exited_clean: ["stopped", []],
    backoff_elapsed: ["refused", []],
    health_failed: ["backoff", ["schedule_backoff"]],
    node_lost: ["error", []],
  },
  stopping: {
    start: ["stopping", []],
    restart: ["stopping", []],
    stop: ["stopping", []],
    initialized: ["refused", []],
    start_failed: ["refused", []],
    exited_asked: ["starting", ["spawn"]],
    exited_crash: ["starting", ["spawn"]],
    exited_clean: ["starting", ["spawn"]],
    backoff_elapsed: ["refused", []],
    health_failed: ["refused", []],
    node_lost: ["error", []],
  },
  backoff: {
    start: ["starting", ["cancel_backoff", "spawn"]],
    restart: ["starting", ["cancel_backoff", "spawn"]],
    stop: ["stopped", ["cancel_backoff"]],
    initialized: ["refused", []],
    start_failed: ["refused", []],
    exited_asked: ["refused", []],
    exited_crash: ["refused", []],
    exited_clean: ["refused", []],
    backoff_elapsed: ["starting", ["spawn"]],
    health_failed: ["refused", []],
    node_lost: ["error", []],
  },
  error: {
    start: ["starting", ["spawn"]],
    restart: ["starting", ["spawn"]],
    stop: ["stopped", []],
    initialized: ["refused", []],
    start_failed: ["refused", []],
    exited_asked: ["refused", []],
    exited_crash: ["refused", []],
    exited_clean: ["refused", []],
    backoff_elapsed: ["refused", []],
    health_failed: ["refused", []],
    node_lost: ["error", []],
  },
};

describe("transition table (§18.2)", () => {
  for (const status of PROCESS_STATUSES) {
    for (const [name, event] of Object.entries(EVENTS)) {
      const [expected, effects] = TABLE[status][name];
      it(`${status} + ${name} → ${expected}`, () => {
        const before = state(status);
        const t = transition(before, event, policy);
        if (expected === "refused") {
          expect(t.accepted).toBe(false);
          expect(t.state).toBe(before);
          expect(t.effects).toEqual([]);
        } else {
          expect(t.accepted).toBe(true);
          expect(t.state.status).toBe(expected);
          expect(t.effects.map((e) => e.type)).toEqual(effects);
        }
      });
    }
  }

  it("never mutates its input", () => {
    for (const status of PROCESS_STATUSES) {
      for (const event of Object.values(EVENTS)) {
        const before = state(status, { restarts: 2, failures: 1 });
        const copy = JSON.parse(JSON.stringify(before));
        transition(before, event, policy);
        expect(before).toEqual(copy);
      }
    }
  });
});

describe("operator actions (§18.5)", () => {
  it("start sets desired running and resets the counts; a second start conflicts", () => {
    const t = transition(state("error", { restarts: 4, failures: 6 }), { type: "start" }, policy);
    expect(t.state).toMatchObject({ status: "starting", desired: "running", restarts: 0, failures: 0 });
    for (const s of ["running", "starting"] as const) {
      const again = transition(state(s), { type: "start" }, policy);
      expect(again).toMatchObject({ accepted: false, conflict: "already_running" });
    }
  });

  it("an automatic start (takeover) counts a restart and keeps the failure count", () => {
    const t = transition(state("error", { restarts: 1, failures: 2 }), { type: "start", automatic: true }, policy);
    expect(t.state).toMatchObject({ status: "starting", restarts: 2, failures: 2 });
  });

  it("stop ends desired stopped; stop of a stopped server conflicts only when desired is stopped", () => {
    for (const s of ["running", "starting", "backoff", "error", "stopping"] as const) {
      expect(transition(state(s), { type: "stop" }, policy).state.desired).toBe("stopped");
    }
    expect(transition(state("stopped"), { type: "stop" }, policy)).toMatchObject({ accepted: false, conflict: "not_running" });
    const desiredRunning = transition(state("stopped", { desired: "running" }), { type: "stop" }, policy);
    expect(desiredRunning.accepted).toBe(true);
    expect(desiredRunning.state).toMatchObject({ status: "stopped", desired: "stopped" });
  });

  it("a stop that was asked for ends stopped whatever the exit (§18.2)", () => {
    const stopping = transition(state("running"), { type: "stop" }, policy).state;
    for (const [code, signal] of [
      [0, null],
      [1, null],
      [null, "SIGKILL"],
      [null, "SIGTERM"],
    ] as const) {
      const t = transition(stopping, { type: "exited", code, signal, asked: true, now: NOW }, policy);
      expect(t.state).toMatchObject({ status: "stopped", desired: "stopped" });
      expect(t.effects).toEqual([]);
    }
  });

  it("restart of a running server stops it, then starts it once the group is gone", () => {
    const stopping = transition(state("running", { restarts: 3, failures: 2 }), { type: "restart" }, policy);
    expect(stopping.state).toMatchObject({ status: "stopping", desired: "running", restarts: 0, failures: 0 });
    const after = transition(stopping.state, { type: "exited", code: null, signal: "SIGTERM", asked: true, now: NOW }, policy);
    expect(after.state.status).toBe("starting");
    expect(after.effects).toEqual([{ type: "spawn" }]);
  });

  it("a start during stopping waits for the stop, then starts", () => {
    const stopping = transition(state("running"), { type: "stop" }, policy).state;
    const t = transition(stopping, { type: "start" }, policy);
    expect(t.state).toMatchObject({ status: "stopping", desired: "running" });
    expect(t.effects).toEqual([]);
    expect(transition(t.state, { type: "exited", code: 0, signal: null, asked: true, now: NOW }, policy).state.status).toBe("starting");
  });

  it("initialized records when the process became running", () => {
    const t = transition(state("starting"), { type: "initialized", now: 1234 }, policy);
    expect(t.state).toMatchObject({ status: "running", runningSince: 1234 });
  });
});

describe("restart policy (§18.3)", () => {
  const crash = (code: number | null, signal: string | null, now = NOW): MachineEvent => ({ type: "exited", code, signal, asked: false, now });

  it("on-failure restarts after a non-zero code or a signal the runtime did not send", () => {
    for (const [code, signal] of [
      [1, null],
      [137, null],
      [null, "SIGKILL"],
      [null, "SIGSEGV"],
    ] as const) {
      const t = transition(state("running"), crash(code, signal), policy);
      expect(t.state).toMatchObject({ status: "backoff", desired: "running", failures: 1 });
      expect(t.effects).toEqual([{ type: "schedule_backoff", delayMs: 1000, attempt: 1 }]);
    }
  });

  it("a clean exit not restarted ends stopped with desired stopped (on-failure and never)", () => {
    for (const restart of ["on-failure", "never"] as const) {
      const t = transition(state("running"), crash(0, null), { ...policy, restart });
      expect(t.state).toMatchObject({ status: "stopped", desired: "stopped" });
      expect(t.outcome).toBe("clean_exit");
      expect(t.effects).toEqual([]);
    }
  });

  it("always restarts after any exit it did not ask for, clean ones included", () => {
    const t = transition(state("running"), crash(0, null), { ...policy, restart: "always" });
    expect(t.state.status).toBe("backoff");
    expect(t.effects[0]).toMatchObject({ type: "schedule_backoff", attempt: 1 });
  });

  it("never leaves error after a failure", () => {
    const t = transition(state("running"), crash(2, null), { ...policy, restart: "never" });
    expect(t.state).toMatchObject({ status: "error", desired: "running" });
    expect(t.outcome).toBe("failed");
    expect(t.effects).toEqual([]);
  });

  it("health_failed counts as a failed exit: restarted unless never", () => {
    expect(transition(state("running"), { type: "health_failed", now: NOW }, { ...policy, restart: "always" }).state.status).toBe("backoff");
    expect(transition(state("running"), { type: "health_failed", now: NOW }, policy).state.status).toBe("backoff");
    expect(transition(state("running"), { type: "health_failed", now: NOW }, { ...policy, restart: "never" }).state.status).toBe("error");
  });

  it("max_restarts automatic restarts, then the next failure leaves error until a manual start", () => {
    const p: MachinePolicy = { ...policy, maxRestarts: 3 };
    let s = transition(state("starting"), { type: "initialized", now: NOW }, p).state;
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      const t = transition(s, crash(1, null, NOW + 10), p);
      expect(t.state).toMatchObject({ status: "backoff", failures: attempt });
      delays.push((t.effects[0] as { delayMs: number }).delayMs);
      s = transition(t.state, { type: "backoff_elapsed" }, p).state;
      expect(s).toMatchObject({ status: "starting", restarts: attempt });
      s = transition(s, { type: "initialized", now: NOW }, p).state;
    }
    expect(delays).toEqual([1000, 2000, 4000]);
    const last = transition(s, crash(1, null, NOW + 10), p);
    expect(last.state).toMatchObject({ status: "error", desired: "running", failures: 4, restarts: 3 });
    expect(last.outcome).toBe("gave_up");
    expect(last.effects).toEqual([]);
    const manual = transition(last.state, { type: "start" }, p);
    expect(manual.state).toMatchObject({ status: "starting", failures: 0, restarts: 0 });
  });

  it("max_restarts 0: the first failure leaves error", () => {
    const t = transition(state("running"), crash(1, null), { ...policy, maxRestarts: 0 });
    expect(t.state.status).toBe("error");
    expect(t.outcome).toBe("gave_up");
  });

  it("a failed automatic start attempt counts as a failure (backoff again), a failed manual start ends error", () => {
    const manual = transition(state("starting"), { type: "start_failed" }, policy);
    expect(manual.state.status).toBe("error");
    expect(manual.outcome).toBe("start_failed");
    const automatic = transition(state("starting", { failures: 2, restarts: 2 }), { type: "start_failed" }, policy);
    expect(automatic.state).toMatchObject({ status: "backoff", failures: 3 });
    expect(automatic.effects).toEqual([{ type: "schedule_backoff", delayMs: 4000, attempt: 3 }]);
    const gaveUp = transition(state("starting", { failures: 5, restarts: 5 }), { type: "start_failed" }, policy);
    expect(gaveUp.state.status).toBe("error");
    expect(gaveUp.outcome).toBe("gave_up");
  });

  it("60 s in running resets the failure count; less does not", () => {
    const p: MachinePolicy = { ...policy, maxRestarts: 2 };
    const longRun = state("running", { failures: 2, runningSince: NOW - 60_000 });
    const t1 = transition(longRun, crash(1, null), p);
    expect(t1.state).toMatchObject({ status: "backoff", failures: 1 });
    const shortRun = state("running", { failures: 2, runningSince: NOW - 59_999 });
    const t2 = transition(shortRun, crash(1, null), p);
    expect(t2.state).toMatchObject({ status: "error", failures: 3 });
    const custom = transition(state("running", { failures: 2, runningSince: NOW - 50 }), crash(1, null), { ...p, stableMs: 50 });
    expect(custom.state.failures).toBe(1);
  });

  it("node_lost: error for a server desired running, stopped for one being stopped", () => {
    const t = transition(state("running"), { type: "node_lost" }, policy);
    expect(t.state).toMatchObject({ status: "error", desired: "running" });
    expect(t.outcome).toBe("node_lost");
    const stopping = transition(state("running"), { type: "stop" }, policy).state;
    expect(transition(stopping, { type: "node_lost" }, policy).state).toMatchObject({ status: "stopped", desired: "stopped" });
  });
});

describe("backoff delay (§18.3)", () => {
  it("doubles from 1 s up to 60 s", () => {
    const mid = { random: () => 0.5 };
    expect([1, 2, 3, 4, 5, 6, 7, 8, 50, 5000].map((n) => backoffDelayMs(n, mid))).toEqual([
      1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000, 60000,
    ]);
  });

  it("jitters by ±20 % with the injected random", () => {
    expect(backoffDelayMs(1, { random: () => 0 })).toBe(800);
    expect(backoffDelayMs(1, { random: () => 0.999999 })).toBe(1200);
    expect(backoffDelayMs(7, { random: () => 0 })).toBe(48000);
    expect(backoffDelayMs(7, { random: () => 0.999999 })).toBe(72000);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelayMs(3);
      expect(d).toBeGreaterThanOrEqual(3200);
      expect(d).toBeLessThanOrEqual(4800);
    }
  });

  it("takes other bases and ceilings", () => {
    expect(backoffDelayMs(3, { backoffBaseMs: 10, backoffMaxMs: 25, random: () => 0.5 })).toBe(25);
    expect(backoffDelayMs(2, { backoffBaseMs: 10, backoffMaxMs: 25, random: () => 0.5 })).toBe(20);
  });

  it("the delay the machine schedules is the one of the attempt", () => {
    const t = transition(
      state("running", { failures: 3 }),
      { type: "exited", code: 1, signal: null, asked: false, now: NOW },
      { ...policy, random: () => 0 },
    );
    expect(t.effects).toEqual([{ type: "schedule_backoff", delayMs: 6400, attempt: 4 }]);
  });
});

describe("initial state", () => {
  it("is stopped, desired as given (autostart servers begin desired running)", () => {
    expect(initialState()).toEqual({ status: "stopped", desired: "stopped", restarts: 0, failures: 0, runningSince: null });
    const desired: DesiredState = "running";
    expect(initialState(desired).desired).toBe("running");
  });
});
