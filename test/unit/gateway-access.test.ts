/**
 * services/api/access.ts: the open-mode rule of runtime-contract §25.1 (catalog writes only from a
 * loopback client address) and which routes carry it.
 */
import { isLoopbackAddress, openModeDenial } from "../../services/api/access";
import { ROUTES, RouteSpec } from "../../services/api/routes";

describe("isLoopbackAddress", () => {
  it.each(["127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "::FFFF:127.1.2.3"])("%s is loopback", (a) => {
    expect(isLoopbackAddress(a)).toBe(true);
  });

  it.each([
    "10.200.0.1",
    "192.0.2.2",
    "0.0.0.0",
    "128.0.0.1",
    "126.255.255.255",
    "::",
    "::2",
    "::ffff:10.0.0.1",
    "fe80::1",
    "2001:db8::1",
    "localhost",
    "",
    "127.0.0.1.evil",
    "127.1",
    undefined,
  ])("%s is not", (a) => {
    expect(isLoopbackAddress(a)).toBe(false);
  });
});

describe("openModeDenial", () => {
  const byKey = new Map(ROUTES.map((r) => [`${r.method} ${r.path}`, r]));

  it("flags exactly the catalog writes, revealing a secret, and creating a key (which would end open mode)", () => {
    expect(ROUTES.filter((r) => r.loopbackOnlyInOpenMode).map((r) => `${r.method} ${r.path}`)).toEqual([
      "POST /servers",
      "PUT /servers/:id",
      "DELETE /servers/:id",
      "GET /secrets/:id",
      "POST /security/api-keys",
    ]);
  });

  it("a network client on a flagged route: 403 naming the request and the rule", () => {
    const err = openModeDenial(byKey.get("PUT /servers/:id") as RouteSpec, "10.200.0.1");
    expect(err).toMatchObject({
      code: 403,
      type: "CONTRACT_ERROR",
      message: "PUT /servers/{id} is allowed only from a loopback address (127.0.0.1, ::1) while no API key exists",
    });
    expect(openModeDenial(byKey.get("POST /servers") as RouteSpec, undefined)?.code).toBe(403);
  });

  it("a loopback client on a flagged route, and anyone on the other routes, may proceed", () => {
    expect(openModeDenial(byKey.get("DELETE /servers/:id") as RouteSpec, "::ffff:127.0.0.1")).toBeNull();
    expect(openModeDenial(byKey.get("GET /servers/:id") as RouteSpec, "10.200.0.1")).toBeNull();
    expect(openModeDenial(byKey.get("POST /telemetry/runs") as RouteSpec, "10.200.0.1")).toBeNull();
  });
});
