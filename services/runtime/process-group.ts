/**
 * Process groups (runtime-contract §18.2 stop, §18.4 hygiene): every server runs as the leader of its
 * own group (spawned detached), and is ended as a group — SIGTERM to the group, up to a grace period
 * for every member to be gone, then SIGKILL to the group, done only when no member is left.
 *
 * Linux /proc gives the leader's start time (for the hygiene record: a recycled pid is never killed)
 * and lets a group made only of unreaped zombies count as gone.
 */
import fs from "node:fs";
import os from "node:os";

/** §18.2: SIGKILL follows SIGTERM after 5 s. */
export const STOP_GRACE_MS = 5000;
const POLL_MS = 40;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The fields of /proc/<pid>/stat the runtime reads. */
export interface ProcStat {
  pid: number;
  /** One-letter state (R, S, D, Z, T, …). */
  state: string;
  pgid: number;
  /** Field 22: start time after boot, in clock ticks. */
  startTime: number;
}

/** Parses /proc/<pid>/stat text; null when it does not have the expected shape. */
export function parseProcStat(text: string): ProcStat | null {
  // Field 2 (comm) is in parentheses and may itself contain spaces and parentheses.
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  const rest = text.slice(close + 2).split(" ");
  // rest[0] is field 3 (state), so field k is rest[k - 3].
  const state = rest[0];
  const pgid = Number(rest[2]);
  const startTime = Number(rest[19]);
  if (!Number.isInteger(pid) || !state || !Number.isInteger(pgid) || !Number.isFinite(startTime)) return null;
  return { pid, state, pgid, startTime };
}

/** /proc/<pid>/stat of a live (or zombie) process; null when there is no such process or no /proc. */
export function readProcStat(pid: number): ProcStat | null {
  try {
    return parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return null;
  }
}

/** The leader's start time (field 22 of /proc/<pid>/stat, clock ticks since boot); null when unknown. */
export function readStartTime(pid: number): number | null {
  return readProcStat(pid)?.startTime ?? null;
}

/** Pids of the processes of group `pgid` that are not zombies (Linux /proc scan). */
export function groupMembers(pgid: number): number[] {
  let names: string[];
  try {
    names = fs.readdirSync("/proc");
  } catch {
    return [];
  }
  const members: number[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readProcStat(Number(name));
    if (stat !== null && stat.pgid === pgid && stat.state !== "Z") members.push(stat.pid);
  }
  return members;
}

/**
 * True while group `pgid` has a member: signal 0 to the group reaches someone (EPERM counts: it exists).
 * When /proc is there, a group whose only members are zombies (reaped later by their parent or init)
 * counts as gone.
 */
export function isGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  if (!fs.existsSync("/proc/self/stat")) return true;
  // The leader alive and not a zombie: no scan needed.
  const leader = readProcStat(pgid);
  if (leader !== null && leader.pgid === pgid && leader.state !== "Z") return true;
  return groupMembers(pgid).length > 0;
}

/**
 * True when pid `pgid` now belongs to another process than the leader started at `leaderStartTime`
 * (the leader was reaped, its group emptied and the number was given to a new process). While any
 * member of the old group lives the kernel does not reuse the number, so a missing /proc entry is safe.
 */
function recycled(pgid: number, leaderStartTime: number | null | undefined): boolean {
  if (leaderStartTime === null || leaderStartTime === undefined) return false;
  const stat = readProcStat(pgid);
  return stat !== null && stat.startTime !== leaderStartTime;
}

/**
 * Sends `signal` to every member of the group; false when the group is gone (or its number now
 * belongs to a process started after `leaderStartTime`, which is never signalled).
 */
export function signalGroup(pgid: number, signal: NodeJS.Signals, leaderStartTime?: number | null): boolean {
  if (recycled(pgid, leaderStartTime)) return false;
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Resolves true when the group is gone, or false after `timeoutMs`. */
export async function waitGroupGone(pgid: number, timeoutMs: number, leaderStartTime?: number | null): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (recycled(pgid, leaderStartTime) || !isGroupAlive(pgid)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(POLL_MS);
  }
}

export interface KillGroupResult {
  /** True when SIGKILL was needed (a member outlived the grace period). */
  forced: boolean;
}

/**
 * Ends group `pgid` (§18.2): SIGTERM to the group, wait up to `graceMs` (default 5 s) for every member
 * to be gone, then SIGKILL to the group (repeated every second in case a member forked meanwhile).
 * Resolves only when the group is gone. A group already gone resolves at once. With
 * `leaderStartTime` (field 22 of the leader's /proc stat), a number reused by a new process is left alone.
 */
export async function killGroup(pgid: number, graceMs: number = STOP_GRACE_MS, leaderStartTime?: number | null): Promise<KillGroupResult> {
  if (!signalGroup(pgid, "SIGTERM", leaderStartTime)) return { forced: false };
  // A stopped (SIGSTOP) member takes SIGTERM only once continued.
  signalGroup(pgid, "SIGCONT", leaderStartTime);
  if (await waitGroupGone(pgid, graceMs, leaderStartTime)) return { forced: false };
  for (;;) {
    signalGroup(pgid, "SIGKILL", leaderStartTime);
    if (await waitGroupGone(pgid, 1000, leaderStartTime)) return { forced: true };
  }
}

/** Number of a signal name (SIGTERM → 15); null for an unknown name. */
export function signalNumber(signal: string): number | null {
  const n = (os.constants.signals as Record<string, number | undefined>)[signal];
  return n === undefined ? null : n;
}

/** §18.1 `return_code`: the exit code, or `-<signal number>` for a death by signal (−9, −15). */
export function returnCode(code: number | null, signal: string | null): number | null {
  if (code !== null) return code;
  if (signal !== null) {
    const n = signalNumber(signal);
    return n === null ? null : -n;
  }
  return null;
}

/** A process group recorded for hygiene (§18.4): its id, the host it runs on, its leader's start time. */
export interface GroupRecord {
  pgid: number;
  host: string;
  /** Field 22 of the leader's /proc/<pid>/stat when it was spawned. */
  start_time: number;
}

/** This machine's host name, as recorded in GroupRecord.host. */
export function hostName(): string {
  return os.hostname();
}

/**
 * Kills the groups left behind by an earlier run of the runtime on this host (§18.4): for each record
 * of `host` whose leader still lives with the recorded start time, the group is ended with killGroup.
 * A record whose leader is gone, or whose pid now belongs to a process started at another time (a
 * recycled pid), is left alone. Resolves with the pgids killed, once they are gone.
 */
export async function reapLeftovers(records: readonly GroupRecord[], host: string, graceMs: number = STOP_GRACE_MS): Promise<number[]> {
  const ownGroup = readProcStat(process.pid)?.pgid;
  const targets = records.filter((r) => {
    if (r.host !== host || !Number.isInteger(r.pgid) || r.pgid <= 1 || r.pgid === process.pid || r.pgid === ownGroup) return false;
    const stat = readProcStat(r.pgid);
    return stat !== null && stat.state !== "Z" && stat.startTime === r.start_time && stat.pgid === r.pgid;
  });
  await Promise.all(targets.map((r) => killGroup(r.pgid, graceMs, r.start_time)));
  return targets.map((r) => r.pgid);
}
