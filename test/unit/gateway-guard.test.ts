/**
 * The gateway's pure access parts (runtime-contract §25.1): the Host header's host, the rebinding
 * guard's Host rule, the cross-site Origin rule, the keyring (hash match, expiry, the admin key of
 * the configuration, usage batches) and the key a request presents.
 */
import type { IncomingMessage } from "node:http";
import os from "node:os";
import { hashApiKey } from "../../lib/access";
import { loadConfig } from "../../lib/config";
import { presentedKey } from "../../services/api/access";
import { corsPolicy } from "../../services/api/cors";
import { hostOf, RequestGuard } from "../../services/api/guard";
import { Keyring } from "../../services/api/keyring";
import { runsOf } from "../../services/api/rate-limit";

const cors = corsPolicy(["http://127.0.0.1:5173", "http://localhost:5173"]);
const none = { any: false, names: [] };

function req(headers: Record<string, string>, method = "GET"): IncomingMessage {
  return { headers, method } as unknown as IncomingMessage;
}

describe("hostOf", () => {
  it.each([
    ["localhost:8000", "localhost"],
    ["LOCALHOST", "localhost"],
    ["127.0.0.1:8000", "127.0.0.1"],
    ["[::1]:8000", "::1"],
    ["[::1]", "::1"],
    ["console.example.", "console.example"],
    ["a.b.c:1", "a.b.c"],
  ])("%s → %s", (value, host) => {
    expect(hostOf(value)).toBe(host);
  });

  it.each(["", ":8000", "::1", "[::1", "[::1]x", "host:port", "[]:80"])("%s is malformed", (value) => {
    expect(hostOf(value)).toBeNull();
  });
});

describe("the Host rule", () => {
  it("loopback names and addresses pass on any bind address; other names are refused", () => {
    const guard = new RequestGuard({ bindHost: "127.0.0.1", allowedHosts: none, cors });
    for (const host of ["localhost:8000", "api.localhost:8000", "127.0.0.1:8000", "127.9.9.9", "[::1]:8000", undefined]) {
      expect(guard.hostAllowed(host)).toBe(true);
    }
    for (const host of ["evil.example:8000", "localhost.evil.example", "127.0.0.1.nip.io", "10.0.0.1:8000", "0.0.0.0:8000", "[::1"]) {
      expect(guard.hostAllowed(host)).toBe(false);
    }
  });

  it("the bind address, and the names of CONSOLE_MCP_ALLOWED_HOSTS (any case, any port)", () => {
    const allowed = loadConfig({ CONSOLE_MCP_ALLOWED_HOSTS: " Console.Example , 192.0.2.7 ,[2001:db8::1]" }).access.allowedHosts;
    expect(allowed).toEqual({ any: false, names: ["console.example", "192.0.2.7", "2001:db8::1"] });
    const guard = new RequestGuard({ bindHost: "10.1.2.3", allowedHosts: allowed, cors });
    for (const host of ["10.1.2.3:8000", "console.example", "CONSOLE.EXAMPLE:443", "192.0.2.7:1", "[2001:db8::1]:8000"])
      expect(guard.hostAllowed(host)).toBe(true);
    expect(guard.hostAllowed("other.example")).toBe(false);
    expect(guard.hostAllowed("10.1.2.4:8000")).toBe(false);
  });

  it("bound to every interface: this machine's addresses pass, names still need the list", () => {
    const guard = new RequestGuard({ bindHost: "0.0.0.0", allowedHosts: none, cors });
    const mine = Object.values(os.networkInterfaces())
      .flat()
      .map((i) => i?.address)
      .filter((a): a is string => a !== undefined && !a.includes("%"));
    for (const address of mine) expect(guard.hostAllowed(address.includes(":") ? `[${address}]:8000` : `${address}:8000`)).toBe(true);
    expect(guard.hostAllowed("192.0.2.200:8000")).toBe(false);
    expect(guard.hostAllowed(`${os.hostname()}.invalid:8000`)).toBe(false);
  });

  it("* turns the check off", () => {
    const guard = new RequestGuard({ bindHost: "127.0.0.1", allowedHosts: loadConfig({ CONSOLE_MCP_ALLOWED_HOSTS: "*" }).access.allowedHosts, cors });
    expect(guard.hostAllowed("evil.example")).toBe(true);
  });

  it("a bad CONSOLE_MCP_ALLOWED_HOSTS stops startup naming the variable", () => {
    expect(() => loadConfig({ CONSOLE_MCP_ALLOWED_HOSTS: "http://x.example/" })).toThrow("Invalid CONSOLE_MCP_ALLOWED_HOSTS");
  });
});

describe("the Origin rule", () => {
  const guard = new RequestGuard({ bindHost: "127.0.0.1", allowedHosts: none, cors });
  it("a write from an origin outside the CORS list is refused; reads, allowed origins and no Origin pass", () => {
    expect(guard.originDenial(req({ origin: "https://evil.example" }, "POST"))).toMatchObject({ code: 403, message: "Origin not allowed" });
    expect(guard.originDenial(req({ origin: "null" }, "DELETE"))?.code).toBe(403);
    expect(guard.originDenial(req({ origin: "https://evil.example" }, "PUT"))?.code).toBe(403);
    for (const method of ["GET", "HEAD", "OPTIONS"]) expect(guard.originDenial(req({ origin: "https://evil.example" }, method))).toBeNull();
    expect(guard.originDenial(req({ origin: "http://localhost:5173" }, "POST"))).toBeNull();
    expect(guard.originDenial(req({}, "POST"))).toBeNull();
  });
});

describe("Keyring", () => {
  const key = (id: string, text: string, role: "viewer" | "operator" | "admin", expires: number | null = null) => ({
    id,
    name: `${id}-name`,
    role,
    hash: hashApiKey(text),
    expires_at_ms: expires,
    rate_limit_rps: null,
    rate_limit_runs: 7,
  });

  it("open until a key exists; a key is found by its hash, an expired or unknown one is not", () => {
    const ring = new Keyring(null);
    expect(ring.keyed()).toBe(false);
    expect(ring.install({ version: 3, keys: [key("a", "text-a", "viewer"), key("b", "text-b", "admin", 1000)] })).toBe(true);
    expect(ring.install({ version: 2, keys: [] })).toBe(false);
    expect(ring.keyed()).toBe(true);
    expect(ring.authenticate("text-a", 5)).toEqual({ id: "a", name: "a-name", role: "viewer", rateLimitRps: null, rateLimitRuns: 7 });
    expect(ring.authenticate("text-b", 999)?.role).toBe("admin");
    expect(ring.authenticate("text-b", 1000)).toBeNull();
    expect(ring.authenticate("text-c", 5)).toBeNull();
    expect(ring.takeUsage()).toEqual({ a: 5, b: 999 });
    expect(ring.takeUsage()).toEqual({});
    ring.restoreUsage({ a: 4 });
    ring.authenticate("text-a", 3);
    expect(ring.takeUsage()).toEqual({ a: 4 });
  });

  it("CONSOLE_MCP_ADMIN_KEY: keyed from the start, admin named bootstrap before any snapshot", () => {
    const ring = new Keyring("the-admin-key-0123456789");
    expect(ring.loaded).toBe(false);
    expect(ring.keyed()).toBe(true);
    expect(ring.authenticate("the-admin-key-0123456789")).toEqual({
      id: null,
      name: "bootstrap",
      role: "admin",
      rateLimitRps: null,
      rateLimitRuns: null,
    });
    expect(ring.authenticate("the-admin-key-012345678")).toBeNull();
  });
});

describe("presentedKey and runsOf", () => {
  it("X-API-Key first, else a Bearer token; empty is none", () => {
    expect(presentedKey(req({ "x-api-key": " k1 ", authorization: "Bearer k2" }))).toBe("k1");
    expect(presentedKey(req({ authorization: "Bearer k2" }))).toBe("k2");
    expect(presentedKey(req({ authorization: "BEARER   k3  " }))).toBe("k3");
    expect(presentedKey(req({ authorization: "Basic k4" }))).toBeUndefined();
    expect(presentedKey(req({ authorization: "Bearer a b" }))).toBeUndefined();
    expect(presentedKey(req({ "x-api-key": "" }))).toBeUndefined();
  });

  it("an ingestion body counts its runs", () => {
    expect(runsOf({ runs: [{}, {}, {}] })).toBe(3);
    expect(runsOf({ runs: [] })).toBe(0);
    expect(runsOf({ provider_id: "x" })).toBe(1);
  });
});
