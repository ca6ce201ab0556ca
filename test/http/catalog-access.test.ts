/**
 * Open mode (runtime-contract §25.1: no API key exists): catalog writes (POST, PUT, DELETE /servers),
 * revealing a secret (GET /secrets/{id}) and creating a key (which would end open mode) answer only
 * loopback clients. A client on a real non-loopback address of this machine gets 403 — before its
 * body is read or its server looked up — and changes nothing; reads stay open to it. In keyed mode
 * the same client with an admin key may do all of it. The gateway listens on 0.0.0.0 here (its Host
 * check accepts this machine's addresses).
 */
import http from "node:http";
import { describeWithNetworkAddress } from "../helpers/network";
import { request, startTestServer, TestServer } from "../helpers/server";

const DETAIL = (method: string, p: string) => `${method} ${p} is allowed only from a loopback address (127.0.0.1, ::1) while no API key exists`;

describeWithNetworkAddress("catalog writes from a non-loopback client address", (address) => {
  let server: TestServer;
  let port: number;

  /** A request from `from` to the gateway at `to` (both this machine's addresses). */
  function send(from: string, to: string, method: string, p: string, body?: string, key?: string): Promise<{ status: number; body: any }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { "content-type": "application/json" };
      if (key !== undefined) headers["x-api-key"] = key;
      if (body !== undefined) headers["content-length"] = Buffer.byteLength(body);
      const req = http.request({ host: to, port, localAddress: from, method, path: `/api/v1${p}`, headers }, (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode as number, body: text === "" ? null : JSON.parse(text) }));
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  beforeAll(async () => {
    server = await startTestServer({ SERVICES: "api,providers,secrets,access", CONSOLE_MCP_SERVER_HOST: "0.0.0.0" });
    port = Number(new URL(server.baseUrl).port);
  });
  afterAll(() => server?.stop());

  it("the address is not loopback, and the gateway sees it as the client's", async () => {
    expect(address()).not.toMatch(/^127\./);
    const res = await send(address(), address(), "GET", "/servers");
    expect(res.status).toBe(200);
  });

  it("POST, PUT and DELETE /servers → 403 with the rule in the detail; nothing changes", async () => {
    const before = await request(`${server.baseUrl}/servers`);
    const post = await send(address(), address(), "POST", "/servers", JSON.stringify({ id: "remote", name: "R", command: "r" }));
    expect(post).toEqual({ status: 403, body: { detail: DETAIL("POST", "/servers") } });
    const put = await send(address(), address(), "PUT", "/servers/remote", JSON.stringify({ name: "R2" }));
    expect(put).toEqual({ status: 403, body: { detail: DETAIL("PUT", "/servers/{id}") } });
    const del = await send(address(), address(), "DELETE", "/servers/gemini");
    expect(del).toEqual({ status: 403, body: { detail: DETAIL("DELETE", "/servers/{id}") } });
    // Access comes before validation and existence: an invalid body or an unknown server is still 403.
    expect((await send(address(), address(), "POST", "/servers", "{not json")).status).toBe(403);
    expect((await send(address(), address(), "DELETE", "/servers/nope")).status).toBe(403);
    expect((await request(`${server.baseUrl}/servers`)).text).toBe(before.text);
  });

  it("routing still comes first (404 and 405), and reads stay open to that client", async () => {
    expect((await send(address(), address(), "PATCH", "/servers/x")).status).toBe(405);
    expect((await send(address(), address(), "DELETE", "/nothing")).status).toBe(404);
    expect((await send(address(), address(), "GET", "/servers/gemini")).status).toBe(200);
    expect((await send(address(), address(), "GET", "/providers")).status).toBe(200);
  });

  it("the same writes from loopback go through", async () => {
    const post = await send("127.0.0.1", "127.0.0.1", "POST", "/servers", JSON.stringify({ id: "local", name: "L", command: "l" }));
    expect(post.status).toBe(201);
    expect((await send("127.0.0.1", "127.0.0.1", "PUT", "/servers/local", JSON.stringify({ name: "L2" }))).status).toBe(200);
    expect((await send("127.0.0.1", "127.0.0.1", "DELETE", "/servers/local")).status).toBe(204);
  });

  it("revealing a secret and creating the first key are loopback-only too; the secrets list is not", async () => {
    expect((await send("127.0.0.1", "127.0.0.1", "PUT", "/secrets/gemini", JSON.stringify({ value: "sk-remote-test" }))).status).toBe(200);
    expect(await send(address(), address(), "GET", "/secrets/gemini")).toEqual({
      status: 403,
      body: { detail: DETAIL("GET", "/secrets/{id}") },
    });
    expect((await send(address(), address(), "GET", "/secrets")).status).toBe(200);
    expect(await send(address(), address(), "POST", "/security/api-keys", JSON.stringify({ name: "taken-over", role: "admin" }))).toEqual({
      status: 403,
      body: { detail: DETAIL("POST", "/security/api-keys") },
    });
    expect((await send(address(), address(), "GET", "/security/api-keys")).body).toEqual({ keys: [] });
  });

  it("in keyed mode an admin key works from the network; without a key the network gets 401", async () => {
    const created = await send("127.0.0.1", "127.0.0.1", "POST", "/security/api-keys", JSON.stringify({ name: "remote-admin", role: "admin" }));
    expect(created.status).toBe(201);
    const key = created.body.secret as string;
    expect(await send(address(), address(), "GET", "/servers")).toEqual({ status: 401, body: { detail: "Missing or invalid API key" } });
    expect((await send(address(), address(), "GET", "/secrets/gemini", undefined, key)).body.value).toBe("sk-remote-test");
    const post = await send(address(), address(), "POST", "/servers", JSON.stringify({ id: "remote-ok", name: "R", command: "r" }), key);
    expect(post.status).toBe(201);
    expect((await send(address(), address(), "DELETE", "/servers/remote-ok", undefined, key)).status).toBe(204);
    expect((await send(address(), address(), "DELETE", `/security/api-keys/${created.body.key.id}`, undefined, key)).status).toBe(204);
  });
});
