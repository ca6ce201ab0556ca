/**
 * The MCP connection over our own stdio transport, against real server processes
 * (runtime-contract §18.2 start, §20 ping, §21 tools, §24 masking).
 */
import { buildLaunch } from "../../services/runtime/command";
import {
  ConnectionClosedError,
  McpConnection,
  OpenOptions,
  StartError,
  ToolCallError,
  ToolList,
  ToolTimeoutError,
} from "../../services/runtime/connection";
import type { StderrLine } from "../../services/runtime/stderr-lines";
import {
  blockUntilExited,
  configurableLaunch,
  eventually,
  EVERYTHING_SERVER,
  GroupWatch,
  liveMembers,
  PROJECT_ROOT,
  RAW_SERVER,
  testBackendEnv,
} from "../helpers/process-groups";

jest.setTimeout(60_000);

const watch = new GroupWatch();
afterEach(() => watch.expectAllGone());

interface Opened {
  connection: McpConnection;
  lines: StderrLine[];
}

async function open(args: string[] = [], options: Partial<OpenOptions> = {}, secret: string | null = null): Promise<Opened> {
  const lines: StderrLine[] = [];
  const connection = await McpConnection.open(configurableLaunch(args, { secret }), {
    serverId: "srv",
    startupTimeoutMs: 20_000,
    secret,
    onStderrLine: (l) => lines.push(l),
    onSpawn: (p) => watch.add(p.pgid),
    ...options,
  });
  return { connection, lines };
}

async function openFails(args: string[], options: Partial<OpenOptions> = {}, secret: string | null = null): Promise<StartError> {
  try {
    const { connection } = await open(args, options, secret);
    await connection.close();
  } catch (err) {
    expect(err).toBeInstanceOf(StartError);
    return err as StartError;
  }
  throw new Error("the start did not fail");
}

describe("open", () => {
  it("completes the handshake: server_info, the tool list, and close ends the group", async () => {
    const { connection } = await open(["--name", "fixture"]);
    expect(connection.serverInfo).toEqual({ name: "fixture", version: "1.2.3", protocol_version: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/) });
    expect(connection.tools!.tools.map((t) => t.name).sort()).toEqual(["add_tool", "echo", "exit", "fail", "log", "sleep", "usage"]);
    const echo = connection.tools!.tools.find((t) => t.name === "echo")!;
    expect(echo).toMatchObject({ name: "echo", description: "Echoes its text", output_schema: null });
    expect(echo.input_schema).toMatchObject({ type: "object", properties: { text: { type: "string" } } });
    const pgid = connection.process.pgid;
    expect(connection.closed).toBe(false);
    const exit = await connection.close();
    expect(connection.closed).toBe(true);
    expect(exit.returnCode === 0 || exit.returnCode === -15).toBe(true);
    expect(liveMembers(pgid)).toEqual([]);
  });

  it("fails with a clear message for a program that cannot start", async () => {
    const launch = buildLaunch(
      { id: "x", command: "no-such-mcp-server-anywhere" },
      { backendEnv: testBackendEnv(), projectRoot: PROJECT_ROOT, secret: null },
    );
    const err = await McpConnection.open(launch, { serverId: "x", startupTimeoutMs: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartError);
    expect((err as StartError).message).toBe(
      "Cannot start 'no-such-mcp-server-anywhere': program not found (or working directory '" + PROJECT_ROOT + "' missing)",
    );
  });

  it("fails when the process exits before the handshake, with the stderr tail and the secret masked", async () => {
    const secret = "tok-9f8e7d";
    const err = await openFails(
      ["--stderr-line", "loading config", "--print-env", "TEST_SECRET", "--crash-after-ms", "0", "--exit-code", "3", "--no-initialize"],
      {},
      secret,
    );
    expect(err.message).toBe(
      "The process exited with code 3 before the MCP handshake finished; last stderr lines:\nloading config\nerror: key *** rejected\ncrashing on cue",
    );
    expect(err.exit?.returnCode).toBe(3);
    expect(err.stderrTail).not.toContain(secret);
  });

  it("names the exit code when the process ended before initialize could be written (a pipe error), every time", async () => {
    // The child exits before the first write: the write fails (EPIPE) before Node has seen the exit.
    for (let i = 0; i < 5; i++) {
      const err = await openFails(["--crash-after-ms", "0", "--exit-code", "3"], {
        onSpawn: (p) => {
          watch.add(p.pgid);
          blockUntilExited(p.pid);
        },
      });
      expect(err.message).toBe("The process exited with code 3 before the MCP handshake finished; last stderr lines:\ncrashing on cue");
      expect(err.exit?.returnCode).toBe(3);
    }
  });

  it("names the exit code of a process that exits at once, however the race between the pipe and the exit goes", async () => {
    for (let i = 0; i < 5; i++) {
      const err = await openFails(["--crash-after-ms", "0", "--exit-code", "3"]);
      expect(err.message).toMatch(/^The process exited with code 3 before the MCP handshake finished/);
      expect(err.exit?.returnCode).toBe(3);
    }
  });

  it("fails when initialize is not answered within startup_timeout_s, and kills the group", async () => {
    let pgid = 0;
    const err = await openFails(["--no-initialize", "--stderr-line", "hanging on purpose"], {
      startupTimeoutMs: 3000,
      onSpawn: (p) => {
        pgid = p.pgid;
        watch.add(p.pgid);
      },
    });
    expect(err.message).toBe("The MCP handshake did not finish within 3 s; last stderr lines:\nhanging on purpose");
    expect(err.exit).toBeNull();
    expect(liveMembers(pgid)).toEqual([]);
  });

  it("keeps the stderr tail within 2,000 characters", async () => {
    const err = await openFails(["--stderr-flood", "100", "--crash-after-ms", "0", "--no-initialize"]);
    const tail = err.message.slice(err.message.indexOf("last stderr lines:\n") + "last stderr lines:\n".length);
    expect(tail.length).toBeLessThanOrEqual(2000);
    expect(tail.length).toBeGreaterThan(1500);
    expect(tail.endsWith("crashing on cue")).toBe(true);
  });

  it("is abandoned on abort: the group is killed, the error says aborted", async () => {
    const controller = new AbortController();
    let spawned = false;
    const pending = open(["--no-initialize"], {
      signal: controller.signal,
      onSpawn: (p) => {
        spawned = true;
        watch.add(p.pgid);
      },
    });
    await eventually(() => spawned, 10_000, "the spawn");
    controller.abort();
    const err = await pending.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartError);
    expect((err as StartError).aborted).toBe(true);
  });
});

describe("tools", () => {
  it("lists every page of a paginated tools/list", async () => {
    const { connection } = await open(["--extra-tools", "20", "--page-size", "3"]);
    const names = connection.tools!.tools.map((t) => t.name);
    expect(names).toHaveLength(27);
    expect(new Set(names).size).toBe(27);
    expect(names).toContain("extra_20");
    expect(names.slice(0, 3)).toEqual(["echo", "sleep", "fail"]);
    await connection.close();
  });

  it("lists again on notifications/tools/list_changed", async () => {
    const changes: ToolList[] = [];
    const { connection } = await open(["--page-size", "2"], { onToolsChanged: (list) => list && changes.push(list) });
    const before = connection.tools!.fetched_at;
    await connection.callTool("add_tool", { name: "brand_new" }, 10_000);
    await eventually(() => changes.some((c) => c.tools.some((t) => t.name === "brand_new")), 10_000, "the refreshed list");
    expect(connection.tools!.tools.map((t) => t.name)).toContain("brand_new");
    expect(connection.tools!.tools).toHaveLength(8);
    expect(connection.tools!.fetched_at).toBeGreaterThanOrEqual(before);
    await connection.close();
  });

  it("calls a tool: success, isError, _meta.usage", async () => {
    const { connection } = await open();
    const ok = await connection.callTool("echo", { text: "hello" }, 10_000);
    expect(ok.result).toEqual({ content: [{ type: "text", text: "hello" }] });
    expect(ok.usage).toEqual({ tokens_in: 0, tokens_out: 0, cost_usd: null });
    expect(ok.duration_ms).toBeGreaterThanOrEqual(0);
    const failed = await connection.callTool("fail", {}, 10_000);
    expect(failed.result.isError).toBe(true);
    expect(failed.result.content).toEqual([{ type: "text", text: "the tool failed on purpose" }]);
    const counted = await connection.callTool("usage", {}, 10_000);
    expect(counted.usage).toEqual({ tokens_in: 12, tokens_out: 34, cost_usd: 0.0056 });
    expect(counted.result._meta).toEqual({ usage: { input_tokens: 12, output_tokens: 34, cost_usd: 0.0056 } });
    await connection.close();
  });

  it("times out with ToolTimeoutError (504), cancels the request on the server, and stays usable", async () => {
    const { connection, lines } = await open();
    const err = await connection.callTool("sleep", { ms: 30_000 }, 300).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ToolTimeoutError);
    expect((err as ToolTimeoutError).code).toBe(504);
    expect((err as ToolTimeoutError).message).toBe("Tool 'sleep' timed out after 300 ms");
    // notifications/cancelled reached the server: its handler saw the abort.
    await eventually(() => lines.some((l) => l.message.startsWith("cancelled sleep (request ")), 10_000, "the cancellation on the server");
    const after = await connection.callTool("echo", { text: "still here" }, 10_000);
    expect(after.result.content).toEqual([{ type: "text", text: "still here" }]);
    await connection.close();
  });

  it("a call aborted by its caller is cancelled on the server too", async () => {
    const { connection, lines } = await open();
    const controller = new AbortController();
    const pending = connection.callTool("sleep", { ms: 30_000 }, 60_000, controller.signal).catch((e: unknown) => e);
    // The request is written before callTool returns its promise: the cancellation follows it.
    controller.abort(new Error("client went away"));
    const err = await pending;
    expect(err).not.toBeInstanceOf(ToolTimeoutError);
    expect((err as Error).message).toContain("client went away");
    await eventually(() => lines.some((l) => l.message.startsWith("cancelled sleep (request ")), 10_000, "the cancellation on the server");
    expect((await connection.callTool("echo", { text: "after" }, 10_000)).result.content).toEqual([{ type: "text", text: "after" }]);
    await connection.close();
  });

  it("fails with ConnectionClosedError (502) when the process dies during the call", async () => {
    const { connection } = await open();
    const err = await connection.callTool("exit", { code: 7 }, 20_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionClosedError);
    expect((err as ConnectionClosedError).code).toBe(502);
    expect((err as ConnectionClosedError).message).toBe("Server 'srv' closed the connection during the call");
    expect((await connection.process.exited).returnCode).toBe(7);
    expect(connection.closed).toBe(true);
    await expect(connection.callTool("echo", { text: "x" }, 1000)).rejects.toBeInstanceOf(ConnectionClosedError);
    await connection.close();
  });

  it("sees the death during a call even when a grandchild still holds stdout", async () => {
    const { connection, lines } = await open(["--grandchild", "--grandchild-stdio", "inherit"]);
    await eventually(() => lines.some((l) => l.message.startsWith("grandchild pid ")), 10_000, "the grandchild");
    const err = await connection.callTool("exit", { code: 9 }, 20_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionClosedError);
    // close() ends what is left of the group: the grandchild.
    await connection.close(300);
    expect(liveMembers(connection.process.pgid)).toEqual([]);
  });
});

describe("ping (§20)", () => {
  it("healthy within degraded_latency_ms, with the latency", async () => {
    const { connection } = await open();
    const r = await connection.ping(5000);
    expect(r.status).toBe("healthy");
    expect(r.latency_ms).toEqual(expect.any(Number));
    expect(r.message).toBeNull();
    await connection.close();
  });

  it("degraded when slower than degraded_latency_ms, error when not answered in time", async () => {
    const { connection } = await open(["--ping-delay-ms", "300"]);
    const slow = await connection.ping(50);
    expect(slow.status).toBe("degraded");
    expect(slow.latency_ms!).toBeGreaterThanOrEqual(300);
    expect(slow.message).toMatch(/^answered in \d+ ms \(slower than 50 ms\)$/);
    const none = await connection.ping(50, 100);
    expect(none).toEqual({ status: "error", latency_ms: null, message: "no answer within 100 ms" });
    await connection.close();
    expect(await connection.ping(50)).toEqual({ status: "error", latency_ms: null, message: "connection closed" });
  });
});

describe("protocol corner cases (hand-written server)", () => {
  function rawLaunch(args: string[]) {
    return buildLaunch(
      { id: "raw", command: process.execPath, args: [RAW_SERVER, ...args] },
      { backendEnv: testBackendEnv(), projectRoot: PROJECT_ROOT, secret: null },
    );
  }

  it("a JSON-RPC error answer to tools/call is a ToolCallError (502); a malformed result too", async () => {
    const connection = await McpConnection.open(rawLaunch([]), { serverId: "raw", startupTimeoutMs: 20_000, onSpawn: (p) => watch.add(p.pgid) });
    expect(connection.serverInfo).toEqual({ name: "raw", version: "0.0.1", protocol_version: "2025-06-18" });
    const err = await connection.callTool("boom", {}, 10_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ToolCallError);
    expect(err).toMatchObject({
      code: 502,
      rpcCode: -32603,
      message: "Server 'raw' answered the call of 'boom' with an error: MCP error -32603: internal failure in boom",
    });
    const bad = await connection.callTool("malformed", {}, 10_000).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ToolCallError);
    expect((bad as ToolCallError).message).toMatch(/^Server 'raw' answered the call of 'malformed' with an error: invalid result/);
    expect((await connection.ping(5000)).status).toBe("healthy");
    await connection.close();
  });

  it("survives stray stdout lines, reporting them without their content", async () => {
    const problems: string[] = [];
    const connection = await McpConnection.open(rawLaunch(["--stdout-junk"]), {
      serverId: "raw",
      startupTimeoutMs: 20_000,
      onSpawn: (p) => watch.add(p.pgid),
      onProtocolError: (e) => problems.push(e.message),
    });
    expect(connection.tools!.tools.map((t) => t.name)).toEqual(["boom", "malformed"]);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.every((p) => p === "Ignored a stdout line that is not a JSON-RPC message: SyntaxError")).toBe(true);
    await connection.close();
  });

  it("refuses a protocol version the SDK does not support: handshake failed", async () => {
    const err = await McpConnection.open(rawLaunch(["--protocol", "1999-01-01"]), {
      serverId: "raw",
      startupTimeoutMs: 20_000,
      onSpawn: (p) => watch.add(p.pgid),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartError);
    expect((err as StartError).message).toBe("The MCP handshake failed: Server's protocol version is not supported: 1999-01-01");
  });
});

describe("a real server from npm", () => {
  it("speaks with @modelcontextprotocol/server-everything over stdio", async () => {
    const launch = buildLaunch(
      { id: "everything", command: process.execPath, args: [EVERYTHING_SERVER, "stdio"] },
      { backendEnv: testBackendEnv(), projectRoot: PROJECT_ROOT, secret: null },
    );
    const connection = await McpConnection.open(launch, { serverId: "everything", startupTimeoutMs: 30_000, onSpawn: (p) => watch.add(p.pgid) });
    expect(connection.serverInfo.name).toEqual(expect.any(String));
    expect(connection.serverInfo.name.length).toBeGreaterThan(0);
    const names = connection.tools!.tools.map((t) => t.name);
    expect(names).toContain("echo");
    const r = await connection.callTool("echo", { message: "hi there" }, 10_000);
    expect(JSON.stringify(r.result.content)).toContain("hi there");
    expect((await connection.ping(5000)).status).not.toBe("error");
    await connection.close();
  });
});
