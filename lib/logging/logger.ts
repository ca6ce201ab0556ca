/**
 * The broker's logger (runtime-contract §27, §28): Moleculer's Pino logger type, writing
 * - `LOG_FORMAT=json` (the default when NODE_ENV=production): one JSON object per line on stdout,
 *   `{"level":"warn","time":"2026-…Z","node_id":…,"module":…,"request_id":…,"msg":…}` — `module` is
 *   the Moleculer module (a service's name, or broker, transit, registry…), `request_id` is there
 *   on every line written for a request (given by the call: lib/logging/request-context.ts), `err`
 *   and `data` when the call passed an error or objects (lib/logging/entry.ts);
 * - `LOG_FORMAT=pretty` (the default otherwise): the same entries as readable lines through
 *   pino-pretty, in this process (no worker thread).
 *
 * Both write synchronously, so the last lines before an exit are not lost. No secret reaches a
 * line: the code logs none, error `data` is never written, and as a second line of defence the
 * paths where Moleculer or a careless call could put one (call params, meta and results of a
 * context or packet, credential headers, the configuration's keys) are replaced by `[redacted]`.
 */
import { Loggers } from "moleculer";
import type { LoggerConfig } from "moleculer";
import { pino, stdTimeFunctions } from "pino";
import type { DestinationStream, Logger as Pino } from "pino";
import type { LogFormat, LogLevel } from "../config";
import { logEntry } from "./entry";

/** Replaced by `[redacted]` wherever they appear in a line (pino's `redact`, one level per `*`). */
export const REDACTED_PATHS: readonly string[] = [
  // A Context, a Packet or its payload logged as data: action params, meta, results, event payloads.
  ...["params", "meta", "payload.params", "payload.meta", "payload.data"].flatMap((p) => [p, `data.${p}`, `data[*].${p}`]),
  // Credentials of an HTTP request.
  ...["authorization", '["x-api-key"]', "cookie"].flatMap((h) => {
    const header = h.startsWith("[") ? `headers${h}` : `headers.${h}`;
    return [header, `data.${header}`, `data.req.${header}`, `data[*].${header}`];
  }),
  // The backend's own keys and environment (the configuration object, or its parts).
  ...["secrets", "access.adminKey", "adminKey", "runtime.backendEnv", "backendEnv", "env", "value"].flatMap((p) => [p, `data.${p}`]),
];

const CENSOR = "[redacted]";

/** The options of the pino instance behind every line. */
export function pinoOptions(level: LogLevel): Record<string, unknown> {
  return {
    level,
    base: null,
    timestamp: stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    // `err` is already written as it should be (lib/logging/entry.ts loggedError): not pino's serializer.
    serializers: { err: (err: unknown) => err },
    redact: { paths: [...REDACTED_PATHS], censor: CENSOR },
  };
}

/**
 * Writes the one line of a failed start (bin/main.ts) on stderr: a JSON object at level `fatal`
 * with `module` "console-mcp-server", `msg` and, for an unexpected failure, `err` (with its stack)
 * when `format` is json, so a JSON log stays JSON to its last line; the plain text line
 * `console-mcp-server: <message>` when it is pretty.
 */
export function writeStartupFailure(format: LogFormat, message: string, err?: Error): void {
  if (format === "pretty") {
    process.stderr.write(`console-mcp-server: ${err === undefined ? message : `${message}: ${err.stack ?? err.message}`}\n`);
    return;
  }
  const line = pino({ ...pinoOptions("fatal"), base: { module: "console-mcp-server" } }, pino.destination({ dest: 2, sync: true }));
  if (err === undefined) line.fatal(message);
  else line.fatal({ err: { type: err.name, message: err.message, stack: err.stack } }, message);
}

/** Where the lines go: stdout as JSON, or through pino-pretty (sync, in this thread). */
function destinationFor(format: LogFormat): DestinationStream {
  if (format === "json") return pino.destination({ dest: 1, sync: true });
  // Loaded only when pretty is chosen.
  const pretty = require("pino-pretty") as (opts: Record<string, unknown>) => DestinationStream;
  return pretty({
    sync: true,
    destination: 1,
    translateTime: "SYS:HH:MM:ss.l",
    // The request line's fields are in its message already; node_id is the same on every line.
    ignore: "node_id,module,service,request_id,method,route,status,duration_ms",
    messageFormat: "{if request_id}[{request_id}] {end}{module}: {msg}",
    singleLine: true,
  });
}

interface Bindings {
  nodeID?: string;
  mod?: string;
  svc?: string;
}

type LevelName = "fatal" | "error" | "warn" | "info" | "debug" | "trace";

const PinoBase = Loggers.Pino as unknown as new (
  opts: Record<string, unknown>,
) => {
  pino: Pino;
  getLogLevel(mod: string | undefined): LevelName | null;
  init(factory: unknown): void;
};

/** The options of the logger type: the level (one for all, or per module as Moleculer takes it) and the format. */
export interface StructuredLoggerOptions {
  level: LogLevel | Record<string, LogLevel>;
  format: LogFormat;
  /** Where JSON lines go instead of stdout (tests: an object with `write(line)`); json format only. */
  destination?: DestinationStream;
}

/**
 * Moleculer's Pino logger with the entry shape above: each Moleculer module gets a pino child bound
 * to its node id and module name; each call's arguments become one entry (logEntry). A level below
 * the module's is skipped before any work. Registered as the logger type `StructuredPino`.
 */
export class StructuredLogger extends PinoBase {
  constructor(opts: StructuredLoggerOptions) {
    const destination = opts.format === "json" && opts.destination !== undefined ? opts.destination : destinationFor(opts.format);
    super({ level: opts.level, pino: { options: pinoOptions("trace"), destination } });
  }

  getLogHandler(bindings: Bindings | undefined): ((type: LevelName, args: unknown[]) => void) | null {
    const level = bindings === undefined ? null : this.getLogLevel(bindings.mod);
    if (level === null) return null;
    const own: Record<string, string> = {};
    if (bindings?.nodeID !== undefined) own.node_id = bindings.nodeID;
    if (bindings?.mod !== undefined) own.module = bindings.mod;
    if (bindings?.svc !== undefined && bindings.svc !== bindings.mod) own.service = bindings.svc;
    const child = this.pino.child(own, { level });
    return (type, args) => {
      if (!child.isLevelEnabled(type)) return;
      const { fields, msg } = logEntry(args);
      child[type](fields, msg);
    };
  }
}

// (Moleculer's declaration of register wants an instance; the registry holds classes.)
Loggers.register("StructuredPino", StructuredLogger as unknown as Parameters<typeof Loggers.register>[1]);

/**
 * The broker's `logger` option for a level and format (moleculer.config.ts). A plain option object:
 * the broker makes the logger (and its output stream) only when it uses this option.
 */
export function brokerLogger(level: LogLevel, format: LogFormat): LoggerConfig {
  const options: StructuredLoggerOptions = { level, format };
  return { type: "StructuredPino", options } as unknown as LoggerConfig;
}
