/**
 * The gateway's request path (issue 8, goal 4): a request that matches a route is one broker call
 * to the route's action — no `api.rest` context of its own — carrying the request's id
 * (a safe X-Request-ID, else a safe X-Correlation-ID, else a new one, echoed in the X-Request-ID
 * answer header: services/api/request-id.ts)
 * and, on the routes that honour it, the Idempotency-Key header as `meta.idempotencyKey`. Misses,
 * errors and CORS answer as before.
 */
import path from "node:path";
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import type { Context, Middleware, ServiceBroker } from "moleculer";
import { loadConfig } from "../../lib/config";
import { createBroker } from "../../lib/server";
import { request, tempDir } from "../helpers/server";

interface Recorded {
  action: string;
  requestID: string | null;
  level: number;
  params: Record<string, unknown>;
  meta: Record<string, unknown>;
}

const ORIGIN = "http://127.0.0.1:5173";

let broker: ServiceBroker;
let baseUrl: string;
let dir: string;
let calls: Recorded[] = [];

/** Records every local action call (including moleculer-web's own `api.rest`, were it called). */
const recorder: Middleware = {
  localAction(next: (ctx: Context) => Promise<unknown>, action: { name: string }) {
    return (ctx: Context) => {
      calls.push({
        action: action.name,
        requestID: ctx.requestID ?? null,
        level: ctx.level,
        // moleculer-web's own action gets { req, res }: not worth keeping (nor printing).
        params: action.name === "api.rest" ? {} : { ...(ctx.params as Record<string, unknown>) },
        meta: { ...(ctx.meta as Record<string, unknown>) },
      });
      return next(ctx);
    };
  },
} as unknown as Middleware;

beforeAll(async () => {
  dir = tempDir();
  const config = loadConfig(
    {
      CONSOLE_MCP_SERVER_HOST: "127.0.0.1",
      CONSOLE_MCP_SERVER_PORT: "0",
      CONSOLE_MCP_DB_PATH: path.join(dir, "console.db"),
      CONSOLE_MCP_SEED: "none",
      LOG_LEVEL: "warn",
      SERVICES: "api,providers,sessions,telemetry",
    },
    "development",
  );
  broker = createBroker(config, { logger: false, middlewares: [recorder] });
  await broker.start();
  const server = (broker.getLocalService("api") as unknown as { server: Server }).server;
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`;
});

afterAll(async () => {
  await broker.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  calls = [];
});

describe("a routed request is one broker call", () => {
  it("GET /providers calls providers.catalog once, as a root context, and nothing else", async () => {
    const res = await request(`${baseUrl}/providers`);
    expect(res.status).toBe(200);
    expect(Array.isArray(res.body.providers)).toBe(true);
    expect(calls.map((c) => c.action)).toEqual(["providers.catalog"]);
    expect(calls[0].level).toBe(1);
  });

  it("a trailing slash reaches the same action", async () => {
    const plain = await request(`${baseUrl}/providers`);
    calls = [];
    const slashed = await request(`${baseUrl}/providers/`);
    expect(slashed.status).toBe(200);
    expect(slashed.body).toEqual(plain.body);
    expect(calls.map((c) => c.action)).toEqual(["providers.catalog"]);
  });

  it("the query becomes the action's params (the last occurrence of a key winning)", async () => {
    const res = await request(`${baseUrl}/telemetry/runs?limit=2&provider_id=codex&limit=3`);
    expect(res.status).toBe(200);
    expect(calls[0].action).toBe("telemetry.runs");
    expect(calls[0].params).toEqual({ limit: "3", provider_id: "codex" });
  });

  it("path parameters are merged over the body", async () => {
    const res = await request(`${baseUrl}/providers/gemini/sessions`, { method: "POST", json: { provider_id: "codex" } });
    expect(res.status).toBe(200);
    expect(calls[0].action).toBe("sessions.create");
    expect(calls[0].params).toEqual({ provider_id: "gemini" });
  });
});

describe("client address (runtime-contract §25)", () => {
  it("every routed call carries the TCP peer's address as meta.clientAddress, never a forwarding header's", async () => {
    const res = await request(`${baseUrl}/providers`, { headers: { "x-forwarded-for": "10.9.9.9", forwarded: "for=10.9.9.9" } });
    expect(res.status).toBe(200);
    expect(calls[0].meta.clientAddress).toBe("127.0.0.1");
    await request(`${baseUrl}/providers/gemini/sessions`, { method: "POST", json: {} });
    expect(calls[1]).toMatchObject({ action: "sessions.create", meta: { clientAddress: "127.0.0.1" } });
  });
});

describe("request id", () => {
  it("echoes the client's X-Request-ID and gives it to the action", async () => {
    const res = await request(`${baseUrl}/providers`, { headers: { "x-request-id": "req-42" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toBe("req-42");
    expect(calls[0].requestID).toBe("req-42");
  });

  it("prefers X-Request-ID over X-Correlation-ID, which is taken when X-Request-ID is absent", async () => {
    const res = await request(`${baseUrl}/providers`, { headers: { "x-request-id": "req-1", "x-correlation-id": "corr-1" } });
    expect(res.headers.get("x-request-id")).toBe("req-1");
    const corr = await request(`${baseUrl}/providers`, { headers: { "x-correlation-id": "corr-2" } });
    expect(corr.headers.get("x-request-id")).toBe("corr-2");
    expect(calls.map((c) => c.requestID)).toEqual(["req-1", "corr-2"]);
  });

  it("never takes an unsafe id (§27: 1..128 of A-Z a-z 0-9 . _ : -): the action and the answer get a new one", async () => {
    const answered: (string | null)[] = [];
    for (const sent of ["r".repeat(129), "two words", "<script>"]) {
      const res = await request(`${baseUrl}/providers`, { headers: { "x-request-id": sent } });
      answered.push(res.headers.get("x-request-id"));
    }
    // A path no route matches takes moleculer-web's own pipeline: the same id there.
    const miss = await request(`${baseUrl}/no-such-path`, { headers: { "x-request-id": "two words" } });
    expect(miss.status).toBe(404);
    answered.push(miss.headers.get("x-request-id"));
    for (const id of answered) expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(answered).size).toBe(4);
    expect(calls.map((c) => c.requestID)).toEqual(answered);
    const exact = await request(`${baseUrl}/providers`, { headers: { "x-request-id": "r".repeat(128) } });
    expect(exact.headers.get("x-request-id")).toBe("r".repeat(128));
  });

  it("a preflight's answer carries the request id too", async () => {
    const res = await request(`${baseUrl}/providers`, {
      method: "OPTIONS",
      headers: { origin: ORIGIN, "access-control-request-method": "GET", "x-request-id": "pre-1" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toBe("pre-1");
  });

  it("gives each request without one a new id, the same in the answer and in the action", async () => {
    const a = await request(`${baseUrl}/providers`);
    const b = await request(`${baseUrl}/providers`);
    const idA = a.headers.get("x-request-id");
    const idB = b.headers.get("x-request-id");
    expect(idA).toMatch(/^[0-9a-f-]{36}$/);
    expect(idB).toMatch(/^[0-9a-f-]{36}$/);
    expect(idA).not.toBe(idB);
    expect(calls.map((c) => c.requestID)).toEqual([idA, idB]);
  });

  it("error answers of a routed request carry it, with CORS", async () => {
    const res = await request(`${baseUrl}/telemetry/runs?limit=0`, { headers: { "x-request-id": "bad-limit", origin: ORIGIN } });
    expect(res.status).toBe(422);
    expect(res.headers.get("x-request-id")).toBe("bad-limit");
    expect(res.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  });

  it("a malformed path parameter is a 4xx with CORS, and calls nothing", async () => {
    const res = await request(`${baseUrl}/providers/%zz/sessions`, { method: "POST", headers: { origin: ORIGIN } });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(calls).toEqual([]);
  });
});

describe("Idempotency-Key", () => {
  const runs = { runs: [{ provider_id: "gemini", route: "path", tokens_in: 1, ts: "2025-05-01T10:00:00Z" }] };

  it("reaches the action as meta.idempotencyKey on a route that honours it, with the route's 201", async () => {
    const res = await request(`${baseUrl}/telemetry/runs`, { method: "POST", json: runs, headers: { "idempotency-key": "k-1" } });
    expect(res.status).toBe(201);
    expect(calls.map((c) => c.action)).toEqual(["telemetry.ingest"]);
    expect(calls[0].meta.idempotencyKey).toBe("k-1");
  });

  it("is not passed to a route that does not honour it", async () => {
    const res = await request(`${baseUrl}/providers`, { headers: { "idempotency-key": "k-2" } });
    expect(res.status).toBe(200);
    expect(calls[0].meta).not.toHaveProperty("idempotencyKey");
  });

  it("is absent from meta when the header is absent", async () => {
    const res = await request(`${baseUrl}/telemetry/runs`, { method: "POST", json: runs });
    expect(res.status).toBe(201);
    expect(calls[0].meta).not.toHaveProperty("idempotencyKey");
  });
});

describe("misses", () => {
  it("an unknown path is a 404 with CORS and calls no service action", async () => {
    const res = await request(`${baseUrl}/nowhere`, { headers: { origin: ORIGIN } });
    expect(res.status).toBe(404);
    expect(res.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(calls.filter((c) => c.action !== "api.rest")).toEqual([]);
  });

  it("a known path with another method is a 405 with Allow", async () => {
    const res = await request(`${baseUrl}/providers`, { method: "DELETE" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET");
    expect(calls.filter((c) => c.action !== "api.rest")).toEqual([]);
  });
});
