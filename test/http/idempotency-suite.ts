/**
 * Retries without duplicates (issue 7, item 7; api-contract §11.1 "Retries"), shared by
 * test/http/idempotency.test.ts (SQLite) and test/pg/idempotency.test.ts (PostgreSQL):
 * - the example: a batch whose answer was lost (the client's connection dropped after the
 *   request was sent) and its retry with the same Idempotency-Key store the batch once;
 * - the same key and body within 24 h answer the first answer again (status, ids, record) and store
 *   nothing, across a restart of the broker too; another body with that key → 422; a request that
 *   failed is not remembered; keys belong to their route;
 * - the header is validated (1..128 visible ASCII characters, else 422 naming it);
 * - concurrent requests with one key, through two gateways on one store, store once;
 * - at the store: the key's record lives and dies with the write's transaction, keys expire after
 *   24 h and are purged.
 */
import http from "node:http";
import path from "node:path";
import type { Knex } from "knex";
import type { Context } from "moleculer";
import { IDEMPOTENCY_TABLE, IDEMPOTENCY_TTL_MS, PURGE_INTERVAL_MS, purgeExpiredKeys, runIdempotent } from "../../lib/store/idempotency";
import { insertTelemetryRows } from "../../services/telemetry/store/insert";
import { rowFromRun } from "../../services/telemetry/store/run";
import { ROUTES } from "../../services/api/routes";
import { request, startTestServer, tempDir, TestServer } from "../helpers/server";
import { countRuns, StoreFactory, storeOf } from "./telemetry-ingest-suite";

const HEADER = "Idempotency-Key";

function post(server: TestServer, route: string, json: unknown, key?: string, extraHeaders: Record<string, string> = {}) {
  const headers: Record<string, string> = { ...extraHeaders };
  if (key !== undefined) headers[HEADER] = key;
  return request(`${server.baseUrl}${route}`, { method: "POST", json, headers });
}

const postRuns = (server: TestServer, json: unknown, key?: string) => post(server, "/telemetry/runs", json, key);
const postPr = (server: TestServer, json: unknown, key?: string) => post(server, "/telemetry/finops/pull-requests", json, key);

function batch(tag: string, n = 3) {
  return { runs: Array.from({ length: n }, (_, i) => ({ provider_id: "gemini", route: tag, tokens_in: i + 1, ts: "2025-05-01T10:00:00Z" })) };
}

/**
 * Sends a request completely, then drops the connection before any answer can arrive: the answer
 * is lost, as for a client killed mid-request. Resolves once the request has been sent.
 */
function sendAndDrop(server: TestServer, pathname: string, body: unknown, key: string): Promise<void> {
  const url = new URL(`${server.baseUrl}${pathname}`);
  const text = JSON.stringify(body);
  return new Promise((resolve) => {
    const req = http.request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: "POST",
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(text), [HEADER]: key },
    });
    req.on("error", () => undefined);
    req.on("finish", () => {
      req.destroy();
      resolve();
    });
    req.end(text);
  });
}

export function idempotencySuite(label: string, makeStore: StoreFactory): void {
  describe(`${label}: Idempotency-Key on the write endpoints`, () => {
    let server: TestServer;
    let knex: Knex;
    let env: Record<string, string>;
    const cleanups: (() => Promise<void>)[] = [];
    const recorded: unknown[] = [];

    async function startOnStore(): Promise<TestServer> {
      const s = await startTestServer(env);
      await s.broker.createService({
        name: "run-listener",
        events: {
          "telemetry.run.recorded"(ctx: Context<unknown>) {
            recorded.push(ctx.params);
          },
        },
      });
      await s.broker.waitForServices(["run-listener"]);
      return s;
    }

    beforeAll(async () => {
      const store = await makeStore();
      const dir = tempDir("console-mcp-idempotency-");
      // One SQLite file (or PostgreSQL database) for every server of this suite: restarts and two gateways.
      env = { CONSOLE_MCP_DB_PATH: path.join(dir, "console.db"), ...store.env };
      cleanups.push(store.drop);
      server = await startOnStore();
      knex = storeOf(server);
    });
    afterAll(async () => {
      await server?.stop();
      for (const c of cleanups) await c();
    });

    it("the issue's example: the answer of a batch is lost, its retry stores nothing again and gets the first answer", async () => {
      const body = batch("lost", 50);
      const before = await countRuns(knex);
      await sendAndDrop(server, "/telemetry/runs", body, "lost-answer-1");
      const retry = await postRuns(server, body, "lost-answer-1");
      expect(retry.status).toBe(201);
      expect(retry.body.inserted).toBe(50);
      const again = await postRuns(server, body, "lost-answer-1");
      expect(again.status).toBe(201);
      expect(again.body).toEqual(retry.body);
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      // Whichever request stored the batch, it is stored once, under the ids the retry answered.
      const stored = (await knex("telemetry_events").where({ route: "lost" }).select("id").orderBy("id")) as { id: number }[];
      expect(stored.map((r) => Number(r.id))).toEqual(retry.body.ids);
      expect(await countRuns(knex)).toBe(before + 50);
    });

    it("same key and body: 201 with the first ids, Idempotent-Replayed, nothing stored or published again", async () => {
      const body = batch("replay");
      const first = await postRuns(server, body, "replay-1");
      expect(first.status).toBe(201);
      expect(first.headers.get("idempotent-replayed")).toBeNull();
      const count = await countRuns(knex);
      const events = recorded.length;
      const second = await postRuns(server, body, "replay-1");
      expect(second.status).toBe(201);
      expect(second.body).toEqual(first.body);
      expect(second.headers.get("idempotent-replayed")).toBe("true");
      expect(await countRuns(knex)).toBe(count);
      expect(recorded.length).toBe(events);
    });

    it("the same JSON value is the same body, whatever the key order and spacing", async () => {
      const first = await request(`${server.baseUrl}/telemetry/runs`, {
        method: "POST",
        headers: { "content-type": "application/json", [HEADER]: "order-1" },
        body: '{"runs":[{"provider_id":"gemini","route":"order","tokens_in":1.0,"metadata":{"a":1,"b":2}}]}',
      });
      expect(first.status).toBe(201);
      const second = await request(`${server.baseUrl}/telemetry/runs`, {
        method: "POST",
        headers: { "content-type": "application/json", [HEADER]: "order-1" },
        body: '{ "runs": [ { "metadata": {"b": 2, "a": 1}, "tokens_in": 1, "route": "order", "provider_id": "gemini" } ] }',
      });
      expect(second.status).toBe(201);
      expect(second.body).toEqual(first.body);
      expect(second.headers.get("idempotent-replayed")).toBe("true");
    });

    it("same key, another body → 422 naming the header; nothing stored", async () => {
      expect((await postRuns(server, batch("reuse"), "reuse-1")).status).toBe(201);
      const count = await countRuns(knex);
      for (const other of [batch("reuse", 4), { provider_id: "gemini", route: "reuse" }, batch("other")]) {
        const res = await postRuns(server, other, "reuse-1");
        expect(res.status).toBe(422);
        expect(res.body.detail).toEqual([
          { type: "value_error", loc: ["header", "idempotency-key"], msg: "Idempotency-Key reused with a different body", input: "reuse-1" },
        ]);
      }
      expect(await countRuns(knex)).toBe(count);
    });

    it("without the header every request stores (no change for clients that do not send it)", async () => {
      const count = await countRuns(knex);
      expect((await postRuns(server, batch("plain"))).status).toBe(201);
      expect((await postRuns(server, batch("plain"))).status).toBe(201);
      expect(await countRuns(knex)).toBe(count + 6);
    });

    it.each([
      ["empty", ""],
      ["129 characters", "k".repeat(129)],
      ["a space", "my key"],
      ["a non-ASCII character", "cl\u00e9"],
      ["two headers (joined with ', ')", "a, b"],
    ])("a key with %s → 422 naming the header, nothing stored", async (_name, key) => {
      const count = await countRuns(knex);
      const res = await postRuns(server, batch("bad-key"), key);
      expect(res.status).toBe(422);
      expect(res.body.detail).toEqual([expect.objectContaining({ type: "value_error", loc: ["header", "idempotency-key"] })]);
      const pr = await postPr(server, { id: "pr-bad-key", title: "t", merged_at: "2025-05-01", provider_id: "gemini" }, key);
      expect(pr.status).toBe(422);
      expect(await countRuns(knex)).toBe(count);
    });

    it("a non-ASCII key is echoed as the text sent (its UTF-8 bytes decoded), not as Latin-1 mojibake", async () => {
      // fetch sends header characters as single bytes: these two are the UTF-8 bytes of "é".
      const res = await postRuns(server, batch("utf8-key"), "caf\u00c3\u00a9");
      expect(res.status).toBe(422);
      expect(res.body.detail[0].input).toBe("caf\u00e9");
    });

    it("two Idempotency-Key headers are refused", async () => {
      const headers = new Headers({ "content-type": "application/json" });
      headers.append(HEADER, "a");
      headers.append(HEADER, "b");
      const res = await request(`${server.baseUrl}/telemetry/runs`, { method: "POST", headers, body: JSON.stringify(batch("two")) });
      expect(res.status).toBe(422);
    });

    it("1 and 128 visible ASCII characters (every one of them) are keys", async () => {
      const visible = Array.from({ length: 94 }, (_, i) => String.fromCharCode(0x21 + i)).join("");
      for (const key of ["x", visible + "y".repeat(128 - 94)]) {
        const first = await postRuns(server, batch("visible"), key);
        expect(first.status).toBe(201);
        const again = await postRuns(server, batch("visible"), key);
        expect(again.body).toEqual(first.body);
      }
    });

    it("pull-request registration: the retry gets the first record (201), not a 409; another body → 422", async () => {
      const body = { id: "pr-idem", title: "Cache prompts", merged_at: "2025-05-01T12:00:00Z", provider_id: "gemini", route: "chat" };
      const first = await postPr(server, body, "pr-key-1");
      expect(first.status).toBe(201);
      const retry = await postPr(server, body, "pr-key-1");
      expect(retry.status).toBe(201);
      expect(retry.body).toEqual(first.body);
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      expect((await postPr(server, body)).status).toBe(409);
      const other = await postPr(server, { ...body, title: "Another title" }, "pr-key-1");
      expect(other.status).toBe(422);
      expect(other.body.detail[0].loc).toEqual(["header", "idempotency-key"]);
      expect(await knex("pull_requests").where({ id: "pr-idem" }).first()).toMatchObject({ title: "Cache prompts" });
    });

    it("a request that failed is not remembered: its key stays free", async () => {
      const taken = { id: "pr-taken", title: "t", merged_at: "2025-05-01T12:00:00Z", provider_id: "codex" };
      expect((await postPr(server, taken)).status).toBe(201);
      expect((await postPr(server, taken, "failed-1")).status).toBe(409);
      expect((await postPr(server, taken, "failed-1")).status).toBe(409);
      const fresh = await postPr(server, { ...taken, id: "pr-after-failure" }, "failed-1");
      expect(fresh.status).toBe(201);
      expect(fresh.body.id).toBe("pr-after-failure");
      // A body that fails validation is not remembered either.
      expect((await postRuns(server, { provider_id: "" }, "failed-2")).status).toBe(422);
      expect((await postRuns(server, batch("after-422"), "failed-2")).status).toBe(201);
    });

    it("a key belongs to its route: the same key on both endpoints stores on both", async () => {
      const runs = await postRuns(server, batch("shared-key"), "shared-1");
      const pr = await postPr(server, { id: "pr-shared", title: "t", merged_at: "2025-05-01", provider_id: "gemini" }, "shared-1");
      expect(runs.status).toBe(201);
      expect(pr.status).toBe(201);
      expect(pr.headers.get("idempotent-replayed")).toBeNull();
    });

    it("the action honours meta.idempotencyKey without the gateway (broker callers)", async () => {
      const body = batch("broker");
      const first = await server.broker.call("telemetry.ingest", body, { meta: { idempotencyKey: "broker-1" } });
      const count = await countRuns(knex);
      const again = await server.broker.call("telemetry.ingest", body, { meta: { idempotencyKey: "broker-1" } });
      expect(again).toEqual(first);
      expect(await countRuns(knex)).toBe(count);
      await expect(server.broker.call("telemetry.ingest", body, { meta: { idempotencyKey: 12 } })).rejects.toMatchObject({ code: 422 });
    });

    it("only the flagged routes take the header: elsewhere it is ignored", async () => {
      expect(ROUTES.filter((r) => r.idempotencyKey).map((r) => `${r.method} ${r.path}`)).toEqual([
        "POST /telemetry/runs",
        "POST /telemetry/finops/pull-requests",
      ]);
      const res = await post(server, "/routing/simulate", {}, "not a valid key");
      expect(res.status).toBe(200);
      const session = await post(server, "/providers/gemini/sessions", {}, "");
      expect(session.status).toBe(200);
    });

    it("concurrent requests with one key through two gateways on one store: stored once, one answer", async () => {
      const second = await startOnStore();
      try {
        const body = batch("concurrent", 20);
        const otherBody = batch("concurrent-other", 20);
        const before = await countRuns(knex);
        const answers = await Promise.all(
          Array.from({ length: 10 }, (_, i) => postRuns(i % 2 === 0 ? server : second, i === 7 ? otherBody : body, "concurrent-1")),
        );
        const created = answers.filter((a) => a.status === 201);
        const refused = answers.filter((a) => a.status === 422);
        expect(created.length + refused.length).toBe(10);
        // Every 201 is the same answer; the bodies that differ from the winner's are refused.
        expect(new Set(created.map((a) => JSON.stringify(a.body))).size).toBe(1);
        expect(refused.length === 1 || refused.length === 9).toBe(true);
        expect(await countRuns(knex)).toBe(before + 20);
        expect(created.filter((a) => a.headers.get("idempotent-replayed") === null)).toHaveLength(1);
        // Pull requests too: one record, no 409 for the retries.
        const pr = { id: "pr-concurrent", title: "t", merged_at: "2025-05-01", provider_id: "claude" };
        const prAnswers = await Promise.all(Array.from({ length: 6 }, (_, i) => postPr(i % 2 === 0 ? server : second, pr, "concurrent-pr")));
        expect(prAnswers.map((a) => a.status)).toEqual([201, 201, 201, 201, 201, 201]);
        expect(prAnswers.map((a) => a.body)).toEqual(Array(6).fill({ ...pr, owner: "\u2014", merged_at: "2025-05-01T00:00:00Z", route: null }));
        expect(prAnswers.filter((a) => a.headers.get("idempotent-replayed") === null)).toHaveLength(1);
      } finally {
        await second.stop();
      }
    });

    it("after a restart of the broker the key still answers the first answer", async () => {
      const body = batch("restart");
      const first = await postRuns(server, body, "restart-1");
      expect(first.status).toBe(201);
      await server.stop();
      server = await startOnStore();
      knex = storeOf(server);
      const count = await countRuns(knex);
      const retry = await postRuns(server, body, "restart-1");
      expect(retry.status).toBe(201);
      expect(retry.body).toEqual(first.body);
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      expect(await countRuns(knex)).toBe(count);
    });

    describe("at the store (lib/store/idempotency.ts, explicit clock)", () => {
      const T0 = Date.parse("2030-01-01T00:00:00Z");
      const write = (tag: string) => async (trx: Knex.Transaction) => {
        const row = rowFromRun(
          {
            provider_id: "store",
            tool: "t",
            route: tag,
            tokens_in: 1,
            tokens_out: 0,
            duration_ms: 0,
            status: "success",
            cost_usd: null,
            metadata: {},
            ts_ms: T0,
            experiment_cohort: null,
            experiment_tag: null,
          },
          T0,
        );
        const ids = await insertTelemetryRows(trx, [row]);
        return { status: 201, body: { ids } };
      };
      const runsOf = async (tag: string) =>
        Number((await knex("telemetry_events").where({ route: tag }).count<{ n: number | string }[]>("* as n"))[0].n);

      it("a write that fails leaves neither its rows nor the key's record", async () => {
        const request = { route: "test", key: "atomic-1", body: { a: 1 }, nowMs: T0 };
        await expect(
          runIdempotent(knex, request, async (trx) => {
            await write("atomic")(trx);
            throw new Error("crash after the insert");
          }),
        ).rejects.toThrow("crash after the insert");
        expect(await runsOf("atomic")).toBe(0);
        expect(await knex(IDEMPOTENCY_TABLE).where({ route: "test", key: "atomic-1" }).first()).toBeUndefined();
        const retried = await runIdempotent(knex, request, write("atomic"));
        expect(retried.replayed).toBe(false);
        expect(await runsOf("atomic")).toBe(1);
      });

      it("a key is remembered for 24 h, then counts as new; expired keys are purged", async () => {
        const request = { route: "test", key: "ttl-1", body: { b: 2 }, nowMs: T0 };
        const first = await runIdempotent(knex, request, write("ttl"));
        const stored = await knex(IDEMPOTENCY_TABLE).where({ route: "test", key: "ttl-1" }).first();
        expect(stored).toMatchObject({ status: 201, created_at: "2030-01-01T00:00:00.000Z" });
        expect(JSON.parse(stored.answer)).toEqual(first.body);
        const within = await runIdempotent(knex, { ...request, nowMs: T0 + IDEMPOTENCY_TTL_MS }, write("ttl"));
        expect(within).toEqual({ ...first, replayed: true });
        // Past 24 h the same key and another body are a new request, not a 422.
        const later = await runIdempotent(knex, { ...request, body: { b: 3 }, nowMs: T0 + IDEMPOTENCY_TTL_MS + 1 }, write("ttl"));
        expect(later.replayed).toBe(false);
        expect(later.body).not.toEqual(first.body);
        expect(await runsOf("ttl")).toBe(2);
        // The purge drops records older than 24 h and keeps the others.
        await runIdempotent(knex, { route: "test", key: "ttl-2", body: {}, nowMs: T0 + 2 * IDEMPOTENCY_TTL_MS }, write("ttl"));
        const purged = await purgeExpiredKeys(knex, T0 + 2 * IDEMPOTENCY_TTL_MS + 2);
        expect(purged).toBeGreaterThanOrEqual(1);
        const left = (await knex(IDEMPOTENCY_TABLE).where({ route: "test" }).select("key")) as { key: string }[];
        expect(left.map((r) => r.key)).toEqual(["ttl-2"]);
      });

      it("requests purge expired keys now and then on their own", async () => {
        await runIdempotent(knex, { route: "lazy", key: "old", body: {}, nowMs: T0 + 10 * IDEMPOTENCY_TTL_MS }, write("lazy"));
        const later = T0 + 12 * IDEMPOTENCY_TTL_MS + PURGE_INTERVAL_MS;
        await runIdempotent(knex, { route: "lazy", key: "new", body: {}, nowMs: later }, write("lazy"));
        const left = (await knex(IDEMPOTENCY_TABLE).where({ route: "lazy" }).select("key")) as { key: string }[];
        expect(left.map((r) => r.key)).toEqual(["new"]);
      });
    });
  });
}
