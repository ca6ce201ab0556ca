/**
 * The supervisor with real processes (runtime-contract §18 states and restart policy, §19 log lines,
 * §20 health, §21 tool calls, §24 masking). Timing-dependent behaviour uses short configured delays.
 */
import { ContractError } from "../../lib/errors";
import { ConnectionClosedError, ToolTimeoutError } from "../../services/runtime/connection";
import type { ProcessStatus } from "../../services/runtime/state-machine";
import { HealthCheck, LogLine, ProcessSnapshot, ServerSpec, Supervisor, SupervisorOptions } from "../../services/runtime/supervisor";
import { CONFIGURABLE_SERVER, eventually, GroupWatch, liveMembers, pidAlive, PROJECT_ROOT, testBackendEnv } from "../helpers/process-groups";

jest.setTimeout(90_000);

const watch = new GroupWatch();

interface Harness {
  sup: Supervisor;
  specs: Map<string, ServerSpec>;
  secrets: Map<string, string>;
  states: ProcessSnapshot[];
  logs: { id: string; line: LogLine }[];
  health: HealthCheck[];
  gone: number[];
  statuses(id: string): ProcessStatus[];
  messages(id: string, source?: LogLine["source"]): string[];
  add(id: string, args: string[], extra?: Partial<ServerSpec>): void;
  /** Extra listener of state changes. */
  onState: ((s: ProcessSnapshot) => void) | null;
}

let current: Harness | null = null;

function harness(options: Partial<SupervisorOptions> = {}): Harness {
  const specs = new Map<string, ServerSpec>();
  const secrets = new Map<string, string>();
  const states: ProcessSnapshot[] = [];
  const logs: { id: string; line: LogLine }[] = [];
  const health: HealthCheck[] = [];
  const gone: number[] = [];
  const sup = new Supervisor({
    nodeId: "node-1",
    backendEnv: testBackendEnv(),
    projectRoot: PROJECT_ROOT,
    healthIntervalMs: 0,
    stopGraceMs: 500,
    backoffBaseMs: 50,
    random: () => 0.5,
    resolve: async (id) => {
      const server = specs.get(id);
      return server === undefined ? null : { server, secret: secrets.get(id) ?? null };
    },
    hooks: {
      onState: (s) => {
        states.push(s);
        h.onState?.(s);
      },
      onLog: (id, line) => logs.push({ id, line }),
      onHealth: (_id, check) => health.push(check),
      onGroup: (_id, event) => {
        if (event.type === "spawned") watch.add(event.record.pgid);
        else gone.push(event.pgid);
      },
    },
    ...options,
  });
  const h: Harness = {
    sup,
    specs,
    secrets,
    states,
    logs,
    health,
    gone,
    statuses: (id) => states.filter((s) => s.server_id === id).map((s) => s.status),
    onState: null,
    messages: (id, source) => logs.filter((l) => l.id === id && (source === undefined || l.line.source === source)).map((l) => l.line.message),
    add: (id, args, extra = {}) => {
      specs.set(id, {
        id,
        command: process.execPath,
        args: [CONFIGURABLE_SERVER, ...args],
        restart: "on-failure",
        max_restarts: 5,
        startup_timeout_s: 20,
        degraded_latency_ms: 1000,
        tool_timeout_s: 60,
        ...extra,
      });
    },
  };
  current = h;
  return h;
}

afterEach(async () => {
  const lines = current?.logs ?? [];
  if (current !== null) await current.sup.shutdown();
  current = null;
  await watch.expectAllGone();
  // §19: every log entry of every test is one line.
  expect(lines.filter((l) => /[\r\n]/.test(l.line.message)).map((l) => l.line.message)).toEqual([]);
});

/** Distinct consecutive statuses (the hooks also report pid and tool changes within a status). */
function steps(list: ProcessStatus[]): ProcessStatus[] {
  return list.filter((s, i) => i === 0 || list[i - 1] !== s);
}

describe("start and stop (§18.2, §18.5)", () => {
  it("start waits for running; stop ends the group and answers stopped", async () => {
    const h = harness();
    h.add("a", ["--name", "alpha"]);
    const running = await h.sup.start("a");
    expect(running).toMatchObject({
      server_id: "a",
      desired: "running",
      status: "running",
      node_id: "node-1",
      restarts: 0,
      last_error: null,
      server_info: { name: "alpha", version: "1.2.3" },
      tool_count: 7,
      command: `${process.execPath} ${CONFIGURABLE_SERVER} --name alpha`,
    });
    expect(running.pid).toEqual(expect.any(Number));
    expect(running.started_at).toEqual(expect.any(Number));
    expect(liveMembers(running.pid!)).toEqual([running.pid]);

    const stopped = await h.sup.stop("a");
    expect(stopped).toMatchObject({ status: "stopped", desired: "stopped", pid: null, started_at: null, tool_count: null });
    // SIGTERM follows the end of stdin at once; a server quick to leave on EOF may exit 0 first.
    expect([-15, 0]).toContain(stopped.return_code);
    expect(liveMembers(running.pid!)).toEqual([]);
    expect(h.gone).toEqual([running.pid]);
    expect(steps(h.statuses("a"))).toEqual(["starting", "running", "stopping", "stopped"]);
    const lines = h.messages("a", "supervisor");
    expect(lines[0]).toBe("start requested");
    expect(lines[1]).toBe(`spawned ${running.command} with pid ${running.pid}`);
    expect(lines[2]).toMatch(/^handshake done in \d+ ms \(alpha 1\.2\.3, protocol \d{4}-\d{2}-\d{2}\); 7 tools$/);
    expect(lines.slice(3, 5)).toEqual(["stop requested", `sending SIGTERM to process group ${running.pid}`]);
    expect(lines[5]).toMatch(/^stopped \(the process (was killed by signal SIGTERM|exited with code 0)\)$/);
    expect(lines).toHaveLength(6);
  });

  it("409 for a second start, for a stop of a stopped server; 404 for an unknown server", async () => {
    const h = harness();
    h.add("a", []);
    await expect(h.sup.stop("a")).rejects.toMatchObject({ code: 409, message: "Server 'a' is not running" });
    await h.sup.start("a");
    await expect(h.sup.start("a")).rejects.toMatchObject({ code: 409, message: "Server 'a' is already running" });
    await h.sup.stop("a");
    await expect(h.sup.stop("a")).rejects.toMatchObject({ code: 409, message: "Server 'a' is not running" });
    await expect(h.sup.start("zzz")).rejects.toMatchObject({ code: 404, message: "Server 'zzz' not found" });
    await expect(h.sup.start("a")).resolves.toMatchObject({ status: "running" });
  });

  it("a start that fails is an error state with the stderr tail (not a rejection), the group gone", async () => {
    const h = harness();
    h.add("bad", ["--stderr-line", "cannot open database", "--crash-after-ms", "0", "--exit-code", "3", "--no-initialize"]);
    const s = await h.sup.start("bad");
    expect(s).toMatchObject({ status: "error", desired: "running", return_code: 3, pid: null });
    expect(s.last_error).toBe(
      "The process exited with code 3 before the MCP handshake finished; last stderr lines:\ncannot open database\ncrashing on cue",
    );
    expect(h.messages("bad", "stderr")).toEqual(["cannot open database", "crashing on cue"]);
    expect(h.messages("bad", "supervisor")).toContain(
      "start failed: The process exited with code 3 before the MCP handshake finished; last stderr lines: cannot open database | crashing on cue",
    );
    // A failed manual start is not retried.
    expect(steps(h.statuses("bad"))).toEqual(["starting", "error"]);
  });

  it("a handshake that exceeds startup_timeout_s ends in error with the group killed", async () => {
    const h = harness();
    h.add("slow", ["--no-initialize", "--grandchild"], { startup_timeout_s: 3 });
    const s = await h.sup.start("slow");
    expect(s.status).toBe("error");
    expect(s.last_error).toMatch(/^The MCP handshake did not finish within 3 s; last stderr lines:\ngrandchild pid \d+$/);
  });

  it("a program that cannot be spawned, or a command that cannot be split, ends in error", async () => {
    const h = harness();
    h.add("nope", [], { command: "/no/such/program", args: [] });
    expect(await h.sup.start("nope")).toMatchObject({
      status: "error",
      last_error: expect.stringContaining("Cannot start '/no/such/program': program not found"),
    });
    h.add("quote", [], { command: "node 'server.js", args: [] });
    expect(await h.sup.start("quote")).toMatchObject({ status: "error", last_error: "Cannot split the command: unbalanced single quote" });
  });

  it("stop during starting cancels the start and ends stopped once the group is gone", async () => {
    const h = harness();
    h.add("hang", ["--no-initialize"], { startup_timeout_s: 60 });
    const starting = h.sup.start("hang");
    await eventually(() => h.sup.get("hang")?.pid != null, 10_000, "the spawn");
    const stopped = await h.sup.stop("hang");
    expect(stopped).toMatchObject({ status: "stopped", desired: "stopped", pid: null });
    expect((await starting).status).toBe("stopped");
  });

  it("restart stops and starts: a new process, counts reset", async () => {
    const h = harness();
    h.add("a", []);
    const first = await h.sup.start("a");
    const second = await h.sup.restart("a");
    expect(second).toMatchObject({ status: "running", restarts: 0 });
    expect(second.pid).not.toBe(first.pid);
    expect(liveMembers(first.pid!)).toEqual([]);
    expect(steps(h.statuses("a"))).toEqual(["starting", "running", "stopping", "starting", "running"]);
  });

  it("stop removes a grandchild that ignores SIGTERM (group SIGKILL after the grace period)", async () => {
    const h = harness();
    h.add("stubborn", ["--grandchild", "--ignore-sigterm"]);
    const s = await h.sup.start("stubborn");
    await eventually(() => h.messages("stubborn", "stderr").some((m) => m.startsWith("grandchild pid ")), 10_000, "the grandchild");
    const gc = Number(
      h
        .messages("stubborn", "stderr")
        .find((m) => m.startsWith("grandchild pid "))!
        .split(" ")[2],
    );
    watch.addPid(gc);
    expect(liveMembers(s.pid!).sort()).toEqual([s.pid, gc].sort());
    const stopped = await h.sup.stop("stubborn");
    expect(stopped).toMatchObject({ status: "stopped", return_code: -9 });
    expect(pidAlive(gc)).toBe(false);
    expect(liveMembers(s.pid!)).toEqual([]);
    expect(h.messages("stubborn", "supervisor")).toContain(`process group ${s.pid} outlived SIGTERM; sent SIGKILL`);
  });

  it("caps the processes of a replica: 409 process limit reached", async () => {
    const h = harness({ maxProcesses: 1 });
    h.add("a", []);
    h.add("b", []);
    await h.sup.start("a");
    await expect(h.sup.start("b")).rejects.toMatchObject({ code: 409, message: "process limit reached" });
    expect(h.sup.processCount()).toBe(1);
    await h.sup.stop("a");
    await expect(h.sup.start("b")).resolves.toMatchObject({ status: "running" });
  });

  it("wait: false answers at once with starting", async () => {
    const h = harness();
    h.add("a", []);
    const s = await h.sup.start("a", { wait: false });
    expect(s.status).toBe("starting");
    await eventually(() => h.sup.get("a")?.status === "running", 20_000, "running");
  });
});

describe("unexpected exits and the restart policy (§18.3)", () => {
  it("a crash is seen, restarted with backoff, and after max_restarts the state stays error", async () => {
    const h = harness({ backoffBaseMs: 100, random: () => 0.5 });
    h.add("crashy", ["--crash-after-list-ms", "200", "--exit-code", "2"], { max_restarts: 2 });
    await h.sup.start("crashy");
    await eventually(() => h.sup.get("crashy")?.status === "error", 60_000, "error after the restarts");
    const s = h.sup.get("crashy")!;
    expect(s).toMatchObject({ status: "error", desired: "running", restarts: 2, return_code: 2, pid: null });
    expect(s.last_error).toBe(
      "The process exited with code 2 unexpectedly; last stderr lines:\ncrashing on cue\n(gave up after 3 failures in a row)",
    );
    expect(steps(h.statuses("crashy"))).toEqual(["starting", "running", "backoff", "starting", "running", "backoff", "starting", "running", "error"]);
    const lines = h.messages("crashy", "supervisor");
    expect(lines).toContain("restart 1 of 2 in 0.1 s");
    expect(lines).toContain("restart 2 of 2 in 0.2 s");
    expect(lines).toContain("giving up after 3 failures in a row (max_restarts 2)");
    expect(lines.filter((l) => l === "the process exited with code 2")).toHaveLength(3);
    // A manual start begins again from zero.
    const again = await h.sup.start("crashy");
    expect(again).toMatchObject({ status: "running", restarts: 0 });
  });

  it("the backoff waits at least its delay before the next start", async () => {
    const h = harness({ backoffBaseMs: 400, random: () => 0 });
    h.add("once", ["--crash-after-list-ms", "100"], { max_restarts: 1 });
    const at: Record<string, number> = {};
    h.onState = (snap) => {
      if (snap.status === "backoff" && at.backoff === undefined) at.backoff = Date.now();
      if (snap.status === "starting" && at.backoff !== undefined && at.restart === undefined) at.restart = Date.now();
    };
    await h.sup.start("once");
    await eventually(() => at.restart !== undefined, 30_000, "the restart");
    // 400 ms × 0.8 (jitter at random 0) = 320 ms at least.
    expect(at.restart - at.backoff).toBeGreaterThanOrEqual(315);
    expect(h.messages("once", "supervisor")).toContain("restart 1 of 1 in 0.3 s");
  });

  it("a clean exit is not restarted under on-failure: stopped with desired stopped", async () => {
    const h = harness();
    h.add("done", ["--crash-after-list-ms", "200", "--exit-code", "0"]);
    await h.sup.start("done");
    await eventually(() => h.sup.get("done")?.status === "stopped", 20_000, "stopped");
    expect(h.sup.get("done")).toMatchObject({ desired: "stopped", return_code: 0, restarts: 0 });
    expect(h.messages("done", "supervisor")).toContain("the server ended by itself with code 0; not restarted");
  });

  it("always restarts after a clean exit; never leaves error after a crash", async () => {
    const h = harness();
    h.add("always", ["--crash-after-list-ms", "200", "--exit-code", "0"], { restart: "always", max_restarts: 1 });
    h.add("never", ["--crash-after-list-ms", "200", "--exit-code", "1"], { restart: "never" });
    await Promise.all([h.sup.start("always"), h.sup.start("never")]);
    await eventually(() => h.sup.get("always")?.status === "error" && h.sup.get("never")?.status === "error", 30_000, "both in error");
    expect(h.sup.get("always")).toMatchObject({ restarts: 1 });
    expect(h.sup.get("never")).toMatchObject({ restarts: 0, return_code: 1 });
    expect(steps(h.statuses("never"))).toEqual(["starting", "running", "error"]);
  });

  it("a SIGKILL from outside is seen and reported as −9; the group's leftovers are cleaned", async () => {
    const h = harness();
    h.add("victim", ["--grandchild"], { restart: "never" });
    const s = await h.sup.start("victim");
    await eventually(() => h.messages("victim", "stderr").some((m) => m.startsWith("grandchild pid ")), 10_000, "the grandchild");
    const gc = Number(
      h
        .messages("victim", "stderr")
        .find((m) => m.startsWith("grandchild pid "))!
        .split(" ")[2],
    );
    watch.addPid(gc);
    process.kill(s.pid!, "SIGKILL");
    await eventually(() => h.sup.get("victim")?.status === "error", 10_000, "the crash to be seen");
    expect(h.sup.get("victim")).toMatchObject({ return_code: -9, pid: null });
    expect(h.messages("victim", "supervisor")).toContain("the process was killed by signal SIGKILL");
    await h.sup.idle();
    expect(pidAlive(gc)).toBe(false);
  });
});

describe("health (§20)", () => {
  it("ping: healthy, degraded when slow, error when not running", async () => {
    const h = harness();
    h.add("fast", []);
    h.add("slow", ["--ping-delay-ms", "200"], { degraded_latency_ms: 50 });
    expect(await h.sup.ping("fast", "alice")).toMatchObject({
      status: "error",
      message: "not running (status: stopped)",
      actor: "alice",
      latency_ms: null,
      plan_id: null,
    });
    await Promise.all([h.sup.start("fast"), h.sup.start("slow")]);
    expect(await h.sup.ping("fast", "alice")).toMatchObject({ status: "healthy", actor: "alice", message: null });
    const slow = await h.sup.ping("slow", null);
    expect(slow.status).toBe("degraded");
    expect(slow.latency_ms!).toBeGreaterThanOrEqual(200);
    expect(h.health).toHaveLength(3);
  });

  it("three failed periodic checks end the group and apply the restart policy", async () => {
    const h = harness({ healthIntervalMs: 100, pingTimeoutMs: 200 });
    h.add("mute", ["--ping-delay-ms", "60000"], { restart: "never" });
    const s = await h.sup.start("mute");
    await eventually(() => h.sup.get("mute")?.status === "error", 30_000, "error after three failed checks");
    const checks = h.health.filter((c) => c.actor === "scheduler");
    expect(checks.slice(0, 3).map((c) => [c.status, c.message])).toEqual([
      ["error", "no answer within 200 ms"],
      ["error", "no answer within 200 ms"],
      ["error", "no answer within 200 ms"],
    ]);
    expect(h.sup.get("mute")!.last_error).toBe("3 health checks failed in a row (last: no answer within 200 ms)");
    expect(h.messages("mute", "supervisor")).toContain(`3 health checks failed in a row; ending process group ${s.pid}`);
    expect(liveMembers(s.pid!)).toEqual([]);
  });
});

describe("tools through the supervisor (§21)", () => {
  it("lists and calls; 409 not running, 404 unknown tool, 504 timeout (still usable), 502 death", async () => {
    const h = harness();
    h.add("t", [], { restart: "never", tool_timeout_s: 1 });
    await expect(h.sup.tools("t")).rejects.toMatchObject({ code: 409, message: "Server 't' is not running" });
    await h.sup.start("t");
    expect((await h.sup.tools("t")).tools).toHaveLength(7);
    await expect(h.sup.callTool("t", "nope", {})).rejects.toMatchObject({ code: 404, message: "Tool 'nope' not found on server 't'" });
    const ok = await h.sup.callTool("t", "usage", {}, { timeoutMs: 10_000 });
    expect(ok.usage).toEqual({ tokens_in: 12, tokens_out: 34, cost_usd: 0.0056 });
    // tool_timeout_s = 1 is the default timeout.
    const timeout = await h.sup.callTool("t", "sleep", { ms: 30_000 }).catch((e: unknown) => e);
    expect(timeout).toBeInstanceOf(ToolTimeoutError);
    expect((timeout as ContractError).message).toBe("Tool 'sleep' timed out after 1000 ms");
    expect((await h.sup.callTool("t", "echo", { text: "ok" }, { timeoutMs: 10_000 })).result.content).toEqual([{ type: "text", text: "ok" }]);
    const death = await h.sup.callTool("t", "exit", { code: 5 }, { timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(death).toBeInstanceOf(ConnectionClosedError);
    expect((death as ContractError).code).toBe(502);
    await eventually(() => h.sup.get("t")?.status === "error", 10_000, "the death to be seen");
    expect(h.sup.get("t")!.return_code).toBe(5);
    await expect(h.sup.callTool("t", "echo", { text: "x" })).rejects.toMatchObject({ code: 409 });
  });

  it("beforeSend runs after the checks, just before the call is sent; when it rejects nothing is sent", async () => {
    const h = harness();
    h.add("t", []);
    const hooks: string[] = [];
    const noting = (label: string) => async () => {
      hooks.push(label);
    };
    await expect(h.sup.callTool("t", "log", { text: "x" }, { beforeSend: noting("not running") })).rejects.toMatchObject({ code: 409 });
    await h.sup.start("t");
    await expect(h.sup.callTool("t", "nope", {}, { beforeSend: noting("unknown tool") })).rejects.toMatchObject({ code: 404 });
    expect(hooks).toEqual([]);
    const refused = new Error("Session 's' is closed");
    const refusing = async () => {
      hooks.push("refused");
      throw refused;
    };
    await expect(h.sup.callTool("t", "log", { text: "never sent" }, { beforeSend: refusing })).rejects.toBe(refused);
    const ok = await h.sup.callTool("t", "log", { text: "sent after" }, { timeoutMs: 10_000, beforeSend: noting("accepted") });
    expect(ok.result.content).toEqual([{ type: "text", text: "logged" }]);
    expect(hooks).toEqual(["refused", "accepted"]);
    // One process, one stderr pipe: had the refused call been sent, its line would have come first.
    await eventually(() => h.messages("t", "stderr").includes("sent after"), 10_000, "the sent call's line");
    expect(h.messages("t", "stderr")).not.toContain("never sent");
  });

  it("updates tool_count on list_changed", async () => {
    const h = harness();
    h.add("t", []);
    await h.sup.start("t");
    await h.sup.callTool("t", "add_tool", { name: "fresh" }, { timeoutMs: 10_000 });
    await eventually(() => h.sup.get("t")?.tool_count === 8, 10_000, "tool_count 8");
    expect(h.messages("t", "supervisor")).toContain("tool list changed: 8 tools");
  });
});

describe("secrets (§24)", () => {
  it("hands the secret in secret_env and masks it in stderr lines and last_error", async () => {
    const h = harness();
    const secret = "ghp_abcdefSECRET";
    h.add("s", ["--print-env", "S_API_KEY", "--crash-after-list-ms", "300", "--exit-code", "4"], { restart: "never" });
    h.secrets.set("s", secret);
    await h.sup.start("s");
    await eventually(() => h.sup.get("s")?.status === "error", 20_000, "the crash");
    expect(h.messages("s", "stderr")).toContain("error: key *** rejected");
    expect(h.sup.get("s")!.last_error).toContain("error: key *** rejected");
    const everything = JSON.stringify({ logs: h.logs, states: h.states });
    expect(everything).not.toContain(secret);
  });
});

describe("shutdown (§18.4)", () => {
  it("ends every group and keeps desired running for a takeover", async () => {
    const h = harness();
    h.add("a", []);
    h.add("b", ["--grandchild", "--ignore-sigterm"]);
    const [a, b] = await Promise.all([h.sup.start("a"), h.sup.start("b")]);
    await h.sup.shutdown();
    expect(h.sup.get("a")).toMatchObject({ status: "stopped", desired: "running" });
    expect(h.sup.get("b")).toMatchObject({ status: "stopped", desired: "running" });
    expect(liveMembers(a.pid!)).toEqual([]);
    expect(liveMembers(b.pid!)).toEqual([]);
    await expect(h.sup.start("a")).rejects.toMatchObject({ code: 409 });
  });
});
