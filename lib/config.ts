/**
 * The one module that reads the environment. Every variable of the contract (§2) plus the broker
 * settings is parsed and validated here, once, at process start. A bad value throws a ConfigError
 * whose message is one line naming the variable and the expected form.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** The folder holding package.json: the sources' parent, or the build's (dist/) parent. */
function findProjectRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(start, "..");
  }
}

export const PROJECT_ROOT = findProjectRoot(path.resolve(__dirname, ".."));

/** The backend's version, from package.json. */
export const VERSION: string = (JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8")) as { version: string }).version;

export type RunMode = "production" | "development";

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace";
const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace"];

/** How log lines are written (runtime-contract §27, §28): one JSON object per line, or readable text. */
export type LogFormat = "json" | "pretty";
const LOG_FORMATS: readonly LogFormat[] = ["json", "pretty"];

export const ALL_SERVICES = ["api", "providers", "sessions", "telemetry", "finops", "routing", "runtime", "secrets", "access"] as const;
export type ServiceName = (typeof ALL_SERVICES)[number];

/** Default size of the store's read pool (CONSOLE_MCP_DB_READ_POOL). */
export const DEFAULT_READ_POOL_SIZE = 4;
/** Default size of the PostgreSQL write pool (CONSOLE_MCP_DB_WRITE_POOL). */
export const DEFAULT_WRITE_POOL_SIZE = 4;

export interface StoreConfig {
  /** PostgreSQL URL when set; otherwise the SQLite file below is used. */
  dbUrl: string | null;
  /** Absolute path of the SQLite file. */
  dbPath: string;
  /** Absolute path of the seed directory. */
  fixturesDir: string;
  /** false when CONSOLE_MCP_SEED=none. */
  seed: boolean;
  /**
   * Connections of the read pool (CONSOLE_MCP_DB_READ_POOL): read-only SQLite connections beside the
   * one writer (WAL), or the PostgreSQL pool of the read actions. Shared by the store services of a process.
   */
  readPoolSize: number;
  /**
   * Connections of the PostgreSQL write pool (CONSOLE_MCP_DB_WRITE_POOL). SQLite always writes through
   * one connection per process (the database takes one writer at a time).
   */
  writePoolSize: number;
}

/** Largest CONSOLE_MCP_SESSION_IDLE_S: ten years of seconds. */
export const MAX_SESSION_IDLE_S = 315_360_000;

/** The MCP runtime's settings (runtime-contract §28). */
export interface RuntimeConfig {
  /** CONSOLE_MCP_MAX_PROCESSES: processes one replica may hold (§18.4), default 32. */
  maxProcesses: number;
  /** CONSOLE_MCP_LOG_RETENTION: log entries kept per server (§19), default 1,000. */
  logRetention: number;
  /** CONSOLE_MCP_HEALTH_INTERVAL_S: seconds between periodic pings of a running server (§20), 0 = off; default 30. */
  healthIntervalS: number;
  /**
   * CONSOLE_MCP_SESSION_IDLE_S: seconds without a tool call after which a session is closed (§22),
   * 0 = never; default 86,400. At most ten years.
   */
  sessionIdleS: number;
  /**
   * The backend's environment, read once here: the source of a server process's allow-listed
   * variables and of `${VAR}` in its `env` (§17.2). Nothing else of it reaches a server.
   */
  backendEnv: Readonly<Record<string, string | undefined>>;
}

/** The event stream's settings (runtime-contract §23.1, §28). */
export interface EventStreamConfig {
  /** CONSOLE_MCP_SSE_MAX_CLIENTS: `GET /events` streams one gateway holds at once (503 beyond), default 1,000. */
  maxClients: number;
  /** CONSOLE_MCP_SSE_KEEPALIVE_MS: milliseconds between `: keep-alive` comments, default 15,000. */
  keepAliveMs: number;
}

/** Secrets handed to servers (runtime-contract §24). */
export interface SecretsConfig {
  /**
   * CONSOLE_MCP_SECRETS_KEY (base64 of 32 bytes) decoded: the AES-256-GCM key of the stored secrets,
   * or null to use the key file below (generated on first use).
   */
  key: Buffer | null;
  /** CONSOLE_MCP_SECRETS_KEY_FILE (default `~/.mcp/secrets.key`): the key file of one host, mode 0600. */
  keyFile: string;
  /**
   * CONSOLE_MCP_SECRETS_NEW_KEY (base64 of 32 bytes), or null: the key `npm run secrets -- rotate-key`
   * re-encrypts to (a new random key when null). Read by that command only.
   */
  newKey: Buffer | null;
}

/** Host names the rebinding guard accepts (runtime-contract §25.1). */
export interface AllowedHosts {
  /** `*` in CONSOLE_MCP_ALLOWED_HOSTS: the Host check is off. */
  any: boolean;
  /** Lower-cased names and addresses of CONSOLE_MCP_ALLOWED_HOSTS (no port). */
  names: string[];
}

/** API keys, the request guard and rate limits (runtime-contract §25, §28). */
export interface AccessConfig {
  /** CONSOLE_MCP_ADMIN_KEY: ensures an admin key named `bootstrap` with this value (keyed mode); null when unset. */
  adminKey: string | null;
  /** CONSOLE_MCP_ALLOWED_HOSTS. */
  allowedHosts: AllowedHosts;
  /** CONSOLE_MCP_RATE_LIMIT_RPS: requests per second per key (per client address in open mode); 0 = off. */
  rateLimitRps: number;
  /** CONSOLE_MCP_RATE_LIMIT_RUNS: ingested runs per second per key (or client address); 0 = off. */
  rateLimitRuns: number;
}

/** Prometheus metrics (runtime-contract §27). */
export interface MetricsConfig {
  /**
   * CONSOLE_MCP_METRICS (`on`, the default, or `off`): off, the gateway's GET /metrics answers 404 and
   * this node neither times requests nor counts broker calls (the benchmark's "without metrics").
   */
  enabled: boolean;
}

export interface Config {
  mode: RunMode;
  /** Prometheus metrics (runtime-contract §27). */
  metrics: MetricsConfig;
  /** The event stream of the gateway (runtime-contract §23.1). */
  events: EventStreamConfig;
  /** Secrets (runtime-contract §24). */
  secrets: SecretsConfig;
  /** Keys, roles, the request guard, rate limits (runtime-contract §25). */
  access: AccessConfig;
  /** The MCP runtime (runtime-contract §17–§21, §28). */
  runtime: RuntimeConfig;
  host: string;
  port: number;
  serversPath: string;
  store: StoreConfig;
  frontendHost: string;
  frontendPort: number;
  /** Explicit CORS allow-list, or null to use the defaults built from the frontend host/port. */
  corsOrigins: string[] | null;
  logsDir: string;
  /** Moleculer transporter URL (e.g. nats://127.0.0.1:4222), or null for the embedded mode. */
  transporter: string | null;
  nodeId: string | null;
  logLevel: LogLevel;
  /**
   * LOG_FORMAT (§28): `json` (one JSON object per line, §27) or `pretty`; by default `json` when
   * NODE_ENV=production (the Docker image), `pretty` otherwise.
   */
  logFormat: LogFormat;
  /** Services this process runs (SERVICES, comma-separated), every service when unset. */
  services: ServiceName[];
  /** Broker request timeout in ms (REQUEST_TIMEOUT). */
  requestTimeoutMs: number;
  /** Heartbeat interval/timeout in seconds (HEARTBEAT_INTERVAL / HEARTBEAT_TIMEOUT). */
  heartbeatIntervalS: number;
  heartbeatTimeoutS: number;
  /**
   * NATS_NODE_PROBE: notice a dead node through NATS at once (lib/nats-transporter.ts, which also
   * batches a turn's packets); false runs Moleculer's stock NATS transporter, which notices it at the
   * heartbeat timeout and publishes each packet on its own (for comparison).
   */
  natsNodeProbe: boolean;
  /**
   * The size libuv's thread pool should have in this process, or null to leave it alone
   * (threadPoolSizeFor). Applied by applyThreadPoolSize before anything uses the pool.
   */
  threadPoolSize: number | null;
  /** Warnings produced while reading (non-fatal fallbacks); the entrypoint logs them. */
  warnings: string[];
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    expected: string,
    value: string,
  ) {
    super(`Invalid ${variable}=${JSON.stringify(value)}: expected ${expected}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

function nonEmpty(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === "" ? undefined : value;
}

function isPortText(text: string): boolean {
  return /^\d+$/.test(text) && Number(text) <= 65535;
}

/** Resolves a path: `~` expanded when allowed, relative paths against the project root. */
export function resolveProjectPath(value: string, expandHome: boolean): string {
  let p = value;
  if (expandHome && (p === "~" || p.startsWith("~/"))) p = path.join(os.homedir(), p.slice(1));
  return path.isAbsolute(p) ? p : path.resolve(PROJECT_ROOT, p);
}

function integerIn(env: Env, name: string, fallback: number, min: number, max: number): number {
  const text = nonEmpty(env, name);
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new ConfigError(name, `an integer in ${min}..${max}`, text);
  }
  return Number(text);
}

/**
 * A 32-byte key given as base64 (standard or URL alphabet, padding optional); throws naming the
 * variable otherwise. The value itself never appears in the message.
 */
function secretKey(env: Env, name: string): Buffer | null {
  const text = nonEmpty(env, name);
  if (text === undefined) return null;
  const trimmed = text.trim();
  const bytes = /^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed) ? Buffer.from(trimmed.replace(/-/g, "+").replace(/_/g, "/"), "base64") : null;
  if (bytes === null || bytes.length !== 32) {
    throw new ConfigError(name, "the base64 text of 32 random bytes (e.g. from `openssl rand -base64 32`)", "<hidden>");
  }
  return bytes;
}

/** Shortest and longest CONSOLE_MCP_ADMIN_KEY, in characters. */
export const ADMIN_KEY_MIN_CHARS = 16;
export const ADMIN_KEY_MAX_CHARS = 512;

function adminKey(env: Env): string | null {
  const text = nonEmpty(env, "CONSOLE_MCP_ADMIN_KEY");
  if (text === undefined) return null;
  if (text.length < ADMIN_KEY_MIN_CHARS || text.length > ADMIN_KEY_MAX_CHARS || !/^[\x21-\x7e]+$/.test(text)) {
    throw new ConfigError("CONSOLE_MCP_ADMIN_KEY", `${ADMIN_KEY_MIN_CHARS}..${ADMIN_KEY_MAX_CHARS} visible ASCII characters (no spaces)`, "<hidden>");
  }
  return text;
}

function allowedHosts(env: Env): AllowedHosts {
  const text = nonEmpty(env, "CONSOLE_MCP_ALLOWED_HOSTS");
  if (text === undefined) return { any: false, names: [] };
  const names = text
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== "");
  for (const name of names) {
    if (name !== "*" && !/^(\[[0-9a-f:.]+\]|[a-z0-9_.:-]+)$/.test(name)) {
      throw new ConfigError("CONSOLE_MCP_ALLOWED_HOSTS", "a comma-separated list of host names or addresses (no ports), or *", text);
    }
  }
  return { any: names.includes("*"), names: names.filter((n) => n !== "*").map((n) => n.replace(/^\[(.*)\]$/, "$1")) };
}

/**
 * The environment a server process may see (§17.2: the allow-list and `${VAR}` in `env`), without
 * the backend's own keys: a catalog entry must not be able to copy the store key or the admin key
 * into a process.
 */
const HIDDEN_FROM_SERVERS = ["CONSOLE_MCP_SECRETS_KEY", "CONSOLE_MCP_SECRETS_NEW_KEY", "CONSOLE_MCP_ADMIN_KEY"];

function serverVisibleEnv(env: Env): Readonly<Record<string, string | undefined>> {
  const copy: Record<string, string | undefined> = { ...env };
  for (const name of HIDDEN_FROM_SERVERS) delete copy[name];
  return Object.freeze(copy);
}

/** A non-negative decimal number (e.g. `0.5`, `20`) up to `max`; `fallback` when unset. */
function numberIn(env: Env, name: string, fallback: number, max: number): number {
  const text = nonEmpty(env, name);
  if (text === undefined) return fallback;
  if (!/^\d+(\.\d+)?$/.test(text) || Number(text) > max) throw new ConfigError(name, `a number in 0..${max} (0 = off)`, text);
  return Number(text);
}

function readServices(env: Env): ServiceName[] {
  const text = nonEmpty(env, "SERVICES");
  if (text === undefined) return [...ALL_SERVICES];
  const names = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const unknown = names.filter((n) => !(ALL_SERVICES as readonly string[]).includes(n));
  if (names.length === 0 || unknown.length > 0) {
    throw new ConfigError("SERVICES", `a comma-separated list of ${ALL_SERVICES.join(", ")}`, text);
  }
  return [...new Set(names)] as ServiceName[];
}

export function loadConfig(env: Env, mode: RunMode = "production"): Config {
  const warnings: string[] = [];

  const portText = nonEmpty(env, "CONSOLE_MCP_SERVER_PORT");
  if (portText !== undefined && !isPortText(portText)) {
    throw new ConfigError("CONSOLE_MCP_SERVER_PORT", "an integer in 0..65535", portText);
  }

  let frontendPort = 5173;
  const frontendPortText = nonEmpty(env, "CONSOLE_MCP_FRONTEND_PORT");
  if (frontendPortText !== undefined) {
    if (isPortText(frontendPortText)) frontendPort = Number(frontendPortText);
    else warnings.push(`CONSOLE_MCP_FRONTEND_PORT=${JSON.stringify(frontendPortText)} is not a port in 0..65535; using 5173`);
  }

  const corsText = env.CONSOLE_MCP_CORS_ORIGINS;
  const corsOrigins =
    corsText !== undefined && corsText !== ""
      ? corsText
          .split(",")
          .map((s) => s.trim())
          .filter((s) => s !== "")
      : null;

  const transporter = nonEmpty(env, "TRANSPORTER") ?? null;
  if (transporter !== null && !/^nats:\/\/\S+$/.test(transporter)) {
    throw new ConfigError("TRANSPORTER", "a NATS URL such as nats://127.0.0.1:4222", transporter);
  }

  const logLevelText = nonEmpty(env, "LOG_LEVEL") ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(logLevelText)) {
    throw new ConfigError("LOG_LEVEL", `one of ${LOG_LEVELS.join(", ")}`, logLevelText);
  }

  const logFormatText = nonEmpty(env, "LOG_FORMAT") ?? (env.NODE_ENV === "production" ? "json" : "pretty");
  if (!(LOG_FORMATS as readonly string[]).includes(logFormatText)) {
    throw new ConfigError("LOG_FORMAT", `one of ${LOG_FORMATS.join(", ")}`, logFormatText);
  }

  const seedText = nonEmpty(env, "CONSOLE_MCP_SEED") ?? "fixtures";
  if (seedText !== "fixtures" && seedText !== "none") {
    throw new ConfigError("CONSOLE_MCP_SEED", "fixtures or none", seedText);
  }

  const dbUrl = nonEmpty(env, "CONSOLE_MCP_DB_URL") ?? null;
  if (dbUrl !== null && !/^postgres(ql)?:\/\//.test(dbUrl)) {
    throw new ConfigError("CONSOLE_MCP_DB_URL", "a PostgreSQL URL such as postgres://user@host:5432/db", dbUrl);
  }

  const metricsText = nonEmpty(env, "CONSOLE_MCP_METRICS") ?? "on";
  if (metricsText !== "on" && metricsText !== "off") throw new ConfigError("CONSOLE_MCP_METRICS", "on or off", metricsText);

  const probeText = nonEmpty(env, "NATS_NODE_PROBE") ?? "on";
  if (probeText !== "on" && probeText !== "off") throw new ConfigError("NATS_NODE_PROBE", "on or off", probeText);

  const readPoolSize = integerIn(env, "CONSOLE_MCP_DB_READ_POOL", DEFAULT_READ_POOL_SIZE, 1, 64);

  const heartbeatIntervalS = integerIn(env, "HEARTBEAT_INTERVAL", 2, 1, 3600);
  const heartbeatTimeoutS = integerIn(env, "HEARTBEAT_TIMEOUT", 6, 2, 3600);
  if (heartbeatTimeoutS <= heartbeatIntervalS) {
    throw new ConfigError("HEARTBEAT_TIMEOUT", "more seconds than HEARTBEAT_INTERVAL", String(heartbeatTimeoutS));
  }

  return {
    mode,
    metrics: { enabled: metricsText === "on" },
    events: {
      maxClients: integerIn(env, "CONSOLE_MCP_SSE_MAX_CLIENTS", 1000, 1, 100_000),
      keepAliveMs: integerIn(env, "CONSOLE_MCP_SSE_KEEPALIVE_MS", 15_000, 10, 3_600_000),
    },
    secrets: {
      key: secretKey(env, "CONSOLE_MCP_SECRETS_KEY"),
      keyFile: resolveProjectPath(nonEmpty(env, "CONSOLE_MCP_SECRETS_KEY_FILE") ?? "~/.mcp/secrets.key", true),
      newKey: secretKey(env, "CONSOLE_MCP_SECRETS_NEW_KEY"),
    },
    access: {
      adminKey: adminKey(env),
      allowedHosts: allowedHosts(env),
      rateLimitRps: numberIn(env, "CONSOLE_MCP_RATE_LIMIT_RPS", 0, 1_000_000),
      rateLimitRuns: numberIn(env, "CONSOLE_MCP_RATE_LIMIT_RUNS", 0, 100_000_000),
    },
    runtime: {
      maxProcesses: integerIn(env, "CONSOLE_MCP_MAX_PROCESSES", 32, 1, 10_000),
      logRetention: integerIn(env, "CONSOLE_MCP_LOG_RETENTION", 1000, 1, 1_000_000),
      healthIntervalS: integerIn(env, "CONSOLE_MCP_HEALTH_INTERVAL_S", 30, 0, 86_400),
      sessionIdleS: integerIn(env, "CONSOLE_MCP_SESSION_IDLE_S", 86_400, 0, MAX_SESSION_IDLE_S),
      backendEnv: serverVisibleEnv(env),
    },
    host: nonEmpty(env, "CONSOLE_MCP_SERVER_HOST") ?? (mode === "production" ? "0.0.0.0" : "127.0.0.1"),
    port: portText === undefined ? 8000 : Number(portText),
    serversPath: resolveProjectPath(nonEmpty(env, "CONSOLE_MCP_SERVERS_PATH") ?? "config/console-mcp/servers.example.json", false),
    store: {
      dbUrl,
      dbPath: resolveProjectPath(nonEmpty(env, "CONSOLE_MCP_DB_PATH") ?? "~/.mcp/console.db", true),
      fixturesDir: resolveProjectPath(nonEmpty(env, "CONSOLE_MCP_FIXTURES_DIR") ?? "fixtures", true),
      seed: seedText === "fixtures",
      readPoolSize,
      writePoolSize: integerIn(env, "CONSOLE_MCP_DB_WRITE_POOL", DEFAULT_WRITE_POOL_SIZE, 1, 64),
    },
    frontendHost: nonEmpty(env, "CONSOLE_MCP_FRONTEND_HOST") ?? "127.0.0.1",
    frontendPort,
    corsOrigins,
    logsDir: resolveProjectPath(nonEmpty(env, "CONSOLE_MCP_LOGS_DIR") ?? "~/.mcp/logs", true),
    transporter,
    nodeId: nonEmpty(env, "NODE_ID") ?? null,
    logLevel: logLevelText as LogLevel,
    logFormat: logFormatText as LogFormat,
    services: readServices(env),
    requestTimeoutMs: integerIn(env, "REQUEST_TIMEOUT", 10000, 100, 600000),
    heartbeatIntervalS,
    heartbeatTimeoutS,
    natsNodeProbe: probeText === "on",
    threadPoolSize: threadPoolSizeFor(env, dbUrl, readPoolSize),
    warnings,
  };
}

/** libuv's own default thread pool size. */
const LIBUV_DEFAULT_THREADS = 4;

/**
 * The thread pool a SQLite store needs: the sqlite3 driver runs every statement on libuv's thread
 * pool (4 threads unless UV_THREADPOOL_SIZE says otherwise), so with the read pool's connections all
 * running long reads the writer's statements would wait for a thread, and file and DNS work behind
 * both. A SQLite store gets one thread per read connection, one for the writer and two spare (at
 * least libuv's 4); UV_THREADPOOL_SIZE, when set, is left as it is (libuv reads it), and so is a
 * PostgreSQL store (its driver does not use the pool).
 */
function threadPoolSizeFor(env: Env, dbUrl: string | null, readPoolSize: number): number | null {
  if (nonEmpty(env, "UV_THREADPOOL_SIZE") !== undefined || dbUrl !== null) return null;
  return Math.max(LIBUV_DEFAULT_THREADS, readPoolSize + 3);
}

/**
 * Sizes libuv's thread pool for this process (config.threadPoolSize). libuv reads UV_THREADPOOL_SIZE
 * once, when the pool starts (at the first file, DNS or sqlite3 operation), so the entrypoint calls
 * this before creating the broker; later it has no effect.
 */
export function applyThreadPoolSize(config: Pick<Config, "threadPoolSize">): void {
  if (config.threadPoolSize !== null) process.env.UV_THREADPOOL_SIZE = String(config.threadPoolSize);
}

/** The configuration of this process, read from its environment on first use. */
let processConfig: Config | undefined;
/**
 * The log format for a line written when the configuration could not be read (a startup failure,
 * bin/main.ts): LOG_FORMAT when it is a valid one, else `json` when NODE_ENV=production, else
 * `pretty` (§28's default). Never throws.
 */
export function fallbackLogFormat(env: NodeJS.ProcessEnv = process.env): LogFormat {
  const text = nonEmpty(env, "LOG_FORMAT");
  if (text !== undefined && (LOG_FORMATS as readonly string[]).includes(text)) return text as LogFormat;
  return env.NODE_ENV === "production" ? "json" : "pretty";
}

export function configFromProcess(mode: RunMode = "production"): Config {
  if (processConfig === undefined || processConfig.mode !== mode) processConfig = loadConfig(process.env, mode);
  return processConfig;
}
