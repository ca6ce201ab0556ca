/**
 * Sessions, runtime-contract §22 (shared by test/http/sessions-limits.test.ts on SQLite and
 * test/pg/sessions-limits.test.ts on PostgreSQL):
 * - `reason` and `client` hold at most 1,000 characters (422 `too_long` beyond, nothing stored), the
 *   issue's example being a 1 MB reason;
 * - GET /sessions keeps the Part I answer without parameters, and pages with `limit`/`cursor`
 *   (oldest first, `next_cursor` null on the last page), filtered by `status` and `provider_id`;
 * - a bad limit is a 422, a malformed or out-of-range cursor a 400 `invalid cursor`, never a 500.
 */
import { encodeSessionsCursor } from "../../services/sessions/listing";
import { request, startTestServer, TestServer } from "../helpers/server";

interface Session {
  id: string;
  provider_id: string;
  status: string;
  reason: string | null;
  client: string | null;
}

/** base64url of any text: a cursor whose framing is right but whose content is not. */
const cursorOf = (json: string) => Buffer.from(json, "utf8").toString("base64url");

/**
 * env: the store environment of the server. maxSeq: the largest cursor seq the store's `seq`
 * column holds (2^31 − 1 on PostgreSQL, 2^53 − 1 on SQLite).
 */
export function sessionsLimitsSuite(env: () => Record<string, string>, maxSeq: number): void {
  let server: TestServer;
  const created: Session[] = [];

  const url = (path: string) => `${server.baseUrl}${path}`;
  const create = async (provider: string, body: unknown) => {
    const res = await request(url(`/providers/${provider}/sessions`), { method: "POST", json: body });
    if (res.status === 200) created.push(res.body.session);
    return res;
  };
  const list = (query = "") => request(url(`/sessions${query}`));

  beforeAll(async () => {
    server = await startTestServer({ SERVICES: "api,providers,sessions", ...env() });
  });
  afterAll(() => server?.stop());

  describe("reason and client: at most 1,000 characters", () => {
    it("the issue's example: a 1 MB reason → 422 too_long naming reason, nothing stored, answer without the text", async () => {
      const res = await create("gemini", { reason: "r".repeat(1_000_000), client: "console" });
      expect(res.status).toBe(422);
      expect(res.body.detail).toEqual([
        {
          type: "too_long",
          loc: ["body", "reason"],
          msg: "String should have at most 1000 characters",
          ctx: { max_length: 1000, actual_length: 1_000_000 },
        },
      ]);
      expect(res.text.length).toBeLessThan(1000);
      expect((await list()).body.sessions).toEqual(created);
    });

    it("50 such requests store nothing, so GET /sessions stays as small as before", async () => {
      const before = (await list()).text.length;
      for (let i = 0; i < 50; i++) {
        const res = await create("codex", { reason: "x".repeat(1_000_000) });
        expect(res.status).toBe(422);
      }
      expect((await list()).text.length).toBe(before);
    }, 120_000); // 50 MiB of bodies: slow on a loaded machine

    it.each([
      ["reason", 1000, 200],
      ["reason", 1001, 422],
      ["client", 1000, 200],
      ["client", 1001, 422],
    ])("%s of %d characters → %d", async (field, length, status) => {
      const res = await create("gemini", { [field]: "a".repeat(length) });
      expect(res.status).toBe(status);
      if (status === 200) {
        expect(res.body.session[field]).toHaveLength(length);
        expect((await request(url(`/sessions/${res.body.session.id}`))).body.session[field]).toBe("a".repeat(length));
      } else {
        expect(res.body.detail.map((d: { type: string; loc: unknown[] }) => [d.type, d.loc])).toEqual([["too_long", ["body", field]]]);
      }
    });

    it("characters are code points: 1,000 emoji (2,000 UTF-16 units) fit, 1,001 do not", async () => {
      const ok = await create("gemini", { reason: "🚀".repeat(1000), client: "ç".repeat(1000) });
      expect(ok.status).toBe(200);
      expect(ok.body.session.reason).toBe("🚀".repeat(1000));
      const tooLong = await create("gemini", { reason: "🚀".repeat(1001) });
      expect(tooLong.status).toBe(422);
      expect(tooLong.body.detail[0].ctx).toEqual({ max_length: 1000, actual_length: 1001 });
    });

    it("both fields too long → one item each; spaces count (stored verbatim)", async () => {
      const res = await create("gemini", { reason: " ".repeat(1001), client: `${"c".repeat(1000)} ` });
      expect(res.status).toBe(422);
      expect(res.body.detail.map((d: { loc: unknown[] }) => d.loc)).toEqual([
        ["body", "reason"],
        ["body", "client"],
      ]);
    });

    it("the length check is a validation error: 422 even for an unknown provider (§6.5)", async () => {
      const res = await create("no-such-provider", { client: "z".repeat(1001) });
      expect(res.status).toBe(422);
    });

    it("null and absent stay allowed", async () => {
      const res = await create("claude", { reason: null });
      expect(res.status).toBe(200);
      expect(res.body.session).toMatchObject({ reason: null, client: null });
    });
  });

  describe("GET /sessions paging", () => {
    beforeAll(async () => {
      for (let i = 0; i < 7; i++) {
        const res = await create(i % 3 === 0 ? "glm46" : "codex", { client: `pager-${i}` });
        expect(res.status).toBe(200);
      }
    });

    it("without parameters: the Part I answer, every session oldest first, no next_cursor key", async () => {
      const res = await list();
      expect(res.status).toBe(200);
      expect(Object.keys(res.body)).toEqual(["sessions"]);
      expect(res.body.sessions).toEqual(created);
    });

    it("unknown parameters are ignored", async () => {
      expect((await list("?page=2&sort=desc")).body).toEqual({ sessions: created });
    });

    it.each([[1], [2], [3], [5], [1000]])("limit=%d: full disjoint pages that add up to the whole list", async (limit) => {
      const seen: Session[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await list(`?limit=${limit}${cursor === null ? "" : `&cursor=${cursor}`}`);
        expect(res.status).toBe(200);
        expect(Object.keys(res.body).sort()).toEqual(["next_cursor", "sessions"]);
        if (res.body.next_cursor !== null) expect(res.body.sessions).toHaveLength(limit);
        else expect(res.body.sessions.length).toBeLessThanOrEqual(limit);
        seen.push(...res.body.sessions);
        cursor = res.body.next_cursor;
        pages++;
      } while (cursor !== null && pages < 100);
      expect(seen).toEqual(created);
      expect(pages).toBe(Math.max(1, Math.ceil(created.length / limit)));
    });

    it("a total that is a multiple of the limit ends with next_cursor null on the last full page", async () => {
      const first = await list(`?limit=${created.length}`);
      expect(first.body.sessions).toEqual(created);
      expect(first.body.next_cursor).toBeNull();
    });

    it("a cursor without limit pages with the default size", async () => {
      const first = await list("?limit=2");
      const rest = await list(`?cursor=${first.body.next_cursor}`);
      expect(rest.status).toBe(200);
      expect(rest.body).toEqual({ sessions: created.slice(2), next_cursor: null });
    });

    it("an empty cursor or limit-less empty values mean not given", async () => {
      expect((await list("?cursor=")).body).toEqual({ sessions: created });
      expect((await list("?limit=3&cursor=")).body.sessions).toEqual(created.slice(0, 3));
    });

    it("provider_id filters, in both forms", async () => {
      const glm = created.filter((s) => s.provider_id === "glm46");
      expect(glm.length).toBeGreaterThan(1);
      expect((await list("?provider_id=glm46")).body).toEqual({ sessions: glm });
      const page1 = await list("?provider_id=glm46&limit=1");
      expect(page1.body.sessions).toEqual(glm.slice(0, 1));
      const page2 = await list(`?provider_id=glm46&limit=100&cursor=${page1.body.next_cursor}`);
      expect(page2.body).toEqual({ sessions: glm.slice(1), next_cursor: null });
      expect((await list("?provider_id=nobody&limit=5")).body).toEqual({ sessions: [], next_cursor: null });
    });

    it("status filters: sessions never called nor closed are pending; active, closed and unknown values match none of them", async () => {
      expect(created.every((s) => s.status === "pending")).toBe(true);
      expect((await list("?status=pending")).body).toEqual({ sessions: created });
      expect((await list("?status=pending&provider_id=codex&limit=1000")).body).toEqual({
        sessions: created.filter((s) => s.provider_id === "codex"),
        next_cursor: null,
      });
      for (const status of ["active", "closed", "PENDING", "anything"]) {
        expect((await list(`?status=${status}`)).body).toEqual({ sessions: [] });
        expect((await list(`?status=${status}&limit=10`)).body).toEqual({ sessions: [], next_cursor: null });
      }
    });

    it("a filter holding NUL matches nothing (no 500 on PostgreSQL)", async () => {
      for (const query of ["?status=pending%00", "?provider_id=%00", "?provider_id=codex%00&limit=3"]) {
        const res = await list(query);
        expect(res.status).toBe(200);
        expect(res.body.sessions).toEqual([]);
      }
    });

    it("a filter or cursor whose percent-encoding is not UTF-8 (a lone surrogate) is a 422 naming it", async () => {
      for (const [query, name] of [
        ["?provider_id=codex%ED%A0%80&limit=3", "provider_id"],
        ["?status=%ED%A0%80", "status"],
        ["?cursor=%ED%A0%80", "cursor"],
        ["?limit=5&cursor=%ED%A0%80", "cursor"],
      ]) {
        const res = await list(query);
        expect(res.status).toBe(422);
        expect(res.body.detail.map((d: { loc: unknown[] }) => d.loc)).toEqual([["query", name]]);
      }
    });

    it.each([["0"], ["1001"], ["-1"], ["abc"], ["2.5"], [""], ["1e3"], ["99999999999999999999"]])(
      "limit=%s → 422 naming the limit",
      async (limit) => {
        const res = await list(`?limit=${limit}`);
        expect(res.status).toBe(422);
        expect(res.body.detail.map((d: { loc: unknown[] }) => d.loc)).toEqual([["query", "limit"]]);
      },
    );

    it("a bad limit is reported before a bad cursor (422 before 400)", async () => {
      expect((await list("?limit=0&cursor=%21")).status).toBe(422);
    });

    const badCursors: [string, string][] = [
      ["characters outside base64url", "abc$"],
      ["NUL", "%00"],
      ["NUL inside", `${cursorOf('{"seq":1}')}%00`],
      ["padding", `${cursorOf('{"seq":1}')}=`],
      ["longer than 512", "A".repeat(513)],
      ["not canonical base64url", "eyJzZXEiOjF9x"],
      ["not JSON", cursorOf("seq=1")],
      ["not UTF-8", Buffer.from([0xff, 0xfe, 0x7b]).toString("base64url")],
      ["a JSON array", cursorOf("[1]")],
      ["a JSON number", cursorOf("1")],
      ["null", cursorOf("null")],
      ["no seq", cursorOf('{"id":1}')],
      ["an extra key", cursorOf('{"seq":1,"ts":"2025-01-01"}')],
      ["a runs cursor", cursorOf('{"ts":"2025-03-07T21:45:12Z","id":3}')],
      ["seq as a string", cursorOf('{"seq":"1"}')],
      ["seq not an integer", cursorOf('{"seq":1.5}')],
      ["seq negative", cursorOf('{"seq":-1}')],
      ["seq beyond the column", cursorOf(`{"seq":${maxSeq + 1}}`)],
      ["seq beyond any integer column", cursorOf('{"seq":9223372036854775808}')],
      ["seq 1e400", cursorOf('{"seq":1e400}')],
      ["__proto__ as the key", cursorOf('{"__proto__":1}')],
    ];

    it.each(badCursors)("cursor with %s → 400 invalid cursor", async (_name, cursor) => {
      for (const query of [`?cursor=${cursor}`, `?limit=5&cursor=${cursor}`]) {
        const res = await list(query);
        expect(res.status).toBe(400);
        expect(res.body).toEqual({ detail: "invalid cursor" });
      }
    });

    it("the largest seq the column holds and seq 0 are valid positions", async () => {
      expect((await list(`?limit=5&cursor=${encodeSessionsCursor(maxSeq)}`)).body).toEqual({ sessions: [], next_cursor: null });
      expect((await list(`?limit=1000&cursor=${encodeSessionsCursor(0)}`)).body).toEqual({ sessions: created, next_cursor: null });
    });

    it("a cursor is a position: sessions created after the first page show up on the next, once", async () => {
      const first = await list("?limit=2");
      const late = await create("gemini", { client: "late" });
      expect(late.status).toBe(200);
      const rest = await list(`?limit=1000&cursor=${first.body.next_cursor}`);
      expect([...first.body.sessions, ...rest.body.sessions]).toEqual(created);
      expect(rest.body.sessions[rest.body.sessions.length - 1].client).toBe("late");
    });
  });
}
