/**
 * The runtime store (services/runtime/store.ts, migration 011), shared by the SQLite run
 * (test/services/runtime-store.test.ts) and the PostgreSQL run (test/pg/runtime-store.test.ts).
 * Replicas are separate Knex instances on one store (on SQLite each is a connection of its own to
 * one file, as two processes would have), so concurrent claims and appends really race.
 */
import type { Knex } from "knex";
import { createKnex, createReadKnex, KnexSettings } from "../../lib/store/knex";
import { migrateToLatest, rollbackAll } from "../../lib/store/migrate";
import { LogAppender, LogBacklogFull } from "../../services/runtime/log-appender";
import { parseLogCursor } from "../../services/runtime/log-cursor";
import {
  addProcessGroup,
  appendHealthCheck,
  appendLogs,
  claimLease,
  deleteServerRuntime,
  HealthStatus,
  initDesired,
  listLeases,
  listNotableTransitions,
  listProcessGroups,
  listTransitions,
  listUnowned,
  LogEntryInput,
  ProcessStateWrite,
  readHealthChecks,
  readLease,
  readLogsAfter,
  readProcessViews,
  readRecentLogs,
  readState,
  readStates,
  releaseLease,
  releaseNodeLeases,
  removeProcessGroup,
  renewLease,
  renewNodeLeases,
  setDesired,
  TRANSITION_RETENTION_MS,
  writeState,
} from "../../services/runtime/store";

/** A store of its own: the settings to open it and how to remove it. */
export interface RuntimeStore {
  settings: KnexSettings;
  drop(): Promise<void>;
}

const RUNTIME_TABLES = [
  "runtime_processes",
  "runtime_leases",
  "runtime_process_groups",
  "runtime_log_counters",
  "runtime_logs",
  "runtime_health_checks",
  "runtime_transitions",
];

const T0 = Date.parse("2026-03-01T10:00:00Z");
const TTL = 15_000;

function stateOf(serverId: string, overrides: Partial<ProcessStateWrite> = {}): ProcessStateWrite {
  return {
    server_id: serverId,
    status: "running",
    command: "node server.js --port 1",
    pid: 4242,
    node_id: "node-a",
    started_at: T0,
    stopped_at: null,
    return_code: null,
    last_error: null,
    restarts: 0,
    server_info: { name: "demo", version: "1.2.3", protocol_version: "2025-06-18" },
    tool_count: 7,
    ...overrides,
  };
}

function lines(n: number, tag: string): LogEntryInput[] {
  return Array.from({ length: n }, (_, i) => ({
    timestamp: T0 + i,
    level: "info" as const,
    source: "stderr" as const,
    message: `${tag} ${i}`,
  }));
}

function ids(entries: { id: string }[]): number[] {
  return entries.map((e) => Number(e.id));
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

export function runtimeStoreSuite(label: string, makeStore: () => Promise<RuntimeStore>): void {
  describe(`${label}: runtime store (§18–§20)`, () => {
    let store: RuntimeStore;
    /** The writer of replica A, the writer of replica B, and A's read pool. */
    let a: Knex;
    let b: Knex;
    let reader: Knex;

    beforeAll(async () => {
      store = await makeStore();
      a = createKnex(store.settings);
      await migrateToLatest(a);
      b = createKnex(store.settings);
      reader = createReadKnex(store.settings);
    });

    afterAll(async () => {
      await Promise.all([a, b, reader].filter((k) => k !== undefined).map((k) => k.destroy()));
      await store?.drop();
    });

    beforeEach(async () => {
      for (const table of RUNTIME_TABLES) await a(table).delete();
    });

    describe("process state (§18.1)", () => {
      it("reads null for a server never written, and writes and reads every field", async () => {
        expect(await readState(a, "demo")).toBeNull();
        expect(await readStates(reader)).toEqual([]);
        expect(
          await writeState(a, stateOf("demo", { stopped_at: "2026-03-01T09:59:58.5+01:00", return_code: -15, restarts: 2 }), { nowMs: T0 + 5 }),
        ).toBe(true);
        const expected = {
          server_id: "demo",
          desired: "stopped",
          status: "running",
          command: "node server.js --port 1",
          pid: 4242,
          node_id: "node-a",
          started_at: "2026-03-01T10:00:00Z",
          stopped_at: "2026-03-01T08:59:58.500Z",
          return_code: -15,
          last_error: null,
          restarts: 2,
          server_info: { name: "demo", version: "1.2.3", protocol_version: "2025-06-18" },
          tool_count: 7,
          updated_at: "2026-03-01T10:00:00.005Z",
        };
        expect(await readState(a, "demo")).toEqual(expected);
        expect(await readStates(reader)).toEqual([expected]);
        expect(await readState(b, "other")).toBeNull();
      });

      it("keeps the operator's desired state when the owner writes its observations", async () => {
        await setDesired(a, "demo", "running", T0);
        const created = await readState(a, "demo");
        expect(created).toMatchObject({ desired: "running", status: "stopped", command: null, pid: null, restarts: 0, server_info: null });
        await writeState(b, stateOf("demo", { status: "starting" }));
        expect(await readState(a, "demo")).toMatchObject({ desired: "running", status: "starting", pid: 4242 });
        await setDesired(b, "demo", "stopped");
        await writeState(a, stateOf("demo", { status: "running" }));
        expect((await readState(a, "demo"))?.desired).toBe("stopped");
        // A clean exit the policy does not restart sets desired itself (§18.3).
        await writeState(a, stateOf("demo", { status: "stopped", pid: null, return_code: 0, desired: "stopped" }));
        await setDesired(a, "demo", "running");
        await writeState(a, stateOf("demo", { status: "stopped", desired: "stopped" }));
        expect(await readState(a, "demo")).toMatchObject({ desired: "stopped", status: "stopped", pid: 4242 });
      });

      it("gives a first desired state only to a server without one (autostart), keeping the operator's", async () => {
        expect(await initDesired(a, "auto", "running", T0)).toBe(true);
        expect(await readState(a, "auto")).toMatchObject({ desired: "running", status: "stopped", updated_at: "2026-03-01T10:00:00Z" });
        await setDesired(b, "auto", "stopped", T0 + 1);
        expect(await initDesired(b, "auto", "running", T0 + 2)).toBe(false);
        expect(await readState(a, "auto")).toMatchObject({ desired: "stopped", updated_at: "2026-03-01T10:00:00.001Z" });
        await writeState(a, stateOf("started"));
        expect(await initDesired(a, "started", "running")).toBe(false);
        expect(await readState(a, "started")).toMatchObject({ desired: "stopped", status: "running" });
      });

      it("reads the process views of a list of servers in one snapshot: records and their newest logs", async () => {
        await writeState(a, stateOf("s1"), { nowMs: T0 });
        await appendLogs(a, "s1", lines(25, "s1"));
        await appendLogs(b, "logs-only", lines(2, "lo"));
        const views = await readProcessViews(reader, ["s1", "never", "logs-only"]);
        expect([...views.keys()]).toEqual(["s1", "never", "logs-only"]);
        expect(views.get("s1")?.record).toEqual(await readState(a, "s1"));
        expect(ids(views.get("s1")!.logs)).toEqual(range(6, 25));
        expect(views.get("s1")?.cursor).toBe("25");
        expect(views.get("never")).toEqual({ record: null, logs: [], cursor: null });
        expect(views.get("logs-only")).toMatchObject({ record: null, cursor: "2" });
        expect((await readProcessViews(reader, ["s1"], 2)).get("s1")?.logs.map((e) => e.message)).toEqual(["s1 23", "s1 24"]);
        expect((await readProcessViews(reader, [])).size).toBe(0);
      });

      it("keeps text every backend can store: NUL and lone surrogates replaced, last_error cut at 2,000", async () => {
        // 7 characters, 1,992 more, then an emoji whose first half is the 2,000th character.
        const lastError = `crash\u0000 ${"é".repeat(1992)}\ud83d\ude00 tail`;
        await writeState(a, stateOf("demo", { status: "error", command: "run \u0000 \udc00x", last_error: lastError }));
        const got = await readState(reader, "demo");
        expect(got?.command).toBe("run \uFFFD \uFFFDx");
        expect(got?.last_error).toHaveLength(2000);
        // The cut fell between the halves of the emoji: the lone half is replaced, not stored.
        expect(got?.last_error).toBe(`crash\uFFFD ${"é".repeat(1992)}\uFFFD`);
      });

      it("records each status change as a transition, and drops transitions older than 7 days", async () => {
        await writeState(a, stateOf("demo", { status: "starting", restarts: 0 }), { nowMs: T0 });
        await writeState(a, stateOf("demo", { status: "running" }), { nowMs: T0 + 1000 });
        await writeState(a, stateOf("demo", { status: "running", tool_count: 9 }), { nowMs: T0 + 2000 });
        await writeState(a, stateOf("demo", { status: "backoff", restarts: 1, last_error: "exit 1" }), { nowMs: T0 + 3000 });
        await writeState(a, stateOf("quiet", { status: "stopped", pid: null }), { nowMs: T0 + 3000 });
        const found = await listTransitions(reader, T0, 50);
        expect(found.map((t) => [t.server_id, t.kind, t.from_status, t.to_status, t.restarts, t.detail, t.at])).toEqual([
          ["demo", "process", "running", "backoff", 1, "exit 1", "2026-03-01T10:00:03Z"],
          ["demo", "process", "starting", "running", 0, null, "2026-03-01T10:00:01Z"],
          ["demo", "process", "stopped", "starting", 0, null, "2026-03-01T10:00:00Z"],
        ]);
        expect(new Set(found.map((t) => t.id)).size).toBe(3);
        expect(await listTransitions(reader, T0 + 1000, 1)).toEqual([found[0]]);
        await writeState(a, stateOf("demo", { status: "running" }), { nowMs: T0 + TRANSITION_RETENTION_MS + 1500 });
        const later = await listTransitions(reader, 0, 50);
        expect(later.map((t) => t.to_status)).toEqual(["running", "backoff"]);
      });

      it("fences the owner's writes by its lease: a replica that lost the lease writes nothing", async () => {
        const first = await claimLease(a, { serverId: "demo", nodeId: "node-a", nowMs: T0, ttlMs: TTL });
        expect(first.claimed).toBe(true);
        const fenceA = { node_id: "node-a", generation: first.lease!.generation };
        expect(await writeState(a, stateOf("demo", { pid: 1 }), { fence: fenceA })).toBe(true);
        const second = await claimLease(b, { serverId: "demo", nodeId: "node-b", nowMs: T0 + TTL, ttlMs: TTL });
        expect(second).toMatchObject({ claimed: true, lease: { node_id: "node-b", generation: 2 } });
        expect(await writeState(a, stateOf("demo", { pid: 2 }), { fence: fenceA })).toBe(false);
        expect((await readState(a, "demo"))?.pid).toBe(1);
        expect(await writeState(b, stateOf("demo", { pid: 3, node_id: "node-b" }), { fence: { node_id: "node-b", generation: 2 } })).toBe(true);
        expect(await readState(a, "demo")).toMatchObject({ pid: 3, node_id: "node-b" });
        expect(await writeState(a, stateOf("nobody"), { fence: fenceA })).toBe(false);
        expect(await readState(a, "nobody")).toBeNull();
      });
    });

    describe("ownership leases (§18.4)", () => {
      it("claims a free server, refuses a live lease, and takes over an expired or dead owner's", async () => {
        const claimed = await claimLease(a, { serverId: "demo", nodeId: "node-a", nowMs: T0, ttlMs: TTL });
        expect(claimed).toEqual({
          claimed: true,
          lease: { server_id: "demo", node_id: "node-a", lease_expires_at: "2026-03-01T10:00:15Z", generation: 1 },
        });
        const refused = await claimLease(b, { serverId: "demo", nodeId: "node-b", nowMs: T0 + TTL - 1, ttlMs: TTL });
        expect(refused).toEqual({ claimed: false, lease: claimed.lease });
        expect(await claimLease(a, { serverId: "demo", nodeId: "node-a", nowMs: T0 + 1, ttlMs: TTL })).toEqual({
          claimed: false,
          lease: claimed.lease,
        });
        // Dead nodes other than the owner change nothing; the owner among them does.
        expect((await claimLease(b, { serverId: "demo", nodeId: "node-b", nowMs: T0 + 1, ttlMs: TTL, deadNodes: ["node-c"] })).claimed).toBe(false);
        const takeover = await claimLease(b, { serverId: "demo", nodeId: "node-b", nowMs: T0 + 1, ttlMs: TTL, deadNodes: ["node-c", "node-a"] });
        expect(takeover).toEqual({
          claimed: true,
          lease: { server_id: "demo", node_id: "node-b", lease_expires_at: "2026-03-01T10:00:15.001Z", generation: 2 },
        });
        // At its expiry instant the lease has lapsed.
        const expired = await claimLease(a, { serverId: "demo", nodeId: "node-a", nowMs: T0 + 1 + TTL, ttlMs: TTL });
        expect(expired).toMatchObject({ claimed: true, lease: { node_id: "node-a", generation: 3 } });
        expect(await readLease(reader, "demo")).toEqual(expired.lease);
        expect(await readLease(reader, "never")).toBeNull();
      });

      it("renews only the holder's generation, releases without restarting the generation", async () => {
        await claimLease(a, { serverId: "s1", nodeId: "node-a", nowMs: T0, ttlMs: TTL });
        await claimLease(a, { serverId: "s2", nodeId: "node-a", nowMs: T0, ttlMs: TTL });
        await claimLease(b, { serverId: "s3", nodeId: "node-b", nowMs: T0, ttlMs: TTL });
        expect(await renewLease(a, { serverId: "s1", nodeId: "node-a", generation: 2, nowMs: T0 + 1000, ttlMs: TTL })).toBe(false);
        expect(await renewLease(b, { serverId: "s1", nodeId: "node-b", generation: 1, nowMs: T0 + 1000, ttlMs: TTL })).toBe(false);
        // A lapsed lease nobody claimed is still the holder's to renew.
        expect(await renewLease(a, { serverId: "s1", nodeId: "node-a", generation: 1, nowMs: T0 + TTL + 5000, ttlMs: TTL })).toBe(true);
        expect((await readLease(a, "s1"))?.lease_expires_at).toBe("2026-03-01T10:00:35Z");
        expect(await renewNodeLeases(b, "node-a", T0 + 60_000, TTL)).toEqual(["s1", "s2"]);
        expect((await listLeases(reader)).map((l) => [l.server_id, l.lease_expires_at])).toEqual([
          ["s1", "2026-03-01T10:01:15Z"],
          ["s2", "2026-03-01T10:01:15Z"],
          ["s3", "2026-03-01T10:00:15Z"],
        ]);
        expect(await releaseLease(b, { serverId: "s1", nodeId: "node-b", generation: 1 })).toBe(false);
        expect(await releaseLease(a, { serverId: "s1", nodeId: "node-a", generation: 1 })).toBe(true);
        expect(await readLease(a, "s1")).toEqual({ server_id: "s1", node_id: null, lease_expires_at: null, generation: 1 });
        expect(await renewLease(a, { serverId: "s1", nodeId: "node-a", generation: 1, nowMs: T0, ttlMs: TTL })).toBe(false);
        const again = await claimLease(b, { serverId: "s1", nodeId: "node-b", nowMs: T0, ttlMs: TTL });
        expect(again).toMatchObject({ claimed: true, lease: { node_id: "node-b", generation: 2 } });
        expect(await releaseNodeLeases(a, "node-a")).toEqual(["s2"]);
        expect(await releaseNodeLeases(a, "node-a")).toEqual([]);
        expect((await listLeases(reader)).map((l) => [l.server_id, l.node_id])).toEqual([
          ["s1", "node-b"],
          ["s2", null],
          ["s3", "node-b"],
        ]);
      });

      it("lists the servers desired running without a live owner", async () => {
        for (const id of ["free", "expired", "dead", "released", "owned", "stopped-owned", "wanted-stopped"]) {
          await setDesired(a, id, id === "wanted-stopped" ? "stopped" : "running", T0);
        }
        await setDesired(a, "stopped-owned", "stopped", T0);
        await claimLease(a, { serverId: "expired", nodeId: "node-a", nowMs: T0 - TTL, ttlMs: TTL });
        await claimLease(a, { serverId: "dead", nodeId: "node-c", nowMs: T0, ttlMs: TTL });
        const rel = await claimLease(a, { serverId: "released", nodeId: "node-a", nowMs: T0, ttlMs: TTL });
        await releaseLease(a, { serverId: "released", nodeId: "node-a", generation: rel.lease!.generation });
        await claimLease(a, { serverId: "owned", nodeId: "node-a", nowMs: T0, ttlMs: TTL });
        await claimLease(a, { serverId: "stopped-owned", nodeId: "node-c", nowMs: T0, ttlMs: TTL });
        // A lease with no process row (never desired) is not a candidate.
        await claimLease(a, { serverId: "orphan", nodeId: "node-c", nowMs: T0 - TTL, ttlMs: TTL });
        expect(await listUnowned(reader, { nowMs: T0, deadNodes: ["node-c"] })).toEqual(["dead", "expired", "free", "released"]);
        expect(await listUnowned(reader, { nowMs: T0 })).toEqual(["expired", "free", "released"]);
        expect(await listUnowned(b, { nowMs: T0 + TTL, deadNodes: [] })).toEqual(["dead", "expired", "free", "owned", "released"]);
      });

      it("lets exactly one of several replicas claim a server at once, first and after expiry", async () => {
        const replicas = [a, b, createKnex(store.settings), createKnex(store.settings)];
        try {
          for (let round = 0; round < 15; round++) {
            const serverId = `race-${round}`;
            for (const [phase, nowMs, generation] of [
              ["first", T0, 1],
              ["after expiry", T0 + TTL, 2],
            ] as const) {
              const results = await Promise.all(replicas.map((k, i) => claimLease(k, { serverId, nodeId: `node-${i}`, nowMs, ttlMs: TTL })));
              const winners = results.filter((r) => r.claimed);
              expect({ round, phase, winners: winners.length }).toEqual({ round, phase, winners: 1 });
              const held = await readLease(a, serverId);
              expect(held).toEqual(winners[0].lease);
              expect(held?.generation).toBe(generation);
              for (const r of results.filter((x) => !x.claimed)) expect(r.lease?.node_id).toBe(held?.node_id);
            }
          }
        } finally {
          await Promise.all(replicas.slice(2).map((k) => k.destroy()));
        }
      });
    });

    describe("process-group records (§18.4 hygiene)", () => {
      it("adds, lists by host, replaces a reused pgid, and removes only the recorded leader's", async () => {
        await addProcessGroup(a, { server_id: "s1", host: "h1", pgid: 300, leader_start_time: "111", node_id: "node-a" }, T0);
        await addProcessGroup(a, { server_id: "s2", host: "h1", pgid: 20, leader_start_time: "222", node_id: "node-a" }, T0);
        await addProcessGroup(b, { server_id: "s3", host: "h2", pgid: 300, leader_start_time: "333", node_id: "node-b" }, T0);
        expect(await listProcessGroups(reader, "h1")).toEqual([
          { server_id: "s2", host: "h1", pgid: 20, leader_start_time: "222", node_id: "node-a", created_at: "2026-03-01T10:00:00Z" },
          { server_id: "s1", host: "h1", pgid: 300, leader_start_time: "111", node_id: "node-a", created_at: "2026-03-01T10:00:00Z" },
        ]);
        await addProcessGroup(a, { server_id: "s4", host: "h1", pgid: 300, leader_start_time: "444", node_id: "node-c" }, T0 + 1);
        expect((await listProcessGroups(a, "h1")).map((g) => [g.pgid, g.server_id, g.leader_start_time, g.node_id])).toEqual([
          [20, "s2", "222", "node-a"],
          [300, "s4", "444", "node-c"],
        ]);
        expect(await removeProcessGroup(a, "h1", 300, "111")).toBe(false);
        expect(await removeProcessGroup(a, "h1", 300, "444")).toBe(true);
        expect(await removeProcessGroup(a, "h1", 20)).toBe(true);
        expect(await removeProcessGroup(a, "h1", 20)).toBe(false);
        expect(await listProcessGroups(a, "h1")).toEqual([]);
        expect((await listProcessGroups(a, "h2")).map((g) => g.server_id)).toEqual(["s3"]);
      });
    });

    describe("logs (§19)", () => {
      it("assigns increasing ids per server and reads the newest 20 oldest first", async () => {
        const batch = await appendLogs(a, "demo", lines(25, "line"), 1000);
        expect(ids(batch)).toEqual(range(1, 25));
        expect(batch[0]).toEqual({ id: "1", timestamp: "2026-03-01T10:00:00Z", level: "info", source: "stderr", message: "line 0" });
        expect(ids(await appendLogs(b, "other", lines(2, "x"), 1000))).toEqual([1, 2]);
        expect(ids(await appendLogs(b, "demo", lines(1, "more"), 1000))).toEqual([26]);
        const recent = await readRecentLogs(reader, "demo");
        expect(ids(recent.logs)).toEqual(range(7, 26));
        expect(recent.cursor).toBe("26");
        expect(recent.logs[19].message).toBe("more 0");
        expect(await readRecentLogs(reader, "none")).toEqual({ logs: [], cursor: null });
        expect(await appendLogs(a, "demo", [], 1000)).toEqual([]);
        expect((await readRecentLogs(a, "demo", 1)).cursor).toBe("26");
      });

      it("cuts a line at 4,096 characters and keeps only storable text", async () => {
        const long = `${"a".repeat(4095)}\ud83d\ude00zzz`;
        const [stored, clean] = await appendLogs(a, "demo", [
          { timestamp: "2026-03-01T10:00:00.250Z", level: "error", source: "stderr", message: long },
          { timestamp: T0, level: "warn", source: "supervisor", message: "nul\u0000 and \ud800 lone, pair \ud83d\ude00" },
        ]);
        expect(stored.message).toBe(`${"a".repeat(4095)}\uFFFD`);
        expect(clean.message).toBe("nul\uFFFD and \uFFFD lone, pair \ud83d\ude00");
        const page = await readLogsAfter(reader, "demo", null, 10);
        expect(page.logs).toEqual([
          { id: "1", timestamp: "2026-03-01T10:00:00.250Z", level: "error", source: "stderr", message: stored.message },
          { id: "2", timestamp: "2026-03-01T10:00:00Z", level: "warn", source: "supervisor", message: clean.message },
        ]);
      });

      it("reads after a cursor with a limit, and echoes the cursor when nothing is newer", async () => {
        await appendLogs(a, "demo", lines(10, "l"), 1000);
        const page = await readLogsAfter(reader, "demo", "3", 4);
        expect(ids(page.logs)).toEqual([4, 5, 6, 7]);
        expect(page).toMatchObject({ cursor: "7", truncated: false });
        expect(await readLogsAfter(reader, "demo", parseLogCursor("0010"), 5)).toEqual({ logs: [], cursor: "10", truncated: false });
        expect(await readLogsAfter(reader, "demo", "999999999999999999", 5)).toEqual({ logs: [], cursor: "999999999999999999", truncated: false });
        expect(ids((await readLogsAfter(reader, "demo", null, 200)).logs)).toEqual(range(1, 10));
        expect(ids((await readLogsAfter(a, "demo", "0", 1)).logs)).toEqual([1]);
        expect(await readLogsAfter(reader, "unknown", null, 200)).toEqual({ logs: [], cursor: null, truncated: false });
        expect(await readLogsAfter(reader, "unknown", "5", 200)).toEqual({ logs: [], cursor: "5", truncated: false });
      });

      it("keeps the newest N per server; truncated tells when entries after the cursor were dropped", async () => {
        await appendLogs(a, "demo", lines(5, "l"), 5);
        await appendLogs(a, "keep", lines(3, "k"), 5);
        expect(await readLogsAfter(reader, "demo", null, 100)).toMatchObject({ cursor: "5", truncated: false });
        expect((await readLogsAfter(reader, "demo", null, 100)).logs).toHaveLength(5);
        await appendLogs(b, "demo", lines(1, "sixth"), 5);
        const all = await readLogsAfter(reader, "demo", null, 100);
        expect(ids(all.logs)).toEqual([2, 3, 4, 5, 6]);
        expect(all.truncated).toBe(true);
        expect((await readLogsAfter(reader, "demo", "0", 100)).truncated).toBe(true);
        // Entry 1 is gone, but nothing after cursor 1 is: not truncated.
        const afterOne = await readLogsAfter(reader, "demo", "1", 2);
        expect(ids(afterOne.logs)).toEqual([2, 3]);
        expect(afterOne).toMatchObject({ cursor: "3", truncated: false });
        expect((await readLogsAfter(reader, "demo", "2", 100)).truncated).toBe(false);
        // Another server's retention is its own.
        expect(ids((await readLogsAfter(reader, "keep", null, 100)).logs)).toEqual([1, 2, 3]);
        // A batch longer than the retention: ids for all, only the newest N stored.
        const big = await appendLogs(a, "demo", lines(12, "big"), 5);
        expect(ids(big)).toEqual(range(7, 18));
        const after = await readLogsAfter(reader, "demo", "6", 100);
        expect(ids(after.logs)).toEqual(range(14, 18));
        expect(after.logs.map((e) => e.message)).toEqual(["big 7", "big 8", "big 9", "big 10", "big 11"]);
        expect(after.truncated).toBe(true);
        expect((await readLogsAfter(reader, "demo", "13", 100)).truncated).toBe(false);
        // A smaller retention applies at the next append; a larger one keeps what is left.
        await appendLogs(a, "demo", lines(1, "small"), 2);
        expect(ids((await readLogsAfter(reader, "demo", null, 100)).logs)).toEqual([18, 19]);
        await appendLogs(a, "demo", lines(1, "larger"), 1000);
        expect(ids((await readLogsAfter(reader, "demo", null, 100)).logs)).toEqual([18, 19, 20]);
        expect(await a("runtime_logs").where({ server_id: "demo" }).count({ n: "*" })).toEqual([{ n: 3 }]);
      });

      it("never restarts ids: not after retention dropped every old row, nor after the server is deleted and re-created", async () => {
        for (let i = 0; i < 10; i++) await appendLogs(i % 2 === 0 ? a : b, "demo", lines(1, `one ${i}`), 3);
        expect(ids((await readLogsAfter(reader, "demo", null, 100)).logs)).toEqual([8, 9, 10]);
        expect(ids(await appendLogs(a, "demo", lines(1, "next"), 3))).toEqual([11]);
        await setDesired(a, "demo", "running");
        await appendHealthCheck(a, "demo", { status: "healthy", checked_at: T0, latency_ms: 3, message: null, actor: null });
        await claimLease(a, { serverId: "demo", nodeId: "node-a", nowMs: T0, ttlMs: TTL });
        await addProcessGroup(a, { server_id: "demo", host: "h1", pgid: 77, leader_start_time: "9", node_id: "node-a" });
        await deleteServerRuntime(a, "demo");
        expect(await readState(a, "demo")).toBeNull();
        expect(await readLease(a, "demo")).toBeNull();
        expect(await readHealthChecks(a, "demo", 100)).toEqual([]);
        expect(await readRecentLogs(a, "demo")).toEqual({ logs: [], cursor: null });
        expect(await readLogsAfter(reader, "demo", "10", 100)).toEqual({ logs: [], cursor: "10", truncated: true });
        expect(await readLogsAfter(reader, "demo", "11", 100)).toEqual({ logs: [], cursor: "11", truncated: false });
        expect((await listProcessGroups(a, "h1")).map((g) => g.pgid)).toEqual([77]);
        // Re-created with the same id: the ids continue, old cursors stay meaningful.
        expect(ids(await appendLogs(b, "demo", lines(2, "reborn"), 3))).toEqual([12, 13]);
        expect(await readLogsAfter(reader, "demo", "11", 100)).toMatchObject({ cursor: "13", truncated: false });
        expect(await readLogsAfter(reader, "demo", "5", 100)).toMatchObject({ cursor: "13", truncated: true });
        expect(ids((await readLogsAfter(reader, "demo", "5", 100)).logs)).toEqual([12, 13]);
        // Deleting a server that never logged leaves nothing behind and breaks nothing.
        await deleteServerRuntime(a, "never-logged");
        expect(ids(await appendLogs(a, "never-logged", lines(1, "first"), 3))).toEqual([1]);
      });

      it("gives concurrent appenders of two replicas disjoint consecutive ranges, none lost or doubled", async () => {
        const BATCHES = 20;
        const SIZE = 7;
        const appends: Promise<{ replica: string; batch: number; entries: Awaited<ReturnType<typeof appendLogs>> }>[] = [];
        for (let batch = 0; batch < BATCHES; batch++) {
          for (const [replica, k] of [
            ["a", a],
            ["b", b],
          ] as const) {
            const input = lines(SIZE, `${replica}${batch}`);
            appends.push(appendLogs(k, "busy", input, 1000).then((entries) => ({ replica, batch, entries })));
            appends.push(appendLogs(k, "pruned", input, 50).then((entries) => ({ replica: `${replica}-pruned`, batch, entries })));
          }
        }
        const done = await Promise.all(appends);
        for (const server of ["busy", "pruned"]) {
          const mine = done.filter((d) => d.replica.endsWith("-pruned") === (server === "pruned"));
          const all: number[] = [];
          for (const d of mine) {
            const got = ids(d.entries);
            // Each batch got a consecutive range in its input order.
            expect(got).toEqual(range(got[0], got[0] + SIZE - 1));
            all.push(...got);
          }
          expect(all.sort((x, y) => x - y)).toEqual(range(1, BATCHES * 2 * SIZE));
        }
        const busy = await readLogsAfter(reader, "busy", null, 1000);
        expect(ids(busy.logs)).toEqual(range(1, BATCHES * 2 * SIZE));
        expect(busy.truncated).toBe(false);
        const byId = new Map(done.filter((d) => !d.replica.endsWith("-pruned")).flatMap((d) => d.entries.map((e) => [e.id, e.message])));
        for (const entry of busy.logs) expect(entry.message).toBe(byId.get(entry.id));
        const pruned = await readLogsAfter(reader, "pruned", null, 1000);
        expect(ids(pruned.logs)).toEqual(range(BATCHES * 2 * SIZE - 49, BATCHES * 2 * SIZE));
        expect(pruned.truncated).toBe(true);
      });
    });

    describe("log group commit (LogAppender)", () => {
      it("stores lines appended one by one on two replicas, in order, with every id once", async () => {
        const onA = new LogAppender(a, "flood", 1000, { maxLines: 50 });
        const onB = new LogAppender(b, "flood", 1000);
        const fromA = Promise.all(lines(300, "a").map((l) => onA.append(l)));
        const fromB = Promise.all(lines(200, "b").map((l) => onB.append(l)));
        const [gotA, gotB] = await Promise.all([fromA, fromB]);
        for (const [got, tag] of [
          [gotA, "a"],
          [gotB, "b"],
        ] as const) {
          const n = ids(got);
          expect(n).toEqual([...n].sort((x, y) => x - y));
          expect(got.map((e) => e.message)).toEqual(got.map((_, i) => `${tag} ${i}`));
        }
        expect([...ids(gotA), ...ids(gotB)].sort((x, y) => x - y)).toEqual(range(1, 500));
        const stored = await readLogsAfter(reader, "flood", null, 1000);
        expect(stored.logs).toEqual([...gotA, ...gotB].sort((x, y) => Number(x.id) - Number(y.id)));
        expect(onA.waiting + onB.waiting + onA.refused + onB.refused).toBe(0);
      });

      it("refuses lines beyond its backlog instead of holding them, and keeps the ones it took", async () => {
        const appender = new LogAppender(a, "flood", 1000, { maxWaiting: 5 });
        const outcomes = await Promise.allSettled(lines(50, "l").map((l) => appender.append(l)));
        const stored = outcomes.filter((o) => o.status === "fulfilled");
        const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === "rejected");
        // One line is written at once, five wait for the next group, the rest are refused.
        expect(stored).toHaveLength(6);
        expect(refused).toHaveLength(44);
        for (const r of refused) expect(r.reason).toBeInstanceOf(LogBacklogFull);
        expect(appender.refused).toBe(44);
        expect((await readLogsAfter(reader, "flood", null, 100)).logs.map((e) => e.message)).toEqual(range(0, 5).map((i) => `l ${i}`));
      });
    });

    describe("health checks (§20)", () => {
      const check = (status: HealthStatus, atMs: number, message: string | null = null) => ({
        status,
        checked_at: atMs,
        latency_ms: status === "error" ? null : 12,
        message,
        actor: "scheduler",
      });

      it("keeps the newest 100 per server and reads them newest first", async () => {
        expect(await readHealthChecks(reader, "demo", 6)).toEqual([]);
        const first = await appendHealthCheck(a, "demo", check("healthy", T0));
        expect(first).toEqual({
          status: "healthy",
          checked_at: "2026-03-01T10:00:00Z",
          latency_ms: 12,
          message: null,
          actor: "scheduler",
          plan_id: null,
        });
        for (let i = 1; i < 105; i++) await appendHealthCheck(i % 2 === 0 ? a : b, "demo", check("healthy", T0 + i * 1000, `check ${i}`));
        await appendHealthCheck(a, "other", check("error", T0, "no answer within 5000 ms"));
        const kept = await readHealthChecks(reader, "demo", 100);
        expect(kept.map((c) => c.message)).toEqual(
          range(5, 104)
            .reverse()
            .map((i) => `check ${i}`),
        );
        expect((await readHealthChecks(reader, "demo", 6)).map((c) => c.message)).toEqual([
          "check 104",
          "check 103",
          "check 102",
          "check 101",
          "check 100",
          "check 99",
        ]);
        expect(await a("runtime_health_checks").where({ server_id: "demo" }).count({ n: "*" })).toEqual([{ n: 100 }]);
        expect(await readHealthChecks(reader, "other", 100)).toEqual([
          {
            status: "error",
            checked_at: "2026-03-01T10:00:00Z",
            latency_ms: null,
            message: "no answer within 5000 ms",
            actor: "scheduler",
            plan_id: null,
          },
        ]);
        // A late check older than the 100 kept is not kept; one within them takes its place in order.
        await appendHealthCheck(a, "demo", check("healthy", T0, "late and old"));
        expect((await readHealthChecks(reader, "demo", 100)).map((c) => c.message)).not.toContain("late and old");
        await appendHealthCheck(a, "demo", check("healthy", T0 + 103_500, "late, within"));
        expect((await readHealthChecks(reader, "demo", 3)).map((c) => c.message)).toEqual(["check 104", "late, within", "check 103"]);
        expect((await readHealthChecks(reader, "demo", 100)).at(-1)?.message).toBe("check 6");
      });

      it("orders checks of the same instant by arrival, and stores storable text", async () => {
        await appendHealthCheck(a, "demo", check("healthy", T0, "first"));
        await appendHealthCheck(b, "demo", check("degraded", T0, "second \u0000"));
        expect((await readHealthChecks(reader, "demo", 2)).map((c) => [c.status, c.message])).toEqual([
          ["degraded", "second \uFFFD"],
          ["healthy", "first"],
        ]);
      });

      it("records health status changes as transitions", async () => {
        const statuses: HealthStatus[] = ["healthy", "healthy", "degraded", "degraded", "error", "healthy"];
        for (const [i, s] of statuses.entries()) await appendHealthCheck(a, "demo", check(s, T0 + i * 1000, `m${i}`));
        await appendHealthCheck(a, "fails-first", check("error", T0 + 10_000, "not running (status: stopped)"));
        const found = await listTransitions(reader, T0, 50);
        expect(found.map((t) => [t.server_id, t.kind, t.from_status, t.to_status, t.detail, t.at])).toEqual([
          ["fails-first", "health", null, "error", "not running (status: stopped)", "2026-03-01T10:00:10Z"],
          ["demo", "health", "error", "healthy", "m5", "2026-03-01T10:00:05Z"],
          ["demo", "health", "degraded", "error", "m4", "2026-03-01T10:00:04Z"],
          ["demo", "health", "healthy", "degraded", "m2", "2026-03-01T10:00:02Z"],
        ]);
      });

      it("lists the transitions notifications are made of (§23.2), newest first, within the window and the limit", async () => {
        const steps: [Partial<ProcessStateWrite>, number][] = [
          [{ status: "starting", restarts: 0 }, 0],
          [{ status: "running", restarts: 0 }, 1],
          [{ status: "backoff", restarts: 0, last_error: "exit 3" }, 2],
          [{ status: "starting", restarts: 1, last_error: "exit 3" }, 3],
          [{ status: "running", restarts: 1 }, 4],
          [{ status: "backoff", restarts: 1, last_error: "exit 3" }, 5],
          [{ status: "error", restarts: 1, last_error: "gave up" }, 6],
          [{ status: "stopped", restarts: 0 }, 7],
        ];
        for (const [state, second] of steps) await writeState(a, stateOf("demo", state), { nowMs: T0 + second * 1000 });
        const statuses: HealthStatus[] = ["healthy", "degraded", "degraded", "healthy", "error"];
        for (const [i, st] of statuses.entries()) await appendHealthCheck(a, "pinged", check(st, T0 + 10_000 + i * 1000, `h${i}`));
        const found = await listNotableTransitions(reader, T0, 50);
        expect(found.map((t) => [t.server_id, t.kind, t.from_status, t.to_status, t.restarts])).toEqual([
          ["pinged", "health", "healthy", "error", null],
          ["pinged", "health", "degraded", "healthy", null],
          ["pinged", "health", "healthy", "degraded", null],
          ["demo", "process", "backoff", "error", 1],
          ["demo", "process", "starting", "running", 1],
          ["demo", "process", "backoff", "starting", 1],
        ]);
        expect(await listNotableTransitions(reader, T0 + 5000, 2)).toEqual(found.slice(0, 2));
        expect(await listNotableTransitions(reader, T0 + 20_000, 50)).toEqual([]);
      });
    });

    it("migration 011 goes down and up again", async () => {
      const own = await makeStore();
      const k = createKnex(own.settings);
      try {
        await migrateToLatest(k);
        for (const table of RUNTIME_TABLES) expect(await k.schema.hasTable(table)).toBe(true);
        await rollbackAll(k);
        for (const table of RUNTIME_TABLES) expect(await k.schema.hasTable(table)).toBe(false);
        await migrateToLatest(k);
        expect(ids(await appendLogs(k, "demo", lines(2, "x")))).toEqual([1, 2]);
      } finally {
        await k.destroy();
        await own.drop();
      }
    });
  });
}
