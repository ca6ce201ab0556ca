/**
 * The generated bad-input corpus (test/helpers/bad-input-corpus.ts) against the real gateway
 * (§6: a clear 4xx, never a 5xx, a hang or a crash): no answer ≥ 500, every error body the
 * contract's JSON (§6.4), every request answered, the server still alive afterwards with the data
 * stored before intact, the process's RSS grown by a bounded amount and nothing retained per
 * request. Shared by SQLite (test/http) and PostgreSQL (test/pg).
 */
import http from "node:http";
import v8 from "node:v8";
import vm from "node:vm";
import { CorpusRequest, generateCorpus } from "../helpers/bad-input-corpus";
import { request, startTestServer, TestServer } from "../helpers/server";
import { ROUTES } from "../../services/api/routes";

/**
 * Generous: the SQLite corpus uploads about 100 MiB (30 MiB of it in bodies within the limit), and
 * the process's RSS grows by 40–100 MiB while the heap expands for them.
 */
const RSS_GROWTH_LIMIT_BYTES = 384 * 1024 * 1024;
/**
 * What is still held after a full garbage collection (about 6–14 MiB here: caches warming up). Keeping
 * every accepted body (30 MiB of Buffers plus their text) would exceed it.
 */
const RETAINED_GROWTH_LIMIT_BYTES = 48 * 1024 * 1024;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

function send(origin: URL, agent: http.Agent, r: CorpusRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...r.headers };
    if (r.body !== undefined) headers["content-length"] = r.body.length;
    const req = http.request({ host: origin.hostname, port: origin.port, method: r.method, path: r.path, headers, agent }, (res) => {
      // GET /events answers a stream that does not end (runtime-contract §23.1): its headers are the answer.
      if (res.statusCode === 200 && String(res.headers["content-type"]).startsWith("text/event-stream")) {
        resolve({ status: 200, headers: res.headers, text: "" });
        req.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.setTimeout(30000, () => req.destroy(new Error("no answer within 30 s")));
    req.on("error", reject);
    req.end(r.body);
  });
}

const SOURCES = new Set(["query", "body", "path", "header"]);

/** What is wrong with an answer, or null when it is what §6 allows. */
function answerProblem(r: CorpusRequest, a: Answer): string | null {
  if (a.status >= 500 || a.status < 200) return `status ${a.status}: ${a.text.slice(0, 300)}`;
  if (r.method === "HEAD") return null;
  if (a.status === 200 && String(a.headers["content-type"]).startsWith("text/event-stream")) return null;
  // GET /metrics: Prometheus text (runtime-contract §27).
  if (a.status === 200 && String(a.headers["content-type"]).startsWith("text/plain; version=0.0.4")) return null;
  // DELETE /servers/{id} of a server the corpus created (runtime-contract §17.4).
  if (a.status === 204) return a.text === "" ? null : `204 with a body: ${a.text.slice(0, 200)}`;
  let body: unknown;
  try {
    body = JSON.parse(a.text);
  } catch {
    return `status ${a.status} with a body that is not JSON: ${JSON.stringify(a.text.slice(0, 200))}`;
  }
  if (!/^application\/json/.test(String(a.headers["content-type"]))) return `content-type ${a.headers["content-type"]}`;
  if (a.status < 400) return null;
  const detail = (body as { detail?: unknown }).detail;
  if (typeof detail === "string") return detail === "" ? "empty detail" : null;
  if (a.status !== 422 || !Array.isArray(detail) || detail.length === 0) return `error body ${a.text.slice(0, 300)}`;
  for (const item of detail as Record<string, unknown>[]) {
    const loc = item.loc;
    if (typeof item.type !== "string" || typeof item.msg !== "string" || !Array.isArray(loc) || !SOURCES.has(loc[0] as string)) {
      return `validation item ${JSON.stringify(item).slice(0, 300)}`;
    }
  }
  return null;
}

/** A full garbage collection: V8's gc function, exposed by its flag (jest runs without --expose-gc). */
function collector(): () => void {
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc") as () => void;
}

/**
 * Memory the process holds on to after full collections: the JavaScript heap plus memory outside it
 * (`external` already includes the Buffers' `arrayBuffers`). Collected twice, a turn of the event loop
 * apart, so backing stores released by the first collection are no longer counted.
 */
async function retainedBytes(gc: () => void): Promise<number> {
  gc();
  await new Promise((r) => setImmediate(r));
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** Runs fn over the items with at most `width` in flight. */
async function inPool<T>(items: T[], width: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await fn(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
}

export function badInputCorpusSuite(env: () => Record<string, string>, seed: number, count: number): void {
  let server: TestServer;
  const canary = { provider_id: "canary", route: "r", tokens_in: 7, cost_usd: 0.5, status: "ok", ts: "2025-03-01T00:00:00Z", metadata: { k: "v" } };
  beforeAll(async () => {
    server = await startTestServer(env());
    expect((await request(`${server.baseUrl}/telemetry/runs`, { method: "POST", json: canary })).status).toBe(201);
  });
  afterAll(() => server?.stop());

  const corpus = generateCorpus(seed, count);

  it(`the corpus (seed ${seed}) has ${count} requests over every route, unknown paths and other methods`, () => {
    expect(corpus.length).toBe(count);
    expect(count).toBeGreaterThanOrEqual(1000);
    for (const route of ROUTES) {
      const prefix = `${route.method} ${route.path}`;
      expect(corpus.filter((r) => r.label.startsWith(prefix)).length).toBeGreaterThan(count / ROUTES.length / 2);
    }
    expect(corpus.filter((r) => r.label === "unknown path").length).toBeGreaterThan(count / 20);
    expect(corpus.filter((r) => / on \//.test(r.label)).length).toBeGreaterThan(count / 30);
    expect(corpus.filter((r) => /nesting/.test(r.label)).length).toBeGreaterThan(count / 100);
  });

  it("answers every request with a 2xx or a 4xx carrying the contract's error body, stays up, and keeps no memory per request", async () => {
    const origin = new URL(server.baseUrl);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const gc = collector();
    const heapBefore = await retainedBytes(gc);
    const rssBefore = process.memoryUsage().rss;
    const problems: string[] = [];
    const statuses = new Map<number, number>();
    await inPool(corpus, 4, async (r, index) => {
      let answer: Answer;
      try {
        answer = await send(origin, agent, r);
      } catch (err) {
        problems.push(`#${index} ${r.method} ${r.path.slice(0, 160)} [${r.label}]: no answer (${(err as Error).message})`);
        return;
      }
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      const problem = answerProblem(r, answer);
      if (problem !== null) problems.push(`#${index} ${r.method} ${r.path.slice(0, 160)} [${r.label}]: ${problem}`);
    });
    agent.destroy();
    expect(problems.slice(0, 20)).toEqual([]);
    // Both kinds of answers occur: the corpus is not all rejected at the door.
    expect([...statuses.keys()].some((s) => s < 300)).toBe(true);
    expect([...statuses.keys()].filter((s) => s >= 400).length).toBeGreaterThanOrEqual(4);

    const health = await request(`${server.baseUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(health.body.status).toBe("ok");
    const metrics = await request(`${server.baseUrl}/telemetry/metrics`);
    expect(metrics.status).toBe(200);
    const kept = await request(`${server.baseUrl}/telemetry/runs?provider_id=canary`);
    expect(kept.body.items).toEqual([
      expect.objectContaining({
        provider_id: "canary",
        route: "r",
        tokens_in: 7,
        cost_usd: 0.5,
        status: "success",
        ts: "2025-03-01T00:00:00Z",
        metadata: { k: "v" },
      }),
    ]);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(RSS_GROWTH_LIMIT_BYTES);
    expect((await retainedBytes(gc)) - heapBefore).toBeLessThan(RETAINED_GROWTH_LIMIT_BYTES);
  }, 180000);
}
