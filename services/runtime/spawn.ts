/**
 * Spawning a server process (runtime-contract §18.2, §18.4, §19): the program itself (never a shell),
 * detached so it leads its own process group, stdin/stdout piped for MCP, stderr piped and read line
 * by line (so a chatty server never blocks on a full pipe). The exit is seen at once (the child's
 * 'exit' event); ending the process ends its whole group.
 */
import { ChildProcess, spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import type { Launch } from "./command";
import { killGroup, readStartTime, returnCode, STOP_GRACE_MS } from "./process-group";
import { StderrLine, StderrLineSplitter } from "./stderr-lines";

/** The program could not be started (not found, not executable, bad cwd…). */
export class SpawnError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = "SpawnError";
  }
}

/** How a process ended. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** §18.1 `return_code`: the code, or −(signal number). */
  returnCode: number | null;
  /** Epoch ms the exit was seen. */
  at: number;
}

export interface SpawnOptions {
  /** The server's secret, masked out of every stderr line (§24). */
  secret?: string | null;
  /** Every stderr line, masked and cut (§19). */
  onStderrLine?: (line: StderrLine) => void;
}

/** A running server process, leader of its own group. */
export interface ServerProcess {
  readonly pid: number;
  /** The process group id (= pid: the process leads its group). */
  readonly pgid: number;
  /** The leader's start time from /proc (§18.4 hygiene); null where /proc is absent. */
  readonly startTime: number | null;
  readonly commandLine: string;
  readonly stdin: Writable;
  readonly stdout: Readable;
  /** Resolves when the leader has exited (the group may still have members). Never rejects. */
  readonly exited: Promise<ExitInfo>;
  /** The exit, once seen; null while the leader runs. */
  exitInfo(): ExitInfo | null;
  /** Resolves when stderr has been read to its end (every writer of the pipe is gone). */
  readonly stderrClosed: Promise<void>;
  /** The newest stderr text, masked, at most 2,000 characters. */
  stderrTail(): string;
  /**
   * Ends the whole group: SIGTERM, up to `graceMs` (5 s) for it to be gone, then SIGKILL. Resolves when
   * the group is gone and the leader's exit has been seen; stdin and stdout are then closed on our
   * side (stderr ends by itself once read). Safe to call more than once.
   */
  kill(graceMs?: number): Promise<ExitInfo>;
  /** True once kill() had to send SIGKILL (a member outlived the grace period). */
  killForced(): boolean;
}

function spawnErrorMessage(launch: Launch, err: NodeJS.ErrnoException): string {
  if (err.code === "ENOENT") {
    return `Cannot start '${launch.file}': program not found (or working directory '${launch.cwd}' missing)`;
  }
  if (err.code === "EACCES") return `Cannot start '${launch.file}': permission denied`;
  return `Cannot start '${launch.file}': ${err.message}`;
}

/**
 * Starts `launch` as the leader of a new process group. Resolves once the process runs; rejects with
 * SpawnError when it cannot be started (nothing is left running then).
 */
export function spawnServer(launch: Launch, options: SpawnOptions = {}): Promise<ServerProcess> {
  return new Promise<ServerProcess>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(launch.file, launch.args, {
        cwd: launch.cwd,
        env: launch.env,
        detached: true,
        shell: false,
        stdio: ["pipe", "pipe", "pipe"],
        windowsHide: true,
      });
    } catch (err) {
      reject(new SpawnError(spawnErrorMessage(launch, err as NodeJS.ErrnoException), (err as NodeJS.ErrnoException).code));
      return;
    }
    const stdin = child.stdin!;
    const stdout = child.stdout!;
    const stderr = child.stderr!;
    // A pipe error (EPIPE after the process died) must never become an uncaught exception.
    stdin.on("error", () => undefined);
    stdout.on("error", () => undefined);
    stderr.on("error", () => undefined);

    const splitter = new StderrLineSplitter(options.secret ?? null, (line) => options.onStderrLine?.(line));
    stderr.on("data", (chunk: Buffer) => splitter.push(chunk));
    const stderrClosed = new Promise<void>((done) => {
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        splitter.end();
        done();
      };
      stderr.once("end", finish);
      stderr.once("close", finish);
    });

    let exit: ExitInfo | null = null;
    const exited = new Promise<ExitInfo>((done) => {
      child.once("exit", (code, signal) => {
        exit = { code, signal, returnCode: returnCode(code, signal), at: Date.now() };
        done(exit);
      });
    });

    child.once("error", (err: NodeJS.ErrnoException) => {
      if (child.pid === undefined) {
        stdin.destroy();
        stdout.destroy();
        stderr.destroy();
        reject(new SpawnError(spawnErrorMessage(launch, err), err.code));
      }
    });
    child.once("spawn", () => {
      const pid = child.pid!;
      const startTime = readStartTime(pid);
      let killing: Promise<ExitInfo> | null = null;
      let forced = false;
      const proc: ServerProcess = {
        pid,
        pgid: pid,
        startTime,
        commandLine: launch.commandLine,
        stdin,
        stdout,
        exited,
        exitInfo: () => exit,
        stderrClosed,
        stderrTail: () => splitter.tail(),
        killForced: () => forced,
        kill: (graceMs: number = STOP_GRACE_MS) => {
          if (killing === null) {
            killing = killGroup(pid, graceMs, startTime).then(async (result) => {
              forced = result.forced;
              const exit = await exited;
              // Nobody is left to write or read: our pipe ends go too (an unread stdout would keep its handle open).
              stdin.destroy();
              stdout.destroy();
              return exit;
            });
          }
          return killing;
        },
      };
      resolve(proc);
    });
  });
}
