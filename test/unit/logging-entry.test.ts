/**
 * lib/logging (runtime-contract §27): how a Moleculer log call becomes one JSON line — message,
 * fields, errors with a stack only when they are bugs, the request id, redacted paths — written by
 * the real pino logger into a stream kept in memory.
 */
import { Errors } from "moleculer";
import { ContractError } from "../../lib/errors";
import { isExpectedFailure, logEntry, loggedError } from "../../lib/logging/entry";
import { StructuredLogger } from "../../lib/logging/logger";
import { requestFields, requestLogger } from "../../lib/logging/request-context";

type Handler = (type: "fatal" | "error" | "warn" | "info" | "debug" | "trace", args: unknown[]) => void;

/** A StructuredLogger at `level` writing JSON lines into `lines`, and the handler of one module. */
function memoryLogger(level: "info" | "debug", mod = "api"): { lines: () => Record<string, unknown>[]; raw: string[]; log: Handler } {
  const raw: string[] = [];
  const logger = new StructuredLogger({ level, format: "json", destination: { write: (line: string) => void raw.push(line) } });
  logger.init({ broker: { Promise } } as never);
  const log = logger.getLogHandler({ nodeID: "node-1", mod, svc: mod }) as Handler;
  return {
    raw,
    lines: () => raw.map((l) => JSON.parse(l) as Record<string, unknown>),
    log,
  };
}

describe("isExpectedFailure", () => {
  it.each([
    ["a contract 404", new ContractError(404, "Server 'x' not found")],
    ["a contract 422", new ContractError(422, "Validation failed")],
    ["a 401", new ContractError(401, "Missing or invalid API key")],
    ["a missing service", new Errors.ServiceNotFoundError({ action: "providers.catalog" })],
    ["no live node", new Errors.ServiceNotAvailableError({ action: "providers.catalog" })],
    ["a timeout", new Errors.RequestTimeoutError({ action: "providers.catalog", nodeID: "n" })],
    ["a contract 503", new ContractError(503, "The gateway is shutting down")],
  ])("%s is expected: no stack", (_label, err) => {
    expect(isExpectedFailure(err)).toBe(true);
    expect(loggedError(err)).not.toHaveProperty("stack");
  });

  it.each([
    ["a TypeError", new TypeError("x is not a function")],
    ["a 500", new Errors.MoleculerError("boom", 500)],
    ["an error without a code", new Error("boom")],
  ])("%s is a bug: its stack is kept", (_label, err) => {
    expect(isExpectedFailure(err)).toBe(false);
    expect(loggedError(err).stack).toBe(err.stack);
  });

  it("never writes an error's data (a validation error carries the values it refused)", () => {
    const err = new Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", [{ field: "value", actual: "sk-live-123" }]);
    expect(JSON.stringify(loggedError(err))).not.toContain("sk-live-123");
    expect(loggedError(err)).toEqual({ type: "ValidationError", message: "Parameters validation error!", code: 422, kind: "VALIDATION_ERROR" });
  });
});

describe("logEntry", () => {
  it("joins Moleculer's text arguments into msg and keeps objects as data", () => {
    expect(logEntry(["Service", "'api'", "started.", 3, true])).toEqual({ fields: {}, msg: "Service 'api' started. 3 true" });
    expect(logEntry(["Request timed out.", { nodeID: "n", timeout: 10 }])).toEqual({
      fields: { data: { nodeID: "n", timeout: 10 } },
      msg: "Request timed out.",
    });
    expect(logEntry(["two", { a: 1 }, { b: 2 }]).fields.data).toEqual([{ a: 1 }, { b: 2 }]);
  });

  it("takes pino's (fields, message) form", () => {
    expect(logEntry([{ request_id: "r1", status: 404 }, "GET /x 404"])).toEqual({ fields: { request_id: "r1", status: 404 }, msg: "GET /x 404" });
  });

  it("names the request of Moleculer's lines about a call", () => {
    expect(logEntry(["Call action locally.", { action: "providers.catalog", requestID: "r-7" }]).fields.request_id).toBe("r-7");
  });

  it("writes the first error as err, later ones into the message, and an error alone as its message", () => {
    const entry = logEntry(["failed:", new ContractError(404, "nope"), new Error("second")]);
    expect(entry.msg).toBe("failed: Error: second");
    expect(entry.fields.err).toEqual({ type: "ContractError", message: "nope", code: 404, kind: "CONTRACT_ERROR" });
    expect(logEntry([new ContractError(409, "taken")]).msg).toBe("ContractError: taken");
  });
});

describe("StructuredLogger (JSON lines)", () => {
  it("writes one JSON object per line with time, level, node id, module and message", () => {
    const { lines, raw, log } = memoryLogger("info");
    log("info", ["Service 'api' started."]);
    log("warn", ["a", "warning", { n: 1 }]);
    expect(raw.every((l) => l.endsWith("\n") && l.indexOf("\n") === l.length - 1)).toBe(true);
    expect(lines()[0]).toEqual({
      level: "info",
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      node_id: "node-1",
      module: "api",
      msg: "Service 'api' started.",
    });
    expect(lines()[1]).toMatchObject({ level: "warn", msg: "a warning", data: { n: 1 } });
  });

  it("skips the levels below its own", () => {
    const { raw, log } = memoryLogger("info");
    log("debug", ["not written"]);
    log("trace", ["not written"]);
    expect(raw).toEqual([]);
  });

  it("names the request a call gives, whatever follows the fields (a message, an error alone)", () => {
    const { lines, log } = memoryLogger("debug");
    log("info", ["no request"]);
    log("warn", [requestFields({ requestID: "req-a" }), "from a context"]);
    log("warn", [requestFields("req-b"), new ContractError(404, "nope")]);
    log("warn", [requestFields(undefined), "no id: no field"]);
    expect(lines().map((l) => [l.msg, l.request_id])).toEqual([
      ["no request", undefined],
      ["from a context", "req-a"],
      ["ContractError: nope", "req-b"],
      ["no id: no field", undefined],
    ]);
    expect(lines()[2].err).toEqual({ type: "ContractError", message: "nope", code: 404, kind: "CONTRACT_ERROR" });
  });

  it("requestLogger names the request on every level, and is the logger itself without an id", () => {
    const { lines, log } = memoryLogger("debug");
    const base = {
      fatal: (...a: unknown[]) => log("fatal", a),
      error: (...a: unknown[]) => log("error", a),
      warn: (...a: unknown[]) => log("warn", a),
      info: (...a: unknown[]) => log("info", a),
      debug: (...a: unknown[]) => log("debug", a),
      trace: (...a: unknown[]) => log("trace", a),
    };
    requestLogger(base, { requestID: "req-c" }).warn("published nothing");
    requestLogger(base, { requestID: "req-c" }).debug("detail", { n: 1 });
    expect(requestLogger(base, { requestID: null })).toBe(base);
    expect(lines()).toEqual([
      expect.objectContaining({ level: "warn", request_id: "req-c", msg: "published nothing" }),
      expect.objectContaining({ level: "debug", request_id: "req-c", msg: "detail", data: { n: 1 } }),
    ]);
  });

  it("writes a bug's stack and an expected failure without one", () => {
    const { lines, raw, log } = memoryLogger("info");
    const bug = new TypeError("undefined is not a function");
    log("error", [{ request_id: "r-500" }, "GET /x answered 500:", bug]);
    log("warn", ["rejected", new ContractError(422, "Validation failed")]);
    expect(lines()[0]).toMatchObject({ level: "error", request_id: "r-500", err: { type: "TypeError", stack: bug.stack } });
    expect(lines()[1].err).toEqual({ type: "ContractError", message: "Validation failed", code: 422, kind: "CONTRACT_ERROR" });
    expect(raw[1]).not.toMatch(/stack|\\n\s+at /);
  });

  it("redacts call params, meta and results, credential headers and the configuration's keys", () => {
    const { raw, lines, log } = memoryLogger("debug");
    const secret = "sk-should-never-show";
    log("error", ["packet", { type: "REQUEST", payload: { action: "secrets.put", params: { id: "a", value: secret }, meta: { k: secret } } }]);
    log("warn", ["answer", { payload: { data: { value: secret } } }, { params: { value: secret } }]);
    log("warn", ["request", { headers: { authorization: `Bearer ${secret}`, "x-api-key": secret, host: "h" } }]);
    log("info", ["config", { secrets: { key: secret }, access: { adminKey: secret }, runtime: { backendEnv: { K: secret } } }]);
    log("info", [{ headers: { "x-api-key": secret } }, "fields"]);
    expect(raw.join("")).not.toContain(secret);
    expect(lines()[0].data).toMatchObject({ type: "REQUEST", payload: { action: "secrets.put", params: "[redacted]", meta: "[redacted]" } });
    expect(lines()[2].data).toEqual({ headers: { authorization: "[redacted]", "x-api-key": "[redacted]", host: "h" } });
  });
});
