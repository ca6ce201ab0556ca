/**
 * Structured logs of the real entrypoint (runtime-contract §27, §28), read from its stdout:
 * - LOG_FORMAT=json at LOG_LEVEL=debug: every line is one JSON object; the lines of a failing request
 *   (a 404, a 422, a 401) carry its X-Request-ID and no stack; its per-request debug line has the
 *   route template, method, status and duration; an unsafe X-Request-ID (too long, a space, a
 *   quote) is replaced by a generated id, the one in the answer's header and in the lines;
 * - no secret ever: a run in keyed mode that puts a secret, reveals it and tests it, and a body
 *   with the secret that fails to parse — neither the secret, nor the admin key used on every
 *   request, nor CONSOLE_MCP_SECRETS_KEY is in any line;
 * - a gateway whose services are missing (SERVICES=api) answers 503: one warning with the request
 *   id, no stack, no error line; that process uses the default format (no NODE_ENV: pretty), whose
 *   lines are readable text.
 */
import { ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { freePort } from "../helpers/nats";
import { waitUntil } from "../helpers/process";
import { tempDir } from "../helpers/server";

const ENTRY = path.resolve(__dirname, "../../bin/console-mcp-server.js");

interface Backend {
  base: string;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** SIGTERM, then the exit code once the process is gone. */
  stop(): Promise<number | null>;
}

async function startBackend(dir: string, env: Record<string, string>): Promise<Backend> {
  const port = await freePort();
  const child = spawn(process.execPath, [ENTRY], {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: dir,
      CONSOLE_MCP_SERVER_HOST: "127.0.0.1",
      CONSOLE_MCP_SERVER_PORT: String(port),
      CONSOLE_MCP_DB_PATH: path.join(dir, "console.db"),
      CONSOLE_MCP_SEED: "none",
      CONSOLE_MCP_SECRETS_KEY_FILE: path.join(dir, "secrets.key"),
      ...env,
    },
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => setImmediate(() => resolve(code))));
  const backend: Backend = {
    base: `http://127.0.0.1:${port}/api/v1`,
    child,
    stdout: () => out,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
  try {
    await waitUntil(async () => (await fetch(`${backend.base}/healthz`)).ok, 30000, "the backend to answer");
  } catch (e) {
    await backend.stop();
    throw new Error(`${(e as Error).message}\n${out}\n${err}`);
  }
  return backend;
}

type Line = Record<string, unknown>;

/** Text that reads like a stack trace (`    at fn (file:1:2)`). */
const STACK_TEXT = /\n\s+at |\bstack\b/;

describe("JSON logs of a keyed backend at debug (§27)", () => {
  const ADMIN = `adm-${randomBytes(16).toString("hex")}`;
  const SECRET = `sk-logs-${randomBytes(16).toString("hex")}`;
  const STORE_KEY = randomBytes(32).toString("base64");
  const rid = (name: string) => `logs-${name}-${randomBytes(4).toString("hex")}`;
  const ids = { notFound: rid("404"), invalid: rid("422"), noKey: rid("401"), put: rid("put"), ok: rid("200") };
  let dir: string;
  let backend: Backend;
  let lines: Line[];
  let stdout: string;
  const unsafe: { sent: string; answered: string | null }[] = [];
  const statuses: Record<string, number> = {};

  const send = async (name: string, method: string, p: string, opts: { id?: string; key?: boolean; bearer?: boolean; body?: string } = {}) => {
    const headers: Record<string, string> = {};
    if (opts.id !== undefined) headers["x-request-id"] = opts.id;
    if (opts.key !== false) {
      if (opts.bearer === true) headers.authorization = `Bearer ${ADMIN}`;
      else headers["x-api-key"] = ADMIN;
    }
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(`${backend.base}${p}`, { method, headers, body: opts.body });
    await res.text();
    statuses[name] = res.status;
    return res;
  };

  beforeAll(async () => {
    dir = tempDir("console-mcp-logs-");
    backend = await startBackend(dir, { LOG_FORMAT: "json", LOG_LEVEL: "debug", CONSOLE_MCP_ADMIN_KEY: ADMIN, CONSOLE_MCP_SECRETS_KEY: STORE_KEY });
    try {
      await waitUntil(async () => (await fetch(`${backend.base}/readyz`)).ok, 30000, "the backend to be ready");
      await send("notFound", "GET", "/servers/no-such-server", { id: ids.notFound });
      await send("invalid", "GET", "/telemetry/runs?limit=0", { id: ids.invalid });
      await send("noKey", "GET", "/servers", { id: ids.noKey, key: false });
      await send("ok", "GET", "/providers", { id: ids.ok });
      // The secret: stored, revealed, tested (a real start of the server's command, which fails), and
      // in a body that is not JSON; the admin key on every request, as X-API-Key and as a bearer token.
      await send("put", "PUT", "/secrets/gemini", { id: ids.put, bearer: true, body: JSON.stringify({ value: SECRET }) });
      await send("reveal", "GET", "/secrets/gemini");
      await send("test", "POST", "/secrets/gemini/test", { bearer: true });
      await send("badBody", "PUT", "/secrets/gemini", { body: `{"value": "${SECRET}",` });
      for (const sent of ["u".repeat(129), "has space", 'quote"d']) {
        const res = await send("unsafe", "GET", "/providers", { id: sent });
        unsafe.push({ sent, answered: res.headers.get("x-request-id") });
      }
    } finally {
      expect(await backend.stop()).toBe(0);
    }
    stdout = backend.stdout();
    lines = stdout
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Line);
  }, 90000);

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("ran the requests as planned", () => {
    expect(statuses).toEqual({ notFound: 404, invalid: 422, noKey: 401, ok: 200, put: 200, reveal: 200, test: 200, badBody: 422, unsafe: 200 });
  });

  it("writes one JSON object per line on stdout, each with time, level, node id, module and message, and nothing on stderr", () => {
    expect(lines.length).toBeGreaterThan(20);
    for (const line of lines) {
      expect(line).toMatchObject({
        time: expect.any(String),
        level: expect.stringMatching(/^(trace|debug|info|warn|error|fatal)$/),
        node_id: expect.any(String),
        module: expect.any(String),
        msg: expect.any(String),
      });
    }
    expect(backend.stderr()).toBe("");
  });

  it.each([
    ["a 404", "notFound", "/api/v1/servers/:id", 404],
    ["a 422", "invalid", "/api/v1/telemetry/runs", 422],
    ["a 401", "noKey", "/api/v1/servers", 401],
  ] as const)("the lines of %s carry its request id and no stack trace", (_label, name, route, status) => {
    const mine = lines.filter((l) => l.request_id === ids[name]);
    expect(mine.length).toBeGreaterThanOrEqual(1);
    for (const line of mine) expect(JSON.stringify(line)).not.toMatch(STACK_TEXT);
    // An expected failure is no warning or error.
    expect(mine.filter((l) => l.level !== "debug" && l.level !== "trace")).toEqual([]);
    const answered = mine.filter((l) => l.status !== undefined);
    expect(answered).toEqual([
      expect.objectContaining({ level: "debug", module: "api", method: "GET", route, status, duration_ms: expect.any(Number) }),
    ]);
    expect(answered[0].duration_ms as number).toBeGreaterThanOrEqual(0);
    // Lines elsewhere do not name the request without its id.
    expect(lines.filter((l) => l.request_id !== ids[name] && JSON.stringify(l).includes(ids[name]))).toEqual([]);
  });

  it("the actions' lines of a request carry its id too (the broker's, written while it runs)", () => {
    const broker = lines.filter((l) => l.request_id === ids.ok && l.module === "broker");
    expect(broker.map((l) => l.msg)).toContain("Call action locally.");
    expect(lines.filter((l) => l.request_id === ids.ok && l.status === 200)).toHaveLength(1);
  });

  it("an unsafe X-Request-ID is replaced by a generated id, returned in the header and used in the lines", () => {
    expect(unsafe).toHaveLength(3);
    for (const { sent, answered } of unsafe) {
      expect(answered).toMatch(/^[0-9a-f-]{36}$/);
      expect(answered).not.toBe(sent);
      expect(stdout).not.toContain(sent);
      expect(lines.filter((l) => l.request_id === answered && l.status === 200)).toHaveLength(1);
    }
    expect(new Set(unsafe.map((u) => u.answered)).size).toBe(3);
  });

  it("no line holds the secret, the admin key or the store key", () => {
    expect(lines.some((l) => l.request_id === ids.put)).toBe(true);
    for (const text of [SECRET, ADMIN, STORE_KEY]) expect(stdout).not.toContain(text);
    // Nor a recognisable part of them (a truncated or escaped copy).
    for (const text of [SECRET, ADMIN]) expect(stdout).not.toContain(text.slice(8, 24));
  });
});

describe("a missing service, in the default (pretty) format", () => {
  it("answers 503 with one warning naming the request, without a stack; lines are readable text", async () => {
    const dir = tempDir("console-mcp-logs-pretty-");
    const id = `logs-503-${randomBytes(4).toString("hex")}`;
    const backend = await startBackend(dir, { SERVICES: "api", LOG_LEVEL: "info" });
    let status = 0;
    let answeredId: string | null = null;
    try {
      const res = await fetch(`${backend.base}/providers`, { headers: { "x-request-id": id } });
      status = res.status;
      answeredId = res.headers.get("x-request-id");
      await res.text();
    } finally {
      expect(await backend.stop()).toBe(0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(status).toBe(503);
    expect(answeredId).toBe(id);
    const out = backend
      .stdout()
      .split("\n")
      .filter((l) => l !== "");
    // Readable lines, not JSON: `[HH:MM:SS.mmm] LEVEL: module: message`.
    expect(out.length).toBeGreaterThan(3);
    for (const line of out) expect(() => JSON.parse(line)).toThrow();
    expect(out).toContainEqual(expect.stringMatching(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: broker: Moleculer v[\d.]+ is starting\.\.\.$/));
    const mine = out.filter((l) => l.includes(id));
    expect(mine).toEqual([expect.stringMatching(new RegExp(`^\\[[\\d:.]+\\] WARN: \\[${id}\\] api: GET /api/v1/providers answered 503: `))]);
    expect(backend.stdout()).not.toMatch(/ERROR|\n\s+at /);
  }, 60000);
});
