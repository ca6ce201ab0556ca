/**
 * Routing errors and the body limit over real HTTP (§6.4, §6.5): 404 for unknown paths, 405 with an
 * Allow header, 413 past 1 MiB, and no 5xx for any of these.
 */
import http from "node:http";
import { request, startTestServer, TestServer } from "../helpers/server";

const LIMIT = 1024 * 1024;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ SERVICES: "api,providers,sessions" });
});
afterAll(async () => {
  await server.stop();
});
const url = (p: string) => `${server.baseUrl}${p}`;
const origin = () => server.baseUrl.replace(/\/api\/v1$/, "");

/** A chunked upload (no Content-Length) of `total` bytes. */
function chunkedPost(target: string, total: number): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(target, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode as number, body: JSON.parse(text) }));
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      // The server may answer and close before the whole upload is written.
      if (err.code !== "EPIPE" && err.code !== "ECONNRESET") reject(err);
    });
    const chunk = Buffer.alloc(64 * 1024, "a");
    let sent = 0;
    const write = () => {
      while (sent < total) {
        const piece = chunk.subarray(0, Math.min(chunk.length, total - sent));
        sent += piece.length;
        if (!req.write(piece)) {
          req.once("drain", write);
          return;
        }
      }
      req.end();
    };
    write();
  });
}

describe("unknown paths → 404 Not Found", () => {
  it.each([
    ["GET", "/api/v1/nope"],
    ["GET", "/api/v1/sessions/a/b"],
    ["GET", "/api/v1/providers/gemini"],
    ["POST", "/api/v1/providers/gemini"],
    ["GET", "/api/v1"],
    ["GET", "/api/v1/"],
    ["GET", "/api/v2/healthz"],
    ["GET", "/"],
    ["GET", "/healthz"],
    ["DELETE", "/api/v1/nothing/here"],
    ["POST", "/nope"],
  ])("%s %s", async (method, p) => {
    const res = await request(`${origin()}${p}`, { method });
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.body).toEqual({ detail: "Not Found" });
  });
});

describe("known path, undefined method → 405 with Allow", () => {
  it.each([
    ["DELETE", "/sessions", "GET"],
    ["POST", "/sessions", "GET"],
    ["PUT", "/sessions/abc", "GET, DELETE"],
    ["PATCH", "/sessions/abc", "GET, DELETE"],
    ["GET", "/routing/simulate", "POST"],
    ["GET", "/providers/gemini/sessions", "POST"],
    ["DELETE", "/providers/gemini/sessions", "POST"],
    ["POST", "/healthz", "GET"],
    ["POST", "/readyz", "GET"],
    ["PUT", "/providers", "GET"],
    ["DELETE", "/servers", "GET, POST"],
    ["PATCH", "/servers/gemini", "GET, PUT, DELETE"],
    ["POST", "/servers/gemini", "GET, PUT, DELETE"],
    ["POST", "/secrets", "GET"],
    ["DELETE", "/telemetry/runs", "GET, POST"],
    ["PUT", "/telemetry/finops/pull-requests", "GET, POST"],
    ["POST", "/telemetry/metrics", "GET"],
    ["OPTIONS", "/sessions", "GET"],
    ["DELETE", "/sessions/", "GET"],
  ])("%s %s → Allow: %s", async (method, p, allow) => {
    const res = await request(url(p), { method });
    expect(res.status).toBe(405);
    expect(res.body).toEqual({ detail: "Method Not Allowed" });
    expect(res.headers.get("allow")).toBe(allow);
  });

  it("a wrong method with a huge body is still 405 (routing before the body limit)", async () => {
    const res = await request(url("/sessions"), { method: "POST", body: "a".repeat(LIMIT + 1), headers: { "content-type": "application/json" } });
    expect(res.status).toBe(405);
  });

  it("an unknown path with a huge body is still 404", async () => {
    const res = await request(url("/nope"), { method: "POST", body: "a".repeat(LIMIT + 1), headers: { "content-type": "application/json" } });
    expect(res.status).toBe(404);
  });
});

describe("body limit (1 MiB)", () => {
  it("413 for 1,048,577 bytes", async () => {
    const body = JSON.stringify({ reason: "x".repeat(LIMIT + 1 - '{"reason":""}'.length) });
    expect(Buffer.byteLength(body)).toBe(LIMIT + 1);
    const res = await request(url("/providers/gemini/sessions"), { method: "POST", body, headers: { "content-type": "application/json" } });
    expect(res.status).toBe(413);
    expect(res.body).toEqual({ detail: "Request body too large" });
  });

  it("413 before validation: an oversized invalid body for an unknown provider", async () => {
    const res = await request(url("/providers/nope/sessions"), {
      method: "POST",
      body: "[".repeat(LIMIT + 10),
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(413);
  });

  it("413 for a chunked upload past the limit (no Content-Length)", async () => {
    const res = await chunkedPost(url("/providers/gemini/sessions"), LIMIT + 1);
    expect(res.status).toBe(413);
    expect(res.body).toEqual({ detail: "Request body too large" });
  });

  it("accepts exactly 1 MiB and just under", async () => {
    // The filler is an extra key (like the console's `overrides`): reason and client hold at most
    // 1,000 characters (runtime-contract §22).
    for (const size of [LIMIT, LIMIT - 1]) {
      const overrides = "y".repeat(size - '{"reason":"big","overrides":""}'.length);
      const body = JSON.stringify({ reason: "big", overrides });
      expect(Buffer.byteLength(body)).toBe(size);
      const res = await request(url("/providers/gemini/sessions"), { method: "POST", body, headers: { "content-type": "application/json" } });
      expect(res.status).toBe(200);
      expect(res.body.session.reason).toBe("big");
      const got = await request(url(`/sessions/${res.body.session.id}`));
      expect(got.body.session.reason).toBe("big");
    }
  });

  it("counts bytes, not characters", async () => {
    // 'é' is two bytes in UTF-8: LIMIT/2 of them plus the JSON wrapper exceed the limit.
    const body = JSON.stringify({ reason: "é".repeat(LIMIT / 2) });
    expect(body.length).toBeLessThan(LIMIT);
    const res = await request(url("/providers/gemini/sessions"), { method: "POST", body, headers: { "content-type": "application/json" } });
    expect(res.status).toBe(413);
  });

  it("the server keeps answering after rejected uploads", async () => {
    expect((await request(url("/healthz"))).status).toBe(200);
  });
});

describe("malformed path parameters", () => {
  it.each(["/sessions/%E0%A4%A", "/sessions/%zz", "/providers/%/sessions"])("%s is a 4xx, never a 5xx", async (p) => {
    const method = p.startsWith("/providers") ? "POST" : "GET";
    const res = await request(url(p), { method });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.body).toHaveProperty("detail");
  });
});
