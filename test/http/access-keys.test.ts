/**
 * API keys and roles over HTTP (runtime-contract §25.1):
 * - the role matrix, generated from the route table: every route × no key, a wrong key, viewer,
 *   operator and admin — 401 and 403 bodies exactly, every other answer reached the action (so a new
 *   route gets checked the day it is added, and a route without a role does not compile);
 * - keyed mode from CONSOLE_MCP_ADMIN_KEY (the `bootstrap` admin key), both header forms, expiry;
 * - key management: create (the secret shown once, never stored or listed), rotate, delete (the last
 *   admin key is kept while others exist), validation, roles;
 * - `last_used_at` written in batches, not per request;
 * - open mode: no key needed; the first key from loopback ends it, deleting the last one restores it.
 */
import type { Middleware } from "moleculer";
import { hashApiKey } from "../../lib/access";
import { loadConfig } from "../../lib/config";
import { brokerOptions } from "../../moleculer.config";
import { fullPath, ROUTES, RouteSpec } from "../../services/api/routes";
import { eventually } from "../helpers/process-groups";
import { openSse } from "../helpers/sse";
import { request, startTestServer, TestServer } from "../helpers/server";

const ADMIN = "admin-key-for-tests-0123456789";
const MISSING = { detail: "Missing or invalid API key" };

type Who = "none" | "wrong" | "viewer" | "operator" | "admin";
const RANK: Record<string, number> = { viewer: 0, operator: 1, admin: 2 };

/** A concrete request for a route: its whole path, parameters filled; an empty JSON object as the body when it takes one. */
function concrete(route: RouteSpec): { path: string; body?: string } {
  const path = fullPath(route).replace(/:([A-Za-z_]+)/g, (_m, name: string) => `matrix-${name}`);
  const takesBody = route.input.includes("body");
  return takesBody ? { path, body: "{}" } : { path };
}

function contractPath(route: RouteSpec): string {
  return route.path.replace(/:([A-Za-z_]+)/g, "{$1}");
}

/** Counts calls of one action on the broker (`last_used_at` batching). */
function counter(action: string, counts: { n: number }): Middleware {
  return {
    name: "test-counter",
    localAction(next: (ctx: unknown) => unknown, a: { name: string }) {
      if (a.name !== action) return next;
      return (ctx: unknown) => {
        counts.n += 1;
        return next(ctx);
      };
    },
  } as unknown as Middleware;
}

describe("keyed mode: the role matrix and key management", () => {
  let server: TestServer;
  const touches = { n: 0 };
  const keys: Record<Who, string | null> = { none: null, wrong: "cmk_not-a-key-at-all", viewer: null, operator: null, admin: ADMIN };
  const url = (p: string) => `${server.baseUrl}${p}`;
  const as = (who: Who, init: RequestInit & { json?: unknown } = {}) => {
    const headers = new Headers(init.headers);
    const key = keys[who];
    if (key !== null) headers.set("x-api-key", key);
    return { ...init, headers };
  };

  beforeAll(async () => {
    const env = { CONSOLE_MCP_ADMIN_KEY: ADMIN };
    const base = brokerOptions(loadConfig({ LOG_LEVEL: "warn" }, "development"));
    server = await startTestServer(env, { middlewares: [...(base.middlewares ?? []), counter("access.touch", touches)] });
    for (const role of ["viewer", "operator"] as const) {
      const res = await request(url("/security/api-keys"), as("admin", { method: "POST", json: { name: `${role}-key`, role } }));
      expect(res.status).toBe(201);
      keys[role] = res.body.secret;
    }
  }, 60_000);
  afterAll(() => server?.stop());

  it("every route has a role the gateway knows, and /healthz, /readyz are the only public ones", () => {
    for (const route of ROUTES) expect(["public", "viewer", "operator", "admin"]).toContain(route.role);
    expect(ROUTES.filter((r) => r.role === "public").map((r) => r.path)).toEqual(["/healthz", "/readyz"]);
    // §25.1: every GET is viewer, except revealing a secret, the key list and the audit log.
    expect(ROUTES.filter((r) => r.method === "GET" && r.role === "admin").map((r) => r.path)).toEqual([
      "/secrets/:id",
      "/security/api-keys",
      "/audit/logs",
    ]);
    // Every write has an audit name.
    for (const route of ROUTES.filter((r) => r.method !== "GET")) expect(typeof route.audit).toBe("string");
  });

  it("public routes answer without a key", async () => {
    expect((await request(url("/healthz"))).status).toBe(200);
    expect((await request(url("/readyz"), as("wrong"))).status).toBe(200);
  });

  const protectedRoutes = ROUTES.filter((r) => r.role !== "public");
  it.each(protectedRoutes.map((r) => [`${r.method} ${r.path}`, r] as const))(
    "%s: 401 without a valid key, 403 below its role, through at or above it",
    async (_name, route) => {
      const { path, body } = concrete(route);
      const send = async (who: Who): Promise<{ status: number; body: unknown }> => {
        const headers: Record<string, string> = body === undefined ? {} : { "content-type": "application/json" };
        if (keys[who] !== null) headers["x-api-key"] = keys[who] as string;
        const abort = new AbortController();
        const res = await fetch(`${new URL(server.baseUrl).origin}${path}`, { method: route.method, headers, body, signal: abort.signal });
        // An event stream (GET /events) never ends: its status and headers are the answer.
        if ((res.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
          abort.abort();
          return { status: res.status, body: null };
        }
        const text = await res.text();
        // GET /metrics answers Prometheus text, not JSON.
        if ((res.headers.get("content-type") ?? "").startsWith("text/plain")) return { status: res.status, body: text };
        return { status: res.status, body: text === "" ? null : JSON.parse(text) };
      };
      for (const who of ["none", "wrong"] as const) {
        const res = await send(who);
        expect({ who, status: res.status, body: res.body }).toEqual({ who, status: 401, body: MISSING });
      }
      for (const who of ["viewer", "operator", "admin"] as const) {
        const res = await send(who);
        if (RANK[who] < RANK[route.role]) {
          expect({ who, status: res.status, body: res.body }).toEqual({
            who,
            status: 403,
            body: { detail: `Role '${who}' may not ${route.method} ${contractPath(route)}` },
          });
        } else {
          expect([401, 403]).not.toContain(res.status);
        }
      }
    },
    60_000,
  );

  it("both header forms carry a key; a Bearer with another scheme or an empty X-API-Key is no key", async () => {
    expect((await request(url("/servers"), { headers: { authorization: `Bearer ${keys.viewer}` } })).status).toBe(200);
    expect((await request(url("/servers"), { headers: { authorization: `bearer ${keys.viewer}` } })).status).toBe(200);
    expect((await request(url("/servers"), { headers: { authorization: `Basic ${keys.viewer}` } })).body).toEqual(MISSING);
    expect((await request(url("/servers"), { headers: { "x-api-key": "" } })).status).toBe(401);
  });

  it("the bootstrap key is listed as an admin named bootstrap; no list shows a secret or a hash", async () => {
    const res = await request(url("/security/api-keys"), as("admin"));
    expect(res.status).toBe(200);
    const names = res.body.keys.map((k: any) => [k.name, k.role, k.prefix]);
    expect(names).toEqual([
      ["bootstrap", "admin", ADMIN.slice(0, 8)],
      ["viewer-key", "viewer", (keys.viewer as string).slice(0, 8)],
      ["operator-key", "operator", (keys.operator as string).slice(0, 8)],
    ]);
    expect(Object.keys(res.body.keys[0]).sort()).toEqual([
      "created_at",
      "expires_at",
      "id",
      "last_used_at",
      "name",
      "prefix",
      "rate_limit_rps",
      "rate_limit_runs",
      "role",
    ]);
    for (const secret of [ADMIN, keys.viewer, keys.operator] as string[]) {
      expect(res.text).not.toContain(secret);
      expect(res.text).not.toContain(hashApiKey(secret));
    }
  });

  it("create: the secret once, 422 per field, 409 for a name in use; rotate: the old secret stops working; delete", async () => {
    const bad = await request(
      url("/security/api-keys"),
      as("admin", { method: "POST", json: { name: "", role: "root", expires_at: "2001-01-01T00:00:00Z", rate_limit_rps: -1 } }),
    );
    expect(bad.status).toBe(422);
    expect(bad.body.detail.map((i: any) => i.loc.join("."))).toEqual(["body.name", "body.role", "body.expires_at", "body.rate_limit_rps"]);
    expect((await request(url("/security/api-keys"), as("admin", { method: "POST", json: { role: "viewer" } }))).body.detail[0]).toMatchObject({
      type: "missing",
      loc: ["body", "name"],
    });

    const created = await request(
      url("/security/api-keys"),
      as("admin", { method: "POST", json: { name: "ci", role: "operator", rate_limit_rps: 5 } }),
    );
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^cmk_[A-Za-z0-9_-]{43}$/);
    expect(created.body.key).toMatchObject({
      name: "ci",
      role: "operator",
      prefix: created.body.secret.slice(0, 8),
      last_used_at: null,
      expires_at: null,
      rate_limit_rps: 5,
      rate_limit_runs: null,
    });
    expect(await request(url("/security/api-keys"), as("admin", { method: "POST", json: { name: "ci", role: "viewer" } }))).toMatchObject({
      status: 409,
      body: { detail: "API key 'ci' already exists" },
    });

    const id = created.body.key.id;
    expect((await request(url("/sessions"), { headers: { "x-api-key": created.body.secret } })).status).toBe(200);
    const rotated = await request(url(`/security/api-keys/${id}/rotate`), as("admin", { method: "POST" }));
    expect(rotated.status).toBe(200);
    expect(rotated.body.key).toMatchObject({ id, name: "ci", role: "operator" });
    expect(rotated.body.secret).not.toBe(created.body.secret);
    expect((await request(url("/sessions"), { headers: { "x-api-key": created.body.secret } })).status).toBe(401);
    expect((await request(url("/sessions"), { headers: { "x-api-key": rotated.body.secret } })).status).toBe(200);

    expect((await request(url(`/security/api-keys/${id}`), as("admin", { method: "DELETE" }))).status).toBe(204);
    expect((await request(url("/sessions"), { headers: { "x-api-key": rotated.body.secret } })).status).toBe(401);
    expect(await request(url(`/security/api-keys/${id}`), as("admin", { method: "DELETE" }))).toMatchObject({
      status: 404,
      body: { detail: `API key '${id}' not found` },
    });
    expect((await request(url("/security/api-keys/nope/rotate"), as("admin", { method: "POST" }))).status).toBe(404);
  });

  it("an expired key is refused like a wrong one", async () => {
    const created = await request(
      url("/security/api-keys"),
      as("admin", {
        method: "POST",
        json: { name: "short-lived", role: "viewer", expires_at: new Date(Date.now() + 1500).toISOString() },
      }),
    );
    expect(created.status).toBe(201);
    const key = created.body.secret;
    await eventually(async () => (await request(url("/servers"), { headers: { "x-api-key": key } })).status === 401, 15_000, "the key to expire");
    expect((await request(url("/servers"), { headers: { "x-api-key": key } })).body).toEqual(MISSING);
  });

  it("the last admin key cannot be deleted while other keys exist", async () => {
    const list = (await request(url("/security/api-keys"), as("admin"))).body.keys;
    const bootstrap = list.find((k: any) => k.name === "bootstrap");
    expect(await request(url(`/security/api-keys/${bootstrap.id}`), as("admin", { method: "DELETE" }))).toMatchObject({
      status: 409,
      body: { detail: "The last admin key cannot be deleted while other keys exist: create another admin key first" },
    });
  });

  it("last_used_at is recorded in batches, not per request", async () => {
    const before = touches.n;
    const from = Date.now();
    for (let i = 0; i < 60; i++) expect((await request(url("/providers"), as("viewer"))).status).toBe(200);
    const last = Date.now();
    await eventually(
      async () => {
        const list = (await request(url("/security/api-keys"), as("admin"))).body.keys;
        const at = list.find((k: any) => k.name === "viewer-key").last_used_at;
        return at !== null && Date.parse(at) >= from;
      },
      20_000,
      "last_used_at of the viewer key",
    );
    const at = Date.parse((await request(url("/security/api-keys"), as("admin"))).body.keys.find((k: any) => k.name === "viewer-key").last_used_at);
    expect(at).toBeLessThanOrEqual(last);
    // 60 requests (and the admin's polls) became a handful of batches.
    expect(touches.n - before).toBeGreaterThanOrEqual(1);
    expect(touches.n - before).toBeLessThan(10);
  }, 30_000);

  it("GET /security/roles: the three roles, each including the ones before it", async () => {
    const res = await request(url("/security/roles"), as("viewer"));
    expect(res.status).toBe(200);
    expect(res.body.roles.map((r: any) => [r.name, r.includes])).toEqual([
      ["viewer", []],
      ["operator", ["viewer"]],
      ["admin", ["viewer", "operator"]],
    ]);
  });
});

describe("open mode", () => {
  let server: TestServer;
  const url = (p: string) => `${server.baseUrl}${p}`;
  beforeAll(async () => {
    server = await startTestServer({});
  }, 60_000);
  afterAll(() => server?.stop());

  it("no key needed, a key sent along is ignored; the first key (from loopback) ends it, deleting the last one restores it", async () => {
    expect((await request(url("/servers"))).status).toBe(200);
    expect((await request(url("/servers"), { headers: { "x-api-key": "whatever" } })).status).toBe(200);
    expect((await request(url("/providers/gemini/sessions"), { method: "POST" })).status).toBe(200);
    const created = await request(url("/security/api-keys"), { method: "POST", json: { name: "first", role: "admin" } });
    expect(created.status).toBe(201);
    // In force at once (pushed to the gateway before the answer).
    expect(await request(url("/servers"))).toMatchObject({ status: 401, body: MISSING });
    const key = created.body.secret;
    expect((await request(url("/servers"), { headers: { "x-api-key": key } })).status).toBe(200);
    expect((await request(url(`/security/api-keys/${created.body.key.id}`), { method: "DELETE", headers: { "x-api-key": key } })).status).toBe(204);
    expect((await request(url("/servers"))).status).toBe(200);
  });

  it("an event stream is checked again when the keys change: keyed mode ends an anonymous one, a deleted key ends its own", async () => {
    const anonymous = await openSse(`${url("/events")}`);
    expect(anonymous.status).toBe(200);
    const first = await request(url("/security/api-keys"), { method: "POST", json: { name: "streams-admin", role: "admin" } });
    expect(first.status).toBe(201);
    const admin = { "x-api-key": first.body.secret };
    await anonymous.closed; // ended once the key exists (keyed mode); a reconnect gets the 401
    expect((await openSse(url("/events"))).status).toBe(401);
    const viewer = await request(url("/security/api-keys"), { method: "POST", headers: admin, json: { name: "streams-viewer", role: "viewer" } });
    const watching = await openSse(url("/events"), { "x-api-key": viewer.body.secret });
    expect(watching.status).toBe(200);
    const bystander = await openSse(url("/events"), admin);
    expect((await request(url(`/security/api-keys/${viewer.body.key.id}`), { method: "DELETE", headers: admin })).status).toBe(204);
    await watching.closed;
    expect(bystander.ended()).toBe(false); // a stream whose key still holds goes on
    bystander.close();
    expect((await request(url(`/security/api-keys/${first.body.key.id}`), { method: "DELETE", headers: admin })).status).toBe(204);
  }, 30_000);

  it("ten concurrent first keys without a key: one is created, the others are 401", async () => {
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => request(url("/security/api-keys"), { method: "POST", json: { name: `race${i}`, role: "admin" } })),
    );
    const created = answers.filter((a) => a.status === 201);
    expect(created).toHaveLength(1);
    expect(answers.filter((a) => a.status === 401).map((a) => a.body)).toEqual(Array(9).fill(MISSING));
    const key = created[0].body.secret;
    const listed = await request(url("/security/api-keys"), { headers: { "x-api-key": key } });
    expect(listed.body.keys.map((k: { name: string }) => k.name)).toEqual([created[0].body.key.name]);
    expect((await request(url(`/security/api-keys/${created[0].body.key.id}`), { method: "DELETE", headers: { "x-api-key": key } })).status).toBe(
      204,
    );
  });
});
