/**
 * /proc/<pid>/stat parsing for the hygiene record (runtime-contract §18.4) and return codes (§18.1).
 */
import { parseProcStat, returnCode, signalNumber } from "../../services/runtime/process-group";

function statLine(comm: string, state = "S", pgid = 4242, start = 987654): string {
  // pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
  // cutime cstime priority nice num_threads itrealvalue starttime …
  const after = [
    state,
    "1",
    String(pgid),
    "4242",
    "0",
    "-1",
    "4194560",
    "1",
    "0",
    "0",
    "0",
    "2",
    "3",
    "0",
    "0",
    "20",
    "0",
    "1",
    "0",
    String(start),
    "123",
    "456",
  ];
  return `4242 (${comm}) ${after.join(" ")}\n`;
}

describe("parseProcStat", () => {
  it("reads state, pgid and field 22 (start time)", () => {
    expect(parseProcStat(statLine("node"))).toEqual({ pid: 4242, state: "S", pgid: 4242, startTime: 987654 });
  });

  it("copes with spaces and parentheses in the command name", () => {
    expect(parseProcStat(statLine("my (odd) server) x", "Z", 77, 5))).toEqual({ pid: 4242, state: "Z", pgid: 77, startTime: 5 });
  });

  it("returns null for text of another shape", () => {
    expect(parseProcStat("")).toBeNull();
    expect(parseProcStat("garbage")).toBeNull();
    expect(parseProcStat("12 (x) S 1")).toBeNull();
  });
});

describe("returnCode (§18.1)", () => {
  it("is the exit code, or minus the signal number", () => {
    expect(returnCode(0, null)).toBe(0);
    expect(returnCode(3, null)).toBe(3);
    expect(returnCode(null, "SIGKILL")).toBe(-9);
    expect(returnCode(null, "SIGTERM")).toBe(-15);
    expect(returnCode(null, null)).toBeNull();
    expect(signalNumber("SIGNOPE")).toBeNull();
  });
});
