/**
 * lib/config.ts: every variable's default and parsing (contract §2), CORS list parsing (§14), path
 * rules, and the broker settings.
 */
import os from "node:os";
import path from "node:path";
import { ALL_SERVICES, ConfigError, loadConfig, MAX_SESSION_IDLE_S, PROJECT_ROOT } from "../../lib/config";

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe("loadConfig defaults", () => {
  const config = loadConfig({});

  it("uses the contract's defaults for every variable", () => {
    expect(config.host).toBe("0.0.0.0");
    expect(config.port).toBe(8000);
    expect(config.serversPath).toBe(path.join(PROJECT_ROOT, "config/console-mcp/servers.example.json"));
    expect(config.store.dbUrl).toBeNull();
    expect(config.store.dbPath).toBe(path.join(os.homedir(), ".mcp/console.db"));
    expect(config.store.fixturesDir).toBe(path.join(PROJECT_ROOT, "fixtures"));
    expect(config.store.seed).toBe(true);
    expect(config.frontendHost).toBe("127.0.0.1");
    expect(config.frontendPort).toBe(5173);
    expect(config.corsOrigins).toBeNull();
    expect(config.logsDir).toBe(path.join(os.homedir(), ".mcp/logs"));
    expect(config.transporter).toBeNull();
    expect(config.nodeId).toBeNull();
    expect(config.logLevel).toBe("info");
    expect(config.logFormat).toBe("pretty");
    expect(config.services).toEqual([...ALL_SERVICES]);
    expect(config.warnings).toEqual([]);
  });

  it("binds 127.0.0.1 by default in development mode", () => {
    expect(loadConfig({}, "development").host).toBe("127.0.0.1");
    expect(loadConfig({}, "development").mode).toBe("development");
    expect(config.mode).toBe("production");
  });

  it("treats empty values as unset", () => {
    const c = loadConfig({
      CONSOLE_MCP_SERVER_HOST: "",
      CONSOLE_MCP_SERVER_PORT: "",
      CONSOLE_MCP_SERVERS_PATH: "",
      CONSOLE_MCP_DB_URL: "",
      CONSOLE_MCP_DB_PATH: "",
      CONSOLE_MCP_FIXTURES_DIR: "",
      CONSOLE_MCP_FRONTEND_HOST: "",
      CONSOLE_MCP_FRONTEND_PORT: "",
      CONSOLE_MCP_CORS_ORIGINS: "",
      TRANSPORTER: "",
      LOG_LEVEL: "",
      LOG_FORMAT: "",
      SERVICES: "",
    });
    // The backend's environment is kept whole for the MCP servers' allow-list and ${VAR} (§17.2).
    expect(c).toEqual({ ...config, runtime: { ...config.runtime, backendEnv: expect.objectContaining({ SERVICES: "" }) } });
  });
});

describe("CONSOLE_MCP_SERVER_HOST / CONSOLE_MCP_SERVER_PORT", () => {
  it("uses the host verbatim", () => {
    expect(loadConfig({ CONSOLE_MCP_SERVER_HOST: "::" }).host).toBe("::");
    expect(loadConfig({ CONSOLE_MCP_SERVER_HOST: "example.internal" }, "development").host).toBe("example.internal");
  });

  it.each([
    ["0", 0],
    ["65535", 65535],
    ["8080", 8080],
  ])("accepts port %s", (text, port) => {
    expect(loadConfig({ CONSOLE_MCP_SERVER_PORT: text }).port).toBe(port);
  });

  it.each(["abc", "70000", "65536", "-1", "80.5", " 80", "8e3", "0x50"])("rejects port %j naming the variable", (text) => {
    const err = configError({ CONSOLE_MCP_SERVER_PORT: text });
    expect(err.variable).toBe("CONSOLE_MCP_SERVER_PORT");
    expect(err.message).toContain("CONSOLE_MCP_SERVER_PORT");
    expect(err.message).toContain(JSON.stringify(text));
    expect(err.message).not.toContain("\n");
  });
});

describe("CONSOLE_MCP_FRONTEND_HOST / CONSOLE_MCP_FRONTEND_PORT", () => {
  it("reads a valid frontend port and host", () => {
    const c = loadConfig({ CONSOLE_MCP_FRONTEND_PORT: "3000", CONSOLE_MCP_FRONTEND_HOST: "localhost" });
    expect(c.frontendPort).toBe(3000);
    expect(c.frontendHost).toBe("localhost");
    expect(c.warnings).toEqual([]);
  });

  it.each(["abc", "70000", "-5", "1.5"])("falls back to 5173 with a warning for %j", (text) => {
    const c = loadConfig({ CONSOLE_MCP_FRONTEND_PORT: text });
    expect(c.frontendPort).toBe(5173);
    expect(c.warnings).toHaveLength(1);
    expect(c.warnings[0]).toContain("CONSOLE_MCP_FRONTEND_PORT");
    expect(c.warnings[0]).toContain(text);
  });
});

describe("CONSOLE_MCP_CORS_ORIGINS", () => {
  it("is null (defaults) when unset or empty", () => {
    expect(loadConfig({}).corsOrigins).toBeNull();
    expect(loadConfig({ CONSOLE_MCP_CORS_ORIGINS: "" }).corsOrigins).toBeNull();
  });

  it("splits on commas, trims, drops empty items and keeps the rest verbatim", () => {
    expect(loadConfig({ CONSOLE_MCP_CORS_ORIGINS: " https://a.example ,,http://B.example:8080/ , " }).corsOrigins).toEqual([
      "https://a.example",
      "http://B.example:8080/",
    ]);
  });

  it('" , " allows nothing (an empty list, not the defaults)', () => {
    expect(loadConfig({ CONSOLE_MCP_CORS_ORIGINS: " , " }).corsOrigins).toEqual([]);
  });

  it("keeps the * item", () => {
    expect(loadConfig({ CONSOLE_MCP_CORS_ORIGINS: "*" }).corsOrigins).toEqual(["*"]);
    expect(loadConfig({ CONSOLE_MCP_CORS_ORIGINS: "http://x.example, *" }).corsOrigins).toEqual(["http://x.example", "*"]);
  });
});

describe("paths", () => {
  it("resolves relative paths against the project root, not the working directory", () => {
    const cwd = process.cwd();
    const elsewhere = os.tmpdir();
    process.chdir(elsewhere);
    try {
      const c = loadConfig({
        CONSOLE_MCP_SERVERS_PATH: "some/servers.json",
        CONSOLE_MCP_DB_PATH: "data/console.db",
        CONSOLE_MCP_FIXTURES_DIR: "./seed",
        CONSOLE_MCP_LOGS_DIR: "../logs",
      });
      expect(c.serversPath).toBe(path.join(PROJECT_ROOT, "some/servers.json"));
      expect(c.store.dbPath).toBe(path.join(PROJECT_ROOT, "data/console.db"));
      expect(c.store.fixturesDir).toBe(path.join(PROJECT_ROOT, "seed"));
      expect(c.logsDir).toBe(path.resolve(PROJECT_ROOT, "../logs"));
    } finally {
      process.chdir(cwd);
    }
  });

  it("the project root is the directory holding package.json", () => {
    expect(require(path.join(PROJECT_ROOT, "package.json")).name).toBe("console-mcp-backend");
  });

  it("keeps absolute paths", () => {
    const c = loadConfig({ CONSOLE_MCP_SERVERS_PATH: "/etc/m.json", CONSOLE_MCP_DB_PATH: "/var/db/c.db", CONSOLE_MCP_FIXTURES_DIR: "/srv/fx" });
    expect(c.serversPath).toBe("/etc/m.json");
    expect(c.store.dbPath).toBe("/var/db/c.db");
    expect(c.store.fixturesDir).toBe("/srv/fx");
  });

  it("expands ~ for the DB path and the fixtures dir", () => {
    const c = loadConfig({ CONSOLE_MCP_DB_PATH: "~/x/console.db", CONSOLE_MCP_FIXTURES_DIR: "~" });
    expect(c.store.dbPath).toBe(path.join(os.homedir(), "x/console.db"));
    expect(c.store.fixturesDir).toBe(os.homedir());
  });

  it("does not expand ~ for the servers path (resolved as a relative path)", () => {
    const c = loadConfig({ CONSOLE_MCP_SERVERS_PATH: "~/servers.json" });
    expect(c.serversPath).toBe(path.join(PROJECT_ROOT, "~", "servers.json"));
  });

  it("does not treat ~user as the home directory", () => {
    expect(loadConfig({ CONSOLE_MCP_DB_PATH: "~other/c.db" }).store.dbPath).toBe(path.join(PROJECT_ROOT, "~other/c.db"));
  });
});

describe("CONSOLE_MCP_DB_URL", () => {
  it("accepts a PostgreSQL URL", () => {
    expect(loadConfig({ CONSOLE_MCP_DB_URL: "postgres://u@h:5432/db" }).store.dbUrl).toBe("postgres://u@h:5432/db");
    expect(loadConfig({ CONSOLE_MCP_DB_URL: "postgresql://h/db" }).store.dbUrl).toBe("postgresql://h/db");
  });

  it("rejects anything else naming the variable", () => {
    expect(configError({ CONSOLE_MCP_DB_URL: "mysql://h/db" }).variable).toBe("CONSOLE_MCP_DB_URL");
  });
});

describe("SERVICES", () => {
  it("selects services, trimmed and de-duplicated, in the given order", () => {
    expect(loadConfig({ SERVICES: " sessions, api ,providers,api" }).services).toEqual(["sessions", "api", "providers"]);
  });

  it.each(["api,billing", ",", "API"])("rejects %j naming the variable", (text) => {
    const err = configError({ SERVICES: text });
    expect(err.variable).toBe("SERVICES");
    expect(err.message).toContain("SERVICES");
  });
});

describe("TRANSPORTER", () => {
  it("accepts a NATS URL", () => {
    expect(loadConfig({ TRANSPORTER: "nats://127.0.0.1:4222" }).transporter).toBe("nats://127.0.0.1:4222");
  });

  it.each(["redis://127.0.0.1:6379", "nats://", "127.0.0.1:4222"])("rejects %j naming the variable", (text) => {
    expect(configError({ TRANSPORTER: text }).variable).toBe("TRANSPORTER");
  });
});

describe("LOG_LEVEL", () => {
  it.each(["fatal", "error", "warn", "info", "debug", "trace"])("accepts %s", (level) => {
    expect(loadConfig({ LOG_LEVEL: level }).logLevel).toBe(level);
  });

  it.each(["verbose", "INFO"])("rejects %j naming the variable", (text) => {
    expect(configError({ LOG_LEVEL: text }).variable).toBe("LOG_LEVEL");
  });
});

describe("LOG_FORMAT (runtime-contract §27, §28)", () => {
  it("is json under NODE_ENV=production and pretty otherwise, whatever the entrypoint", () => {
    expect(loadConfig({ NODE_ENV: "production" }).logFormat).toBe("json");
    expect(loadConfig({ NODE_ENV: "production" }, "development").logFormat).toBe("json");
    expect(loadConfig({ NODE_ENV: "development" }).logFormat).toBe("pretty");
    expect(loadConfig({}).logFormat).toBe("pretty");
  });

  it("overrides the default either way", () => {
    expect(loadConfig({ NODE_ENV: "production", LOG_FORMAT: "pretty" }).logFormat).toBe("pretty");
    expect(loadConfig({ LOG_FORMAT: "json" }).logFormat).toBe("json");
  });

  it.each(["JSON", "text", "pretty,json", " json"])("rejects %j with one line naming the variable", (text) => {
    const err = configError({ LOG_FORMAT: text });
    expect(err.variable).toBe("LOG_FORMAT");
    expect(err.message).toBe(`Invalid LOG_FORMAT=${JSON.stringify(text)}: expected one of json, pretty`);
    expect(err.message).not.toContain("\n");
  });
});

describe("other broker settings", () => {
  it("reads NODE_ID and the seed switch", () => {
    const c = loadConfig({ NODE_ID: "node-7", CONSOLE_MCP_SEED: "none" });
    expect(c.nodeId).toBe("node-7");
    expect(c.store.seed).toBe(false);
    expect(configError({ CONSOLE_MCP_SEED: "always" }).variable).toBe("CONSOLE_MCP_SEED");
  });

  it("reads timeouts and heartbeats within bounds", () => {
    const c = loadConfig({ REQUEST_TIMEOUT: "2500", HEARTBEAT_INTERVAL: "1", HEARTBEAT_TIMEOUT: "3" });
    expect([c.requestTimeoutMs, c.heartbeatIntervalS, c.heartbeatTimeoutS]).toEqual([2500, 1, 3]);
    const d = loadConfig({});
    expect([d.requestTimeoutMs, d.heartbeatIntervalS, d.heartbeatTimeoutS]).toEqual([10000, 2, 6]);
    expect(configError({ REQUEST_TIMEOUT: "soon" }).variable).toBe("REQUEST_TIMEOUT");
    expect(configError({ HEARTBEAT_INTERVAL: "5", HEARTBEAT_TIMEOUT: "5" }).variable).toBe("HEARTBEAT_TIMEOUT");
  });

  it("reads the NATS node probe switch (on by default)", () => {
    expect(loadConfig({}).natsNodeProbe).toBe(true);
    expect(loadConfig({ NATS_NODE_PROBE: "off" }).natsNodeProbe).toBe(false);
    expect(configError({ NATS_NODE_PROBE: "yes" }).variable).toBe("NATS_NODE_PROBE");
  });

  it("reads the metrics switch (on by default; on or off, one line naming the variable otherwise)", () => {
    expect(loadConfig({}).metrics).toEqual({ enabled: true });
    expect(loadConfig({ CONSOLE_MCP_METRICS: "off" }).metrics).toEqual({ enabled: false });
    expect(loadConfig({ CONSOLE_MCP_METRICS: "on" }).metrics).toEqual({ enabled: true });
    const err = configError({ CONSOLE_MCP_METRICS: "yes" });
    expect(err.variable).toBe("CONSOLE_MCP_METRICS");
    expect(err.message).toBe('Invalid CONSOLE_MCP_METRICS="yes": expected on or off');
  });
});

describe("store pools and the thread pool", () => {
  it("reads the read and write pool sizes (4 each by default, 1..64)", () => {
    const d = loadConfig({});
    expect([d.store.readPoolSize, d.store.writePoolSize]).toEqual([4, 4]);
    const c = loadConfig({ CONSOLE_MCP_DB_READ_POOL: "8", CONSOLE_MCP_DB_WRITE_POOL: "2" });
    expect([c.store.readPoolSize, c.store.writePoolSize]).toEqual([8, 2]);
    for (const bad of ["0", "65", "-1", "2.5", "many", " 4"]) {
      const err = configError({ CONSOLE_MCP_DB_READ_POOL: bad });
      expect(err.variable).toBe("CONSOLE_MCP_DB_READ_POOL");
      expect(err.message).toContain("1..64");
      expect(configError({ CONSOLE_MCP_DB_WRITE_POOL: bad }).variable).toBe("CONSOLE_MCP_DB_WRITE_POOL");
    }
  });

  it("sizes libuv's thread pool for a SQLite store's read pool plus the writer, unless UV_THREADPOOL_SIZE is set", () => {
    expect(loadConfig({}).threadPoolSize).toBe(7);
    expect(loadConfig({ CONSOLE_MCP_DB_READ_POOL: "1" }).threadPoolSize).toBe(4);
    expect(loadConfig({ CONSOLE_MCP_DB_READ_POOL: "12" }).threadPoolSize).toBe(15);
    expect(loadConfig({ UV_THREADPOOL_SIZE: "2" }).threadPoolSize).toBeNull();
    expect(loadConfig({ CONSOLE_MCP_DB_URL: "postgres://h/db" }).threadPoolSize).toBeNull();
  });
});

describe("CONSOLE_MCP_SESSION_IDLE_S (runtime-contract §22, §28)", () => {
  it("is 86,400 seconds by default; 0 turns expiry off; up to ten years", () => {
    expect(loadConfig({}).runtime.sessionIdleS).toBe(86_400);
    expect(loadConfig({ CONSOLE_MCP_SESSION_IDLE_S: "" }).runtime.sessionIdleS).toBe(86_400);
    expect(loadConfig({ CONSOLE_MCP_SESSION_IDLE_S: "0" }).runtime.sessionIdleS).toBe(0);
    expect(loadConfig({ CONSOLE_MCP_SESSION_IDLE_S: "1" }).runtime.sessionIdleS).toBe(1);
    expect(loadConfig({ CONSOLE_MCP_SESSION_IDLE_S: String(MAX_SESSION_IDLE_S) }).runtime.sessionIdleS).toBe(MAX_SESSION_IDLE_S);
  });

  it.each(["-1", "1.5", "1e3", "day", " 60", String(MAX_SESSION_IDLE_S + 1), "99999999999999999999"])(
    "%j stops startup with one line naming the variable",
    (bad) => {
      const err = configError({ CONSOLE_MCP_SESSION_IDLE_S: bad });
      expect(err.variable).toBe("CONSOLE_MCP_SESSION_IDLE_S");
      expect(err.message).toBe(`Invalid CONSOLE_MCP_SESSION_IDLE_S=${JSON.stringify(bad)}: expected an integer in 0..${MAX_SESSION_IDLE_S}`);
    },
  );
});

describe("CONSOLE_MCP_SSE_MAX_CLIENTS and CONSOLE_MCP_SSE_KEEPALIVE_MS (runtime-contract §23.1, §28)", () => {
  it("default to 1,000 streams and 15 s", () => {
    expect(loadConfig({}).events).toEqual({ maxClients: 1000, keepAliveMs: 15_000 });
    expect(loadConfig({ CONSOLE_MCP_SSE_MAX_CLIENTS: "5", CONSOLE_MCP_SSE_KEEPALIVE_MS: "50" }).events).toEqual({ maxClients: 5, keepAliveMs: 50 });
  });

  it.each([
    ["CONSOLE_MCP_SSE_MAX_CLIENTS", "0", "1..100000"],
    ["CONSOLE_MCP_SSE_MAX_CLIENTS", "many", "1..100000"],
    ["CONSOLE_MCP_SSE_KEEPALIVE_MS", "5", "10..3600000"],
    ["CONSOLE_MCP_SSE_KEEPALIVE_MS", "1.5", "10..3600000"],
  ])("%s=%j stops startup with one line naming it", (variable, bad, range) => {
    const err = configError({ [variable]: bad });
    expect(err.variable).toBe(variable);
    expect(err.message).toBe(`Invalid ${variable}=${JSON.stringify(bad)}: expected an integer in ${range}`);
  });
});
