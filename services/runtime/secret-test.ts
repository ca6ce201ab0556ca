/**
 * `POST /secrets/{id}/test` (runtime-contract §24): a real check of a server with its secret — spawn
 * its command once with the secret in its `secret_env` variable (own process group, never a shell),
 * complete the MCP handshake and `tools/list`, then end the group. Not a supervised process: it does
 * not count against CONSOLE_MCP_MAX_PROCESSES, writes no state, logs or health checks, and never
 * appears in `GET /servers/processes`.
 *
 * Outcome: `healthy` when the handshake and the tool list took at most `degraded_latency_ms` × 5,
 * `degraded` when slower, `error` with the reason (StartError's message: the cause and the last
 * stderr lines, the secret masked) otherwise.
 */
import { performance } from "node:perf_hooks";
import { buildLaunch, CommandError, type BackendEnv } from "./command";
import { McpConnection, StartError } from "./connection";
import type { ServerProcess } from "./spawn";
import type { ServerSpec } from "./supervisor";
import { maskSecret } from "./stderr-lines";

/** §24: `healthy` within degraded_latency_ms × this factor. */
export const SECRET_TEST_DEGRADED_FACTOR = 5;

export interface SecretTestResult {
  status: "healthy" | "degraded" | "error";
  /** Spawn to the tool list received, ms; null when the check failed. */
  latency_ms: number | null;
  /** Why it failed or is degraded; null when healthy. Never contains the secret. */
  message: string | null;
  /** Tools the server listed (null on error). */
  tool_count: number | null;
}

export interface SecretTestOptions {
  backendEnv: BackendEnv;
  projectRoot: string;
  /** SIGTERM → SIGKILL grace when ending the group (default 5 s). */
  stopGraceMs?: number;
  /** Once the process runs (the caller records its group for the hygiene of §18.4). */
  onSpawn?: (proc: ServerProcess) => void;
  /** Once the group is gone (the caller drops that record). */
  onGone?: (proc: ServerProcess) => void;
}

/** Spawns `server` once with `secret`, handshakes, lists its tools, ends its group; never rejects. */
export async function testServerSecret(server: ServerSpec, secret: string, options: SecretTestOptions): Promise<SecretTestResult> {
  let launch;
  try {
    launch = buildLaunch(server, { backendEnv: options.backendEnv, projectRoot: options.projectRoot, secret });
  } catch (err) {
    if (err instanceof CommandError) return { status: "error", latency_ms: null, message: err.message, tool_count: null };
    throw err;
  }
  let spawned: ServerProcess | null = null;
  const t0 = performance.now();
  let connection: McpConnection;
  try {
    connection = await McpConnection.open(launch, {
      serverId: server.id,
      startupTimeoutMs: Math.round(server.startup_timeout_s * 1000),
      stopGraceMs: options.stopGraceMs,
      secret,
      onSpawn: (proc) => {
        spawned = proc;
        options.onSpawn?.(proc);
      },
    });
  } catch (err) {
    // open() has ended the group before rejecting.
    if (spawned !== null) options.onGone?.(spawned);
    const message = err instanceof StartError ? err.message : `The check failed: ${(err as Error).message}`;
    return { status: "error", latency_ms: null, message: maskSecret(message, secret), tool_count: null };
  }
  const latency = Math.round(performance.now() - t0);
  const toolCount = connection.tools?.tools.length ?? null;
  await connection.close(options.stopGraceMs);
  options.onGone?.(connection.process);
  // open() survives a failed tools/list (the list stays unknown); the check does not.
  if (toolCount === null) {
    const tail = maskSecret(connection.process.stderrTail(), secret);
    return {
      status: "error",
      latency_ms: null,
      message: `The server completed the handshake but tools/list failed${tail === "" ? "" : `; last stderr lines:\n${tail}`}`,
      tool_count: null,
    };
  }
  const limit = server.degraded_latency_ms * SECRET_TEST_DEGRADED_FACTOR;
  if (latency <= limit) return { status: "healthy", latency_ms: latency, message: null, tool_count: toolCount };
  return {
    status: "degraded",
    latency_ms: latency,
    message: `handshake and tools/list took ${latency} ms (slower than ${limit} ms, degraded_latency_ms × ${SECRET_TEST_DEGRADED_FACTOR})`,
    tool_count: toolCount,
  };
}
