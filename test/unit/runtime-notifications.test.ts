/**
 * services/runtime/notifications.ts (runtime-contract §23.2): which transitions become notifications,
 * with which severity, and stable ids.
 */
import { notificationOf } from "../../services/runtime/notifications";
import type { Transition } from "../../services/runtime/store";

function t(fields: Partial<Transition>): Transition {
  return {
    id: 7,
    server_id: "echo",
    kind: "process",
    from_status: "running",
    to_status: "error",
    at: "2026-01-02T03:04:05Z",
    restarts: 0,
    detail: null,
    node_id: "n1",
    ...fields,
  };
}

describe("notificationOf", () => {
  it("a process entering error is critical, with its last_error", () => {
    expect(notificationOf(t({ detail: "exited with code 1: boom" }))).toEqual({
      id: "transition-7",
      severity: "critical",
      title: "Server 'echo' failed",
      message: "exited with code 1: boom",
      timestamp: "2026-01-02T03:04:05Z",
      category: "operations",
      tags: ["server:echo", "process", "error"],
    });
    expect(notificationOf(t({ from_status: "starting", detail: null }))?.message).toBe("The process of 'echo' entered error (was starting)");
  });

  it("an automatic restart is a warning; running again after restarts is a recovery", () => {
    expect(notificationOf(t({ from_status: "backoff", to_status: "starting", restarts: 2, detail: "exit 1" }))).toMatchObject({
      severity: "warning",
      title: "Server 'echo' restarted after a failure",
      message: "Automatic restart 2 after: exit 1",
    });
    expect(notificationOf(t({ from_status: "starting", to_status: "running", restarts: 1 }))).toMatchObject({
      severity: "success",
      title: "Server 'echo' recovered",
      message: "Running again after 1 automatic restart",
    });
  });

  it("a normal start and stop are not notifications", () => {
    for (const [from, to] of [
      ["stopped", "starting"],
      ["starting", "running"],
      ["running", "stopping"],
      ["stopping", "stopped"],
      ["running", "backoff"],
    ]) {
      expect(notificationOf(t({ from_status: from, to_status: to, restarts: 0 }))).toBeNull();
    }
  });

  it("health: degraded and error are warnings, healthy again is a recovery, a first healthy check nothing", () => {
    const health = (from: string | null, to: string, detail: string | null = null) =>
      notificationOf(t({ kind: "health", from_status: from, to_status: to, restarts: null, detail }));
    expect(health("healthy", "degraded", "answered in 300 ms (slower than 100 ms)")).toMatchObject({
      severity: "warning",
      title: "Server 'echo' is degraded",
      message: "answered in 300 ms (slower than 100 ms)",
      tags: ["server:echo", "health", "degraded"],
    });
    expect(health(null, "error", "no answer within 5000 ms")).toMatchObject({ severity: "warning", title: "Server 'echo' failed a health check" });
    expect(health("degraded", "healthy")).toMatchObject({ severity: "success", title: "Server 'echo' is healthy again" });
    expect(health(null, "healthy")).toBeNull();
  });
});
